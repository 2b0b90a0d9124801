/**
 * Node/V8 flags the server process runs with (`statelesx serve`). One list, used by the CLI's
 * shebang (src/cli/main.ts), `scripts/start`, the Dockerfile and the benchmark's server child;
 * test/unit/node-flags.test.ts checks that they agree.
 *
 * `--max-semi-space-size=2` (MiB): V8's young generation otherwise grows to 2 × 16 MiB, which is
 * ~30 MiB of the idle server's RSS and more under a boot storm; the server's short-lived
 * objects are small (file data lives in reused Buffers outside the V8 heap), so a small
 * nursery costs no measurable throughput (docs/benchmarks.md).
 */
export const SERVE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
