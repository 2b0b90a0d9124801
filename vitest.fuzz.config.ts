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
 *
 * `STATELESX_SANITIZE=1 npm run fuzz`: the native TFTP data plane is first built with
 * AddressSanitizer and UndefinedBehaviorSanitizer (scripts/build-native.mjs sanitize, into
 * build-sanitize/), and the test workers load that build (STATELESX_TFTP_ADDON) with the ASan
 * runtime preloaded (node itself is not instrumented; leak detection is off because V8 keeps
 * memory until exit). Any ASan or UBSan report aborts the worker and fails the run. The same
 * environment runs other native tests under the sanitizers, e.g.
 * `STATELESX_SANITIZE=1 FUZZ_RUNS=4000 npm run fuzz -- tftp` (the TFTP fuzz, tftp-native and tftp-protocol tests).
 */
import { execFileSync } from 'node:child_process';
import { defineConfig } from 'vitest/config';

process.env['FUZZ_RUNS'] ??= '1000000';

if (process.env['STATELESX_SANITIZE'] === '1' && !process.env['STATELESX_TFTP_ADDON']) {
  const out = execFileSync(process.execPath, ['scripts/build-native.mjs', 'sanitize'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const asan = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  process.env['STATELESX_TFTP_ADDON'] = out.trim().split('\n').pop();
  // Workers (forks) inherit this environment at their start: the preload must come first.
  process.env['LD_PRELOAD'] = [asan, process.env['LD_PRELOAD']].filter(Boolean).join(' ');
  process.env['ASAN_OPTIONS'] = 'detect_leaks=0:abort_on_error=1:halt_on_error=1';
  process.env['UBSAN_OPTIONS'] = 'print_stacktrace=1:halt_on_error=1';
}

export default defineConfig({
  test: {
    // Under the sanitizers the native data plane's own tests run too (name one to run only it).
    include: [
      'test/fuzz/**/*.test.ts',
      ...(process.env['STATELESX_SANITIZE'] === '1'
        ? ['test/integration/tftp-native.test.ts', 'test/integration/tftp-protocol.test.ts']
        : []),
    ],
    testTimeout: 3_600_000,
    setupFiles: process.env['STATELESX_SANITIZE'] === '1' ? ['test/helpers/sanitize-setup.ts'] : [],
    hookTimeout: 120_000,
    pool: 'forks',
    // One worker: the machine is shared; the run is bounded by FUZZ_RUNS and the per-test timeout.
    maxWorkers: 1,
    reporters: ['default'],
  },
});
