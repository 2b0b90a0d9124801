/**
 * Shared pieces of the fuzz tests: run counts (short in `npm test`, `FUZZ_RUNS` in `npm run fuzz`),
 * the seed corpus from the real PXE captures, a byte-level mutator (as a fast-check arbitrary for
 * the structured properties, and as a seeded-PRNG generator for the high-volume floods), a
 * per-input time bound, a heap probe (forced GC) and a memory-trend recorder (RSS, heap,
 * external + ArrayBuffer memory).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';

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
  const out = readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .map((f) => readFileSync(join(dir, f)));
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

const INTERESTING = [
  0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff,
];

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ k: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ k: fc.constant('set' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    k: fc.constant('interesting' as const),
    at: fc.nat(),
    width: fc.constantFrom(1 as const, 2 as const, 4 as const),
    v: fc.constantFrom(...INTERESTING),
  }),
  fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ k: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ k: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
  fc.record({
    k: fc.constant('dup' as const),
    at: fc.nat(),
    n: fc.integer({ min: 1, max: 32 }),
    times: fc.integer({ min: 1, max: 64 }),
  }),
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

/**
 * sfc32, a small fast seeded PRNG (32-bit state words; period ≥ 2^32): the flood generators use it
 * instead of fast-check so that a million packets cost only the mutation itself (no shrink trees).
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;
  constructor(readonly seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }

  /** Next uniformly distributed unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Integer in [0, n) (n ≥ 1). */
  below(n: number): number {
    return this.u32() % n;
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

/** One havoc edit drawn from `r`, with the same shape and ranges as the fast-check `editArb`. */
function randomEdit(r: Prng): Edit {
  const at = r.u32() >>> 1;
  switch (r.below(8)) {
    case 0:
      return { k: 'flip', at, bit: r.below(8) };
    case 1:
      return { k: 'set', at, v: r.below(256) };
    case 2:
      return {
        k: 'interesting',
        at,
        width: ([1, 2, 4] as const)[r.below(3)]!,
        v: INTERESTING[r.below(INTERESTING.length)]!,
      };
    case 3:
      return { k: 'truncate', at };
    case 4:
      return { k: 'insert', at, bytes: r.bytes(1 + r.below(64)) };
    case 5:
      return { k: 'delete', at, n: 1 + r.below(64) };
    case 6:
      return { k: 'dup', at, n: 1 + r.below(32), times: 1 + r.below(64) };
    default:
      return { k: 'splice', at, other: r.u32() >>> 1, from: r.u32() >>> 1 };
  }
}

/**
 * A generator of flood packets from a seeded PRNG, with the mix of {@link packets}: 6/9 seeds
 * mutated by 1–8 havoc edits, 2/9 plain random bytes (up to 1600), 1/9 untouched seeds.
 * The same `seed` gives the same sequence (replay with `FUZZ_SEED`).
 * @param maxLength results are cut to this many bytes (the protocol's datagram bound)
 */
export function floodPackets(seeds: readonly Buffer[], seed: number, maxLength = 65507): () => Buffer {
  const r = new Prng(seed);
  return () => {
    const pick = r.below(9);
    if (pick === 8) return seeds[r.below(seeds.length)]!;
    if (pick >= 6) return r.bytes(r.below(Math.min(maxLength, 1600) + 1));
    let b: Buffer = Buffer.from(seeds[r.below(seeds.length)]!);
    for (let n = 1 + r.below(8); n > 0; n--) b = applyEdit(b, randomEdit(r), seeds);
    return b.length > maxLength ? b.subarray(0, maxLength) : b;
  };
}

/** The flood seed: `FUZZ_SEED` when set (replay), else a fresh random one (printed by the test). */
export function floodSeed(): number {
  const s = process.env['FUZZ_SEED'];
  return s ? Number(s) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
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

/** One memory sample (bytes, after a full GC), taken after `at` datagrams. */
export interface MemorySample {
  at: number;
  rss: number;
  heapUsed: number;
  /** `external` of process.memoryUsage(): C++ objects bound to JS, Buffers and ArrayBuffers included. */
  external: number;
  /** The ArrayBuffer/Buffer part of `external` (TFTP rings, DHCP encode buffers, datagrams). */
  arrayBuffers: number;
  /** Test-specific figures taken with the sample (e.g. bytes idle in the TFTP ring pool). */
  extra: Record<string, number>;
}

const MiB = 1024 * 1024;
const mib = (n: number): string => (n / MiB).toFixed(1);

/**
 * Records memory across a long run and checks that it does not trend upwards after warm-up:
 * the samples after the first `warmup` fraction are split into quarters and, for RSS, heapUsed and
 * external (which includes arrayBuffers), the last quarter's maximum must not exceed the first
 * quarter's maximum by more than the bound. Comparing maxima of whole quarters (not two points)
 * absorbs GC and allocator noise; a leak of even a few hundred bytes per datagram over a million
 * datagrams shows as a growth of hundreds of MiB and fails.
 */
export class MemoryTrend {
  readonly samples: MemorySample[] = [];

  /** Takes one sample (forces a full GC first); `extra` figures are read after the GC. */
  sample(at: number, extra: () => Record<string, number> = () => ({})): MemorySample {
    gc();
    const m = process.memoryUsage();
    const s = {
      at,
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      extra: extra(),
    };
    this.samples.push(s);
    return s;
  }

  /** Samples after warm-up, in quarters (needs ≥ 4 of them). */
  private quarters(warmup: number): MemorySample[][] {
    const rest = this.samples.slice(Math.floor(this.samples.length * warmup));
    if (rest.length < 4)
      throw new Error(`memory trend needs ≥ 4 samples after warm-up, got ${rest.length} of ${this.samples.length}`);
    const q = rest.length / 4;
    return [0, 1, 2, 3].map((i) => rest.slice(Math.round(i * q), Math.round((i + 1) * q)));
  }

  /**
   * Growth of the last quarter's max over the first quarter's max, per measure, in bytes
   * (negative when it shrank).
   */
  growth(warmup = 0.1): { rss: number; heapUsed: number; external: number } {
    return {
      rss: this.growthOf((x) => x.rss, warmup),
      heapUsed: this.growthOf((x) => x.heapUsed, warmup),
      external: this.growthOf((x) => x.external, warmup),
    };
  }

  /** Same as {@link growth} for any figure of the samples (bytes). */
  growthOf(f: (s: MemorySample) => number, warmup = 0.1): number {
    const qs = this.quarters(warmup);
    const max = (xs: MemorySample[]) => Math.max(...xs.map(f));
    return max(qs[3]!) - max(qs[0]!);
  }

  /** One line for the log and the docs: first/peak/last RSS, heap, external, arrayBuffers (MiB) and the growth. */
  summary(warmup = 0.1): string {
    const f = this.samples[0]!;
    const l = this.samples.at(-1)!;
    const peak = (k: 'rss' | 'arrayBuffers'): number => Math.max(...this.samples.map((x) => x[k]));
    const g = this.growth(warmup);
    const qmax = (k: 'rss' | 'external'): string =>
      this.quarters(warmup)
        .map((q) => mib(Math.max(...q.map((x) => x[k]))))
        .join('/');
    return (
      `memory (MiB, after GC, ${this.samples.length} samples): rss ${mib(f.rss)} → ${mib(l.rss)} (peak ${mib(peak('rss'))}, ` +
      `quarter maxima after warm-up ${qmax('rss')}), ` +
      `heapUsed ${mib(f.heapUsed)} → ${mib(l.heapUsed)}, external ${mib(f.external)} → ${mib(l.external)} ` +
      `(quarter maxima ${qmax('external')}), arrayBuffers ${mib(f.arrayBuffers)} → ${mib(l.arrayBuffers)} (peak ${mib(peak('arrayBuffers'))}); ` +
      `last-vs-first-quarter max growth: rss ${mib(g.rss)}, heapUsed ${mib(g.heapUsed)}, external ${mib(g.external)}`
    );
  }
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
export { counterValue } from '../helpers/metrics.js';
