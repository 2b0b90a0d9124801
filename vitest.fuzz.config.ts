/**
 * The long fuzz run (`npm run fuzz`): the same property tests as `test/fuzz/*.test.ts` in `npm test`,
 * with `FUZZ_RUNS` inputs per decoder property (default 1,000,000; live-server and parser
 * properties divide it by their own scale) and generous but finite timeouts.
 * Replay a failure with `FUZZ_SEED=<seed> FUZZ_RUNS=<n> npm run fuzz -- test/fuzz/<file>`.
 */
import { defineConfig } from 'vitest/config';

process.env['FUZZ_RUNS'] ??= '1000000';

export default defineConfig({
  test: {
    include: ['test/fuzz/**/*.test.ts'],
    testTimeout: 3_600_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One worker: the machine is shared; the run is bounded by FUZZ_RUNS and the per-test timeout.
    maxWorkers: 1,
    reporters: ['default'],
  },
});
