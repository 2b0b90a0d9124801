/**
 * Gives the memory that glibc's malloc holds free back to the kernel (issue 20, idle RSS).
 *
 * Node never calls malloc_trim(3). What start-up freed (V8's compiler zones on its worker threads,
 * the XSD validator's worker, parsed cluster files) stays in the malloc arenas of the threads that
 * freed it and counts in the process's RSS until those threads allocate again; an idle server holds
 * ~7 MiB so (docs/benchmarks.md, idle section). The service calls malloc_trim(0) through a small
 * Node-API addon (./native/trim.c, built by scripts/build-native.mjs into
 * build/Release/malloc_trim.node) once shortly after start and then on a fixed interval; a call
 * takes well under a millisecond on an idle server and only releases pages no allocation uses.
 * Without the addon (not built, not Linux, not glibc) the service does nothing and says so once.
 */
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import type { Service } from '../net/service.js';

/** The addon: `trim()` runs malloc_trim(0); true when it released memory. */
export interface MallocTrim {
  trim(): boolean;
}

let cached: { trim: MallocTrim } | { error: string } | undefined;

/**
 * The addon, or why it cannot be used; loaded once. STATELESX_MALLOC_TRIM_ADDON names another
 * build (the test of the fallback sets it to a missing file; then it is not cached).
 */
export function loadMallocTrim(): { trim: MallocTrim } | { error: string } {
  const override = process.env['STATELESX_MALLOC_TRIM_ADDON'];
  if (cached && !override) return cached;
  // Same depth from src/memory (tests) and dist/memory (built): the package root is two up.
  const path = override ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../build/Release/malloc_trim.node');
  let result: { trim: MallocTrim } | { error: string };
  if (process.platform !== 'linux')
    result = { error: `malloc_trim is for Linux with glibc (this is ${process.platform})` };
  else {
    try {
      const addon = createRequire(import.meta.url)(path) as MallocTrim;
      result = { trim: { trim: () => addon.trim() } };
    } catch (e) {
      result = { error: `cannot load ${path} (run npm install or npm run build:native): ${(e as Error).message}` };
    }
  }
  if (!override) cached = result;
  return result;
}

/** Options of {@link createMallocTrimService}. */
export interface MallocTrimOptions {
  /** First trim this long after start, ms (default 1000: start-up's garbage is freed by then). */
  firstDelayMs?: number;
  /** Then every `intervalMs`, ms (default 30000). */
  intervalMs?: number;
}

/**
 * The service `malloc-trim`: trims after start and every `intervalMs` on unref'd timers (never
 * keeps the process alive). Each trim is logged at debug level with its duration.
 */
export function createMallocTrimService(log: Logger, opts: MallocTrimOptions = {}): Service {
  const mlog = log.child({ subsystem: 'memory' });
  const first = opts.firstDelayMs ?? 1000;
  const every = opts.intervalMs ?? 30_000;
  const timers: NodeJS.Timeout[] = [];
  return {
    name: 'malloc-trim',
    // eslint-disable-next-line @typescript-eslint/require-await -- Service.start is async; trims run on timers
    async start() {
      const loaded = loadMallocTrim();
      if ('error' in loaded) {
        mlog.info({ reason: loaded.error }, 'freed memory is not given back to the kernel between requests');
        return;
      }
      const run = () => {
        const t0 = performance.now();
        const released = loaded.trim.trim();
        mlog.debug({ released, ms: Math.round((performance.now() - t0) * 100) / 100 }, 'malloc_trim');
      };
      timers.push(setTimeout(run, first).unref(), setInterval(run, every).unref());
    },
    // eslint-disable-next-line @typescript-eslint/require-await -- Service.close is async
    async close() {
      for (const t of timers.splice(0)) clearTimeout(t);
    },
  };
}
