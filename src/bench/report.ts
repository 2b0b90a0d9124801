/**
 * Benchmark reporting: the small statistics every benchmark uses (percentiles, MB/s, ratios),
 * the table model printed on the console, the machine description, and the writer of
 * `docs/benchmarks.md`.
 *
 * `docs/benchmarks.md` is made of one section per benchmark between the markers
 * `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`. A run rewrites the header (date, machine,
 * command) and the sections it ran; sections of benchmarks it did not run (`--only`) are kept
 * as they were, with their own date line, so a partial run never erases earlier figures.
 */
import { cpus, totalmem, release, platform, arch } from 'node:os';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** One table: a title, column headings, rows of cells, and notes printed under it. */
export interface BenchTable {
  title: string;
  columns: string[];
  rows: Array<Array<string | number>>;
  /** Free text under the table: what was measured, targets met or missed, caveats. */
  notes: string[];
}

/** The outcome of one benchmark module in one run. */
export interface BenchSection {
  /** Short name used by `--only` and in the markers (`tftp`, `http`, `storm`, …). */
  name: string;
  /** `ok`: ran; `failed`: threw (message says why); `skipped`: not runnable here (message says why). */
  status: 'ok' | 'failed' | 'skipped';
  tables: BenchTable[];
  message?: string;
  /** Wall time of the module, ms. */
  wallMs: number;
}

/** The machine a run was made on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
}

/** The machine description from `os.cpus()`, `os.totalmem()`, `os.release()` and `process.version`. */
export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown CPU',
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${platform()} ${release()} ${arch()}`,
    node: process.version,
  };
}

/**
 * The p-th percentile (0 ≤ p ≤ 100) of `values` by the nearest-rank method
 * (the smallest value with at least p % of the values ≤ it). NaN for an empty list.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  if (p < 0 || p > 100) throw new RangeError(`percentile ${p} is outside 0..100`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** Count, min, p50, p99, max and mean of a list of latencies (same unit as the input). */
export interface Summary {
  count: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Summarises `values` (NaN fields when empty). */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { count: 0, min: NaN, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return {
    count: values.length,
    min,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max,
    mean: sum / values.length,
  };
}

/** Throughput in MB/s (10^6 bytes per second) for `bytes` moved in `ms` milliseconds. */
export function mbPerSecond(bytes: number, ms: number): number {
  return ms > 0 ? bytes / 1e6 / (ms / 1000) : NaN;
}

/** `ours / peer`, NaN when either is not a positive finite number. */
export function ratio(ours: number, peer: number): number {
  return Number.isFinite(ours) && Number.isFinite(peer) && peer > 0 ? ours / peer : NaN;
}

/** A number for a table cell: `digits` decimals, `–` for NaN/undefined. */
export function fmt(v: number | undefined, digits = 1): string {
  return v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

/** A ratio for a table cell, e.g. `0.83x`. */
export function fmtRatio(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}x` : '–';
}

/** Escapes a cell for a Markdown table (pipes and line breaks). */
function cell(v: string | number): string {
  return String(v).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** A table as GitHub-flavoured Markdown (title as a `###` heading, notes as a list under it). */
export function formatTable(t: BenchTable): string {
  const lines = [`### ${t.title}`, ''];
  if (t.columns.length) {
    lines.push(`| ${t.columns.map(cell).join(' | ')} |`);
    lines.push(`|${t.columns.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
    for (const r of t.rows) lines.push(`| ${t.columns.map((_, i) => cell(r[i] ?? '')).join(' | ')} |`);
    lines.push('');
  }
  for (const n of t.notes) lines.push(`- ${n}`);
  if (t.notes.length) lines.push('');
  return lines.join('\n');
}

/** A section's Markdown body (without markers). */
export function formatSection(s: BenchSection, date: string): string {
  const head = `## ${s.name}\n\n_Run ${date}, ${(s.wallMs / 1000).toFixed(0)} s, status **${s.status}**${s.message ? `: ${s.message.replace(/\r?\n/g, ' ')}` : ''}._\n`;
  return [head, ...s.tables.map(formatTable)].join('\n');
}

/** The sections of an existing `docs/benchmarks.md`, by name (marker contents, trimmed). */
export function parseSections(doc: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /<!-- bench:([\w-]+) -->\n([\s\S]*?)<!-- \/bench:\1 -->/g;
  for (let m = re.exec(doc); m; m = re.exec(doc)) out.set(m[1]!, m[2]!.trim());
  return out;
}

/** What goes at the top of the document. */
export interface DocHeader {
  date: string;
  machine: MachineInfo;
  command: string;
  /** Benchmark order in the document (sections not in this list follow, in their old order). */
  order: string[];
  /** Paragraphs after the machine line (method, caveats). */
  preface: string[];
}

/**
 * Renders the whole document: header, then one marked section per benchmark — `fresh` ones
 * from this run, the rest copied from `previous` (the old document's text, may be empty).
 */
export function renderBenchmarksDoc(header: DocHeader, fresh: BenchSection[], previous: string): string {
  const old = parseSections(previous);
  const bodies = new Map<string, string>(old);
  for (const s of fresh) bodies.set(s.name, formatSection(s, header.date).trim());
  const names = [
    ...header.order.filter((n) => bodies.has(n)),
    ...[...bodies.keys()].filter((n) => !header.order.includes(n)),
  ];
  const m = header.machine;
  const lines = [
    '# Benchmarks',
    '',
    '<!-- Written by `npm run bench` (src/bench/main.ts); sections are replaced by the runs that measure them. -->',
    '',
    `Last run: ${header.date} — \`${header.command}\``,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.kernel}, Node.js ${m.node}.`,
    '',
    ...header.preface.flatMap((p) => [p, '']),
  ];
  for (const n of names) lines.push(`<!-- bench:${n} -->`, bodies.get(n)!, `<!-- /bench:${n} -->`, '');
  return lines.join('\n');
}

/**
 * Writes `path` (creating its directory): {@link renderBenchmarksDoc} over the file's current text.
 * @throws Error from the file system (unwritable path).
 */
export function writeBenchmarksDoc(path: string, header: DocHeader, fresh: BenchSection[]): void {
  const previous = existsSync(path) ? readFileSync(path, 'utf8') : '';
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, renderBenchmarksDoc(header, fresh, previous));
}

/**
 * Turns any result object into a two-column table (dotted keys → values), for benchmark modules
 * whose result shape main.ts has no dedicated table for. Arrays of objects become one row per
 * element with their index in the key. Depth is bounded (4) and long values are cut at 200 chars.
 */
export function genericTable(title: string, result: unknown, notes: string[] = []): BenchTable {
  const rows: Array<[string, string]> = [];
  const walk = (v: unknown, key: string, depth: number): void => {
    if (rows.length >= 200) return;
    if (v !== null && typeof v === 'object' && depth < 4) {
      const entries = Array.isArray(v)
        ? v.map((x, i) => [String(i), x] as const)
        : Object.entries(v as Record<string, unknown>);
      for (const [k, x] of entries) walk(x, key ? `${key}.${k}` : k, depth + 1);
      return;
    }
    const s =
      typeof v === 'number'
        ? Number.isInteger(v)
          ? String(v)
          : v.toFixed(3)
        : typeof v === 'string'
          ? v
          : (JSON.stringify(v) ?? String(v));
    rows.push([key || '(value)', s.length > 200 ? `${s.slice(0, 197)}...` : s]);
  };
  walk(result, '', 0);
  return { title, columns: ['field', 'value'], rows, notes };
}
