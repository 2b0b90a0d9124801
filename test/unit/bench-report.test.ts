import { describe, expect, it } from 'vitest';
import {
  fmtRatio,
  formatTable,
  genericTable,
  mbPerSecond,
  parseSections,
  percentile,
  ratio,
  renderBenchmarksDoc,
  summarize,
  type BenchSection,
  type DocHeader,
} from '../../src/bench/report.js';
import { parseBenchArgs } from '../../src/bench/main.js';

describe('bench statistics', () => {
  it('percentile uses the nearest rank', () => {
    const v = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile(v, 100)).toBe(100);
    expect(percentile(v, 0)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('summarize gives count, extremes, mean and percentiles', () => {
    expect(summarize([4, 1, 3, 2])).toEqual({ count: 4, min: 1, p50: 2, p99: 4, max: 4, mean: 2.5 });
    expect(summarize([]).count).toBe(0);
  });

  it('MB/s and ratios refuse meaningless inputs', () => {
    expect(mbPerSecond(400e6, 2000)).toBe(200);
    expect(mbPerSecond(1, 0)).toBeNaN();
    expect(ratio(50, 100)).toBe(0.5);
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(NaN, 1)).toBeNaN();
    expect(fmtRatio(0.5)).toBe('0.50x');
    expect(fmtRatio(NaN)).toBe('–');
  });
});

describe('bench tables and docs/benchmarks.md', () => {
  const section = (name: string, value: number): BenchSection => ({
    name,
    status: 'ok',
    wallMs: 1000,
    tables: [{ title: `${name} table`, columns: ['server', 'MB/s'], rows: [['a|b', value]], notes: ['note one'] }],
  });
  const header = (date: string): DocHeader => ({
    date,
    command: 'npm run bench',
    order: ['tftp', 'http', 'storm'],
    preface: ['Preface.'],
    machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 4, kernel: 'linux 6 x64', node: 'v20.0.0' },
  });

  it('formats a Markdown table with escaped pipes and notes', () => {
    const md = formatTable(section('http', 12.5).tables[0]!);
    expect(md).toContain('### http table');
    expect(md).toContain('| server | MB/s |');
    expect(md).toContain('| a\\|b | 12.5 |');
    expect(md).toContain('- note one');
  });

  it('a partial run replaces only its own sections and keeps the others', () => {
    const first = renderBenchmarksDoc(header('2026-01-01T00:00:00Z'), [section('http', 1), section('storm', 2)], '');
    expect(first).toContain('Machine: Test CPU, 2 cores, 4 GiB RAM');
    expect([...parseSections(first).keys()]).toEqual(['http', 'storm']);
    const second = renderBenchmarksDoc(header('2026-02-02T00:00:00Z'), [section('http', 3), section('tftp', 4)], first);
    const s = parseSections(second);
    expect([...s.keys()]).toEqual(['tftp', 'http', 'storm']);
    expect(s.get('http')).toContain('| a\\|b | 3 |');
    expect(s.get('http')).not.toContain('| a\\|b | 1 |');
    expect(s.get('storm')).toContain('2026-01-01T00:00:00Z');
    expect(second).toContain('Last run: 2026-02-02T00:00:00Z');
  });

  it('generic tables flatten nested results', () => {
    const t = genericTable('x', { a: 1, b: { c: 'd', e: [1.23456, 2] } });
    expect(t.rows).toEqual([
      ['a', '1'],
      ['b.c', 'd'],
      ['b.e.0', '1.235'],
      ['b.e.1', '2'],
    ]);
  });
});

describe('bench arguments', () => {
  const known = ['tftp', 'http', 'storm'];
  it('parses --only, --quick and --no-doc', () => {
    const a = parseBenchArgs(['--only', 'http,storm', '--quick', '--no-doc'], known);
    expect(a).toMatchObject({ only: ['http', 'storm'], quick: true, doc: null });
    expect(parseBenchArgs(['--only=tftp'], known).only).toEqual(['tftp']);
  });
  it('names an unknown benchmark or flag', () => {
    expect(() => parseBenchArgs(['--only', 'htp'], known)).toThrow(/unknown benchmark htp/);
    expect(() => parseBenchArgs(['--fast'], known)).toThrow(/unknown argument --fast/);
    expect(() => parseBenchArgs(['--only'], known)).toThrow(/needs a value/);
  });
});
