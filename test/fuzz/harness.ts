/**
 * Shared pieces of the fuzz tests: run counts (short in `npm test`, `FUZZ_RUNS` in `npm run fuzz`),
 * the seed corpus from the real PXE captures, a byte-level mutator as a fast-check arbitrary,
 * a per-input time bound and a heap probe (forced GC).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { metricsRegistry } from '../../src/metrics.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/fuzz');

/**
 * How many inputs a property gets: `FUZZ_RUNS` when set (the long run), else `short`.
 * `scale` divides the long count for slow properties (live servers, XML), never below `short`.
 */
export function runs(short: number, scale = 1): number {
  const env = Number(process.env['FUZZ_RUNS'] ?? '');
  if (!Number.isFinite(env) || env <= 0) return short;
  return Math.max(short, Math.floor(env / scale));
}

/** True under `npm run fuzz` (FUZZ_RUNS set). */
export const LONG_RUN = Number(process.env['FUZZ_RUNS'] ?? 0) > 0;

/** fast-check seed: `FUZZ_SEED` to replay a reported failure, else fast-check's own. */
export function seedParams(): { seed?: number } {
  const s = process.env['FUZZ_SEED'];
  return s ? { seed: Number(s) } : {};
}

/** The seed corpus of one protocol (`dhcp` or `tftp`): UDP payloads from the real captures. */
export function corpus(kind: 'dhcp' | 'tftp'): Buffer[] {
  const dir = join(FIXTURES, kind);
  const out = readdirSync(dir).filter((f) => f.endsWith('.bin')).sort().map((f) => readFileSync(join(dir, f)));
  if (out.length === 0) throw new Error(`no seed corpus in ${dir}: run npx tsx test/fuzz/extract-corpus.ts`);
  return out;
}

/** One byte-level edit (AFL-style havoc step). */
type Edit =
  | { k: 'flip'; at: number; bit: number }
  | { k: 'set'; at: number; v: number }
  | { k: 'interesting'; at: number; width: 1 | 2 | 4; v: number }
  | { k: 'truncate'; at: number }
  | { k: 'insert'; at: number; bytes: Uint8Array }
  | { k: 'delete'; at: number; n: number }
  | { k: 'dup'; at: number; n: number; times: number }
  | { k: 'splice'; at: number; other: number; from: number };

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ k: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ k: fc.constant('set' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ k: fc.constant('interesting' as const), at: fc.nat(), width: fc.constantFrom(1 as const, 2 as const, 4 as const), v: fc.constantFrom(...INTERESTING) }),
  fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ k: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ k: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ k: fc.constant('dup' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 32 }), times: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ k: fc.constant('splice' as const), at: fc.nat(), other: fc.nat(), from: fc.nat() }),
);

function applyEdit(buf: Buffer, e: Edit, seeds: readonly Buffer[]): Buffer {
  const len = buf.length;
  const at = len === 0 ? 0 : e.at % (len + 1);
  switch (e.k) {
    case 'flip':
      if (len === 0) return buf;
      buf[at % len]! ^= 1 << e.bit;
      return buf;
    case 'set':
      if (len === 0) return buf;
      buf[at % len] = e.v;
      return buf;
    case 'interesting': {
      if (len < e.width) return buf;
      const p = Math.min(at, len - e.width);
      if (e.width === 1) buf[p] = e.v & 0xff;
      else if (e.width === 2) buf.writeUInt16BE(e.v & 0xffff, p);
      else buf.writeUInt32BE(e.v >>> 0, p);
      return buf;
    }
    case 'truncate':
      return buf.subarray(0, at);
    case 'insert':
      return Buffer.concat([buf.subarray(0, at), e.bytes, buf.subarray(at)]);
    case 'delete':
      return Buffer.concat([buf.subarray(0, at), buf.subarray(Math.min(len, at + e.n))]);
    case 'dup': {
      const piece = buf.subarray(at, Math.min(len, at + e.n));
      return Buffer.concat([buf.subarray(0, at), ...Array<Buffer>(e.times).fill(piece), buf.subarray(at)]);
    }
    case 'splice': {
      const o = seeds[e.other % seeds.length]!;
      const from = o.length === 0 ? 0 : e.from % o.length;
      return Buffer.concat([buf.subarray(0, at), o.subarray(from)]);
    }
  }
}

/**
 * Packets made by mutating the seeds with 1–8 havoc edits (bit flips, interesting integers,
 * truncation, insertion, deletion, duplication, splicing with another seed).
 * @param maxLength results are cut to this many bytes (the protocol's datagram bound)
 */
export function mutated(seeds: readonly Buffer[], maxLength = 65507): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(editArb, { minLength: 1, maxLength: 8 }))
    .map(([i, edits]) => {
      let b: Buffer = Buffer.from(seeds[i]!);
      for (const e of edits) b = applyEdit(b, e, seeds);
      return b.length > maxLength ? b.subarray(0, maxLength) : b;
    });
}

/** Mutated seeds, plain random bytes, and the untouched seeds, in one arbitrary. */
export function packets(seeds: readonly Buffer[], maxLength = 65507): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 6, arbitrary: mutated(seeds, maxLength) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: Math.min(maxLength, 1600) }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.constantFrom(...seeds) },
  );
}

let gcFn: (() => void) | undefined;
/** A full GC (enables `--expose-gc` at run time when the process was not started with it). */
export function gc(): void {
  if (!gcFn) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g) gcFn = g;
    else {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  gcFn();
  gcFn();
}

/** heapUsed in bytes after a full GC. */
export function heapAfterGc(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/** Open file descriptors of this process (Linux /proc). */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * Runs `fn` and fails when it has not settled within `ms` (a hang in the code under test).
 * The timer is cleared either way.
 */
export async function within<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, rej) => {
        t = setTimeout(() => rej(new Error(`${what} did not finish within ${ms} ms (hang)`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/**
 * Synchronous time bound for pure functions: throws when one call took longer than `ms`.
 * (A guard against pathological inputs, e.g. quadratic parsing; generous so it cannot flake.)
 */
export function boundedSync<T>(ms: number, what: string, fn: () => T): T {
  const t0 = performance.now();
  const r = fn();
  const dt = performance.now() - t0;
  if (dt > ms) throw new Error(`${what} took ${Math.round(dt)} ms for one input (bound ${ms} ms)`);
  return r;
}

/** Sum of a prom-client metric (e.g. `statelesx_tftp_transfers_started_total`) over its labels, 0 when absent. */
export async function counterValue(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metricsRegistry.getSingleMetric(name);
  if (!m) return 0;
  return (await m.get()).values
    .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))
    .reduce((a, v) => a + v.value, 0);
}
