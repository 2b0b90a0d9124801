/**
 * The long fuzz run (`npm run fuzz`): the same tests as `test/fuzz/*.test.ts` in `npm test`, with
 * - `FUZZ_RUNS` inputs per decoder property (default 1,000,000; parser and structured live-server
 *   properties divide it by their own scale);
 * - a flood of `FUZZ_RUNS` datagrams *received* by each live server loop (TFTP listening socket,
 *   DHCP server sockets), counted on the server's own sockets, from a seeded PRNG over the capture
 *   corpus (test/fixtures/fuzz) plus random datagrams.
 * Bounded in time: every test has a finite timeout (30 min for the live-server tests, 60 min
 * otherwise), so the run always ends; on the shared 2-core machine the whole run takes the
 * duration recorded in SECURITY.md (testing section), the two floods about a minute each.
 * Replay a failure with `FUZZ_SEED=<seed> FUZZ_RUNS=<n> npm run fuzz -- test/fuzz/<file>` (the
 * floods print their seed).
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
