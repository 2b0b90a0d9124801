import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Network-namespace and QEMU tests share fixed namespace names per file; files run in parallel
    // across 2 workers (the machine has 2 cores).
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
