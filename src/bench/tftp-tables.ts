/**
 * The printable tables of the TFTP benchmark (./tftp.ts): throughput and CPU per GB by client and
 * server, the slow-client busy-poll target, and the concurrent run.
 */
import type { BenchTable } from './report.js';
import type { TftpBenchResult, TftpBenchRow } from './tftp.js';

/** Builds the printable tables from a result. */
export function tftpTables(r: {
  sizeBytes: number;
  rows: TftpBenchRow[];
  rss: { idle: number; peak: number };
  concurrent?: TftpBenchResult['concurrent'];
  netns?: boolean;
}): BenchTable[] {
  const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '—');
  const x2 = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '—');
  const ourLock = r.rows.find((x) => x.server === 'statelesx' && x.client.startsWith('curl blksize 1468'));
  const ourWin = r.rows.find((x) => x.server === 'statelesx' && x.client.startsWith('atftp'));
  const winRatio = ourLock?.ok && ourWin?.ok ? ourWin.mbps / ourLock.mbps : NaN;
  const offLock = r.rows.find(
    (x) => x.server === 'statelesx busy-poll off' && x.client.startsWith('curl blksize 1468'),
  );
  const winRatioOff = offLock?.ok && ourWin?.ok ? ourWin.mbps / offLock.mbps : NaN;
  const rounds = Math.max(1, ...r.rows.map((x) => x.rounds));
  const notes = [
    `${(r.sizeBytes / 1e6).toFixed(0)} MB random file, 127.0.0.1${r.netns ? ' (inside a private network namespace, so dnsmasq can use port 69)' : ''}, SHA-256 checked; best of ${rounds} alternating round(s), the slowest round in "worst".`,
    `Targets: ≥ 1.0x tftp-hpa at 1468 lock-step (${f(ourLock?.ratioToHpa ?? NaN, 2)}x; busy-poll off ${f(offLock?.ratioToHpa ?? NaN, 2)}x); windowsize 16 ≥ 5x our lock-step (${f(winRatio, 2)}x; ${f(winRatioOff, 2)}x against busy-poll off — atftp's own speed bounds windowsize on loopback, so the faster our lock-step, the smaller this ratio).`,
    '"statelesx busy-poll off" is our server with `tftp.busy-poll-us: 0` (the thread sleeps in recvfrom like the others); busy-poll engages only while fewer transfers run than CPUs.',
    "CPU s/GB: the server's user + system CPU (all threads, and the per-transfer children tftp-hpa forks, sampled every 20 ms from /proc/<pid>/stat in 10 ms ticks: a child's last 20 ms can be missed) per 10^9 bytes served, median of the rounds; clients and servers share the cores.",
    slowNote(r.rows),
    `Our server RSS: ${f(r.rss.idle / 2 ** 20)} MiB idle, ${f(r.rss.peak / 2 ** 20)} MiB peak (VmHWM) while serving — no whole-file buffering.`,
    'tftp-hpa and dnsmasq do not implement windowsize (RFC 7440): atftp falls back to lock-step with them.',
  ];
  for (const x of r.rows)
    if (x.note) notes.push(`${x.server} / ${x.client}: ${x.failed} of ${x.rounds} round(s) failed (${x.note})`);
  const tables: BenchTable[] = [
    {
      title: 'TFTP throughput (MB/s, ratio to tftp-hpa)',
      columns: ['client', 'server', 'MB/s', 'worst MB/s', 'vs tftp-hpa', 'CPU s/GB', 'CPU vs tftp-hpa'],
      rows: r.rows.map((x) => [
        x.client,
        x.server,
        f(x.mbps),
        f(x.minMbps),
        x2(x.ratioToHpa),
        f(x.cpuPerGb, 2),
        x2(x.cpuVsHpa),
      ]),
      notes,
    },
  ];
  if (r.concurrent && r.concurrent.rows.length > 0) tables.push(concurrentTable(r.concurrent));
  return tables;
}

/** The busy-poll target of issue 20: with a slow client, no more CPU per GB than tftp-hpa. */
function slowNote(rows: TftpBenchRow[]): string {
  const slow = rows.filter((x) => x.client.startsWith('slow client'));
  const hpa = slow.find((x) => x.server === 'tftp-hpa');
  const ours = slow.find((x) => x.server === 'statelesx');
  const off = slow.find((x) => x.server === 'statelesx busy-poll off');
  if (!hpa?.ok || !ours?.ok) return 'Slow client: not measured.';
  const met = ours.cpuPerGb <= hpa.cpuPerGb ? 'met' : 'MISSED';
  return `Slow client (a small UDP client in the bench, src/bench/tftp-slow-client.ts, that sleeps before each ACK; one round on a smaller file): busy-poll must not cost more CPU per GB than tftp-hpa — ${met} (${ours.cpuPerGb.toFixed(2)} vs ${hpa.cpuPerGb.toFixed(2)} s/GB; busy-poll off ${off?.ok ? off.cpuPerGb.toFixed(2) : '—'}).`;
}

/** Prints a table on stdout (the benchmark's live output). */
export function printTable(t: BenchTable): void {
  const widths = t.columns.map((c, i) => Math.max(c.length, ...t.rows.map((r) => String(r[i]).length)));
  const line = (cells: Array<string | number>) => cells.map((c, i) => String(c).padEnd(widths[i]!)).join('  ');
  process.stdout.write(`\n${t.title}\n${line(t.columns)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const r of t.rows) process.stdout.write(line(r) + '\n');
  for (const n of t.notes) process.stdout.write(`  ${n}\n`);
}

/** The concurrent-run table. */
function concurrentTable(c: TftpBenchResult['concurrent']): BenchTable {
  const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '—');
  const x2 = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '—');
  const ours = c.rows.find((x) => x.server === 'statelesx');
  const met = ours && Number.isFinite(ours.timeVsHpa) ? (ours.timeVsHpa <= 1 ? 'met' : 'MISSED') : 'not measured';
  return {
    title: `TFTP: ${c.clients} concurrent curl clients × ${(c.sizeBytes / 1e6).toFixed(0)} MB, blksize 1468 (lock-step)`,
    columns: [
      'server',
      'succeeded',
      'wall s',
      'time vs tftp-hpa',
      'aggregate MB/s',
      'peak RSS MiB',
      'server CPU s',
      'CPU s/GB',
      'CPU vs tftp-hpa',
    ],
    rows: c.rows.map((x) => [
      x.server,
      `${x.succeeded}/${x.clients}`,
      f(x.wallS, 2),
      x2(x.timeVsHpa),
      f(x.succeeded === x.clients ? (x.clients * c.sizeBytes) / 1e6 / x.wallS : NaN),
      f(x.peakRss / 2 ** 20),
      f(x.cpuMs / 1000),
      f(x.cpuPerGb, 2),
      x2(x.cpuVsHpa),
    ]),
    notes: [
      `Target: finish no slower than tftp-hpa (time ratio ≤ 1.00x) — ${met}${ours ? ` (${x2(ours.timeVsHpa)})` : ''}.`,
      "Wall time from starting all clients to the last one exiting; every file SHA-256 checked. RSS is the peak of the server's whole process tree sampled every 100 ms (tftp-hpa forks one child per transfer); CPU is the user+system time of the server's process tree (tftp-hpa's per-transfer children sampled every 20 ms), per 10^9 bytes delivered in CPU s/GB.",
      ...c.rows.filter((x) => x.note).map((x) => `${x.server}: ${x.note}`),
    ],
  };
}
