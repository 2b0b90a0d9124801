/**
 * TFTP throughput benchmark: our server vs tftp-hpa's `in.tftpd` vs dnsmasq's TFTP, same file,
 * same clients, one run, all on 127.0.0.1.
 *
 * Clients: curl blksize 1468 (lock-step), atftp blksize 1468 windowsize 16 (RFC 7440), curl
 * blksize 8192. Each transfer is SHA-256 checked. Our server runs as a child process
 * (src/app/tftp-standalone) so its peak RSS (VmHWM) is measured apart from this harness.
 *
 * dnsmasq cannot move its TFTP port off 69, so when we are root everything (the three servers and
 * the clients) runs inside one private network namespace created here with only `lo` up — its
 * 127.0.0.1 is still loopback and nothing leaves the machine. Without root, dnsmasq is skipped.
 *
 * Size: 300 MB by default; `opts.sizeMB`, env `SX_BENCH_TFTP_MB`, or `quick` (40 MB) make it smaller.
 * Every client run is bounded (`timeoutMs`, default 300 s) and killed at the limit.
 *
 * Long on purpose (over the ~400-line / ~80-line guide): a benchmark reads as one measurement from
 * setup to teardown, and its figures are compared across commits (docs/benchmarks.md), so it is
 * changed only for a measurement reason, not restructured.
 */
import { mkdtempSync, rmSync, chmodSync, createReadStream, createWriteStream, existsSync } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { tmpdir, userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { track, sampleProc, watchTree } from './proc.js';
import type { BenchTable } from './report.js';

/** Options of {@link benchTftp}. */
export interface BenchTftpOptions {
  quick?: boolean;
  /** File size in MB (10^6 bytes). */
  sizeMB?: number;
  /** Bound of one client transfer, ms. */
  timeoutMs?: number;
  /** Alternating rounds per client; the best MB/s of each server counts (default 3, quick 1). */
  rounds?: number;
  /** Concurrent run: clients started together and MB each (default 20 × 50, quick 5 × 10). */
  concurrent?: { clients: number; sizeMB: number };
}

/** One measured transfer. */
export interface TftpBenchRow {
  /** `statelesx busy-poll off`: ours with `tftp.busy-poll-us: 0`, to show what busy-polling adds. */
  server: 'statelesx' | 'statelesx busy-poll off' | 'tftp-hpa' | 'dnsmasq';
  client: string;
  /** MB/s (10^6 bytes per second), NaN when the transfer failed. */
  mbps: number;
  /** mbps / tftp-hpa's mbps for the same client. */
  ratioToHpa: number;
  /** Slowest successful round, MB/s (the spread of the rounds is [minMbps, mbps]). */
  minMbps: number;
  /** Rounds run and rounds that failed. */
  rounds: number;
  failed: number;
  ok: boolean;
  note: string;
}

/** One server in the concurrent run: N clients × M MB at blksize 1468, started together. */
export interface TftpConcurrentRow {
  server: TftpBenchRow['server'];
  clients: number;
  /** Clients whose transfer completed with the right SHA-256. */
  succeeded: number;
  /** Start of the first client to exit of the last, seconds. */
  wallS: number;
  /** wallS / tftp-hpa's wallS (≤ 1.0 = no slower than tftp-hpa). */
  timeVsHpa: number;
  /** Peak RSS of the server's process tree during the run, bytes (tftp-hpa forks per transfer). */
  peakRss: number;
  /** CPU of the server's process tree during the run, ms. */
  cpuMs: number;
  note: string;
}

/** The result: rows, our server's memory, and the printable tables. */
export interface TftpBenchResult {
  sizeBytes: number;
  rows: TftpBenchRow[];
  /** Our server's RSS before the transfers and its peak (VmHWM) after them, bytes. */
  rss: { idle: number; peak: number };
  concurrent: { clients: number; sizeBytes: number; rows: TftpConcurrentRow[] };
  tables: BenchTable[];
}

const HERE = dirname(fileURLToPath(import.meta.url));

interface ClientSpec {
  name: string;
  cmd: (port: number, file: string, dst: string) => [string, string[]];
}

const CLIENTS: ClientSpec[] = [
  {
    name: 'curl blksize 1468 (lock-step)',
    cmd: (p, f, d) => ['curl', ['-sS', '--tftp-blksize', '1468', '-o', d, `tftp://127.0.0.1:${p}/${f}`]],
  },
  {
    name: 'atftp blksize 1468 windowsize 16',
    cmd: (p, f, d) => [
      'atftp',
      ['--option', 'blksize 1468', '--option', 'windowsize 16', '-g', '-r', f, '-l', d, '127.0.0.1', String(p)],
    ],
  },
  {
    name: 'curl blksize 8192 (lock-step)',
    cmd: (p, f, d) => ['curl', ['-sS', '--tftp-blksize', '8192', '-o', d, `tftp://127.0.0.1:${p}/${f}`]],
  },
];

function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
}

/** Writes `bytes` random bytes in 1 MB chunks (never the whole file in memory). */
async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const ws = createWriteStream(path, { mode: 0o644 });
  for (let left = bytes; left > 0; left -= 1_000_000) {
    if (!ws.write(randomBytes(Math.min(left, 1_000_000)))) await new Promise<void>((r) => ws.once('drain', () => r()));
  }
  await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
}

/** Runs a command (inside `netns` when set), bounded; resolves with exit code and wall ms. */
function runBounded(
  netns: string | null,
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; ms: number; stderr: string }> {
  return new Promise((res) => {
    const t0 = performance.now();
    const c = netns ? track('ip', ['netns', 'exec', netns, cmd, ...args]) : track(cmd, args);
    let stderr = '';
    c.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    c.stdout!.resume();
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('exit', (code) => {
      clearTimeout(timer);
      res({ code, ms: performance.now() - t0, stderr });
    });
  });
}

/** Starts a long-running server (inside `netns` when set) and returns a stopper. */
function startDaemon(netns: string | null, cmd: string, args: string[]) {
  const c = netns ? track('ip', ['netns', 'exec', netns, cmd, ...args]) : track(cmd, args);
  let out = '';
  let err = '';
  c.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  c.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  return {
    child: c,
    output: () => out,
    errors: () => err,
    stop: () => {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    },
  };
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** How to start our standalone server: compiled JS under dist/, or the TS source through tsx. */
function ourServerCommand(root: string, port: number, tftpConfig: Record<string, unknown> = {}): [string, string[]] {
  const js = join(HERE, '..', 'app', 'tftp-standalone.js');
  const args = [root, '127.0.0.1', String(port), JSON.stringify(tftpConfig)];
  if (existsSync(js)) return [process.execPath, [js, ...args]];
  return [process.execPath, ['--import', 'tsx', join(HERE, '..', 'app', 'tftp-standalone.ts'), ...args]];
}

/**
 * Runs the benchmark (see module comment).
 * @returns rows per server × client with MB/s and the ratio to tftp-hpa, our RSS, and tables
 * @throws Error when a required tool (curl, atftp, in.tftpd) is missing or our server does not start
 */
// eslint-disable-next-line max-lines-per-function -- a benchmark reads as one measurement from setup to teardown (module header)
export async function benchTftp(opts: BenchTftpOptions = {}): Promise<TftpBenchResult> {
  for (const t of ['/usr/bin/curl', '/usr/bin/atftp', '/usr/sbin/in.tftpd']) {
    if (!existsSync(t)) throw new Error(`${t} is missing: run scripts/install-test-deps`);
  }
  const sizeMB = opts.sizeMB ?? (Number(process.env['SX_BENCH_TFTP_MB']) || (opts.quick ? 40 : 300));
  const sizeBytes = Math.round(sizeMB * 1e6);
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const rounds = opts.rounds ?? (Number(process.env['SX_BENCH_TFTP_ROUNDS']) || (opts.quick ? 1 : 3));
  const conc = opts.concurrent ?? (opts.quick ? { clients: 5, sizeMB: 10 } : { clients: 20, sizeMB: 50 });
  const concBytes = Math.round(conc.sizeMB * 1e6);
  const concRows: TftpConcurrentRow[] = [];
  const isRoot = process.getuid?.() === 0;
  const netns = isRoot ? `sx-bench-tftp-${process.pid}` : null;
  const root = mkdtempSync(join(tmpdir(), 'sx-bench-tftp-'));
  const outDir = mkdtempSync(join(tmpdir(), 'sx-bench-tftp-out-'));
  chmodSync(root, 0o755);
  const file = 'image.bin';
  const daemons: Array<{ stop(): void }> = [];
  const rows: TftpBenchRow[] = [];
  const rss = { idle: NaN, peak: NaN };
  try {
    if (netns) {
      execFileSync('ip', ['netns', 'add', netns]);
      execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      // in.tftpd resolves its -a address with getaddrinfo(AI_ADDRCONFIG), which ignores loopback:
      // with only `lo` it finds no IPv4 "configured" and exits 66. A veth pair with both ends inside
      // this namespace gives it one; no traffic goes there (everything targets 127.0.0.1).
      execFileSync('ip', ['-n', netns, 'link', 'add', 'sxb0', 'type', 'veth', 'peer', 'name', 'sxb1']);
      execFileSync('ip', ['-n', netns, 'addr', 'add', '10.254.77.1/24', 'dev', 'sxb0']);
      execFileSync('ip', ['-n', netns, 'link', 'set', 'sxb0', 'up']);
      execFileSync('ip', ['-n', netns, 'link', 'set', 'sxb1', 'up']);
    }
    await writeRandomFile(join(root, file), sizeBytes);
    const want = await sha256File(join(root, file));

    const ourPort = 16969;
    const hpaPort = 16970;
    const [ourCmd, ourArgs] = ourServerCommand(root, ourPort);
    const ours = startDaemon(netns, ourCmd, ourArgs);
    daemons.push(ours);
    if (!(await waitFor(() => ours.output().includes('"port"'), 30_000)))
      throw new Error(`our TFTP server did not start: ${ours.errors()}`);
    const ourPid = (JSON.parse(ours.output().split('\n')[0]!) as { pid: number }).pid;
    rss.idle = sampleProc(ourPid)?.rss ?? NaN;

    const [noSpinCmd, noSpinArgs] = ourServerCommand(root, ourPort + 2, { 'busy-poll-us': 0 });
    const noSpin = startDaemon(netns, noSpinCmd, noSpinArgs);
    daemons.push(noSpin);
    if (!(await waitFor(() => noSpin.output().includes('"port"'), 30_000)))
      throw new Error(`our TFTP server (busy-poll off) did not start: ${noSpin.errors()}`);

    const user = isRoot ? 'root' : userInfo().username;
    const hpa = startDaemon(netns, '/usr/sbin/in.tftpd', ['-L', '-u', user, '-s', root, '-a', `127.0.0.1:${hpaPort}`]);
    daemons.push(hpa);
    const servers: Array<{ name: TftpBenchRow['server']; port: number; daemon: ReturnType<typeof startDaemon> }> = [
      { name: 'statelesx', port: ourPort, daemon: ours },
      { name: 'statelesx busy-poll off', port: ourPort + 2, daemon: noSpin },
      { name: 'tftp-hpa', port: hpaPort, daemon: hpa },
    ];
    if (netns && existsSync('/usr/sbin/dnsmasq')) {
      const dnsmasq = startDaemon(netns, '/usr/sbin/dnsmasq', [
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--port=0',
        '--enable-tftp',
        `--tftp-root=${root}`,
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        '--user=root',
        '--pid-file=',
        '--tftp-max=50',
      ]);
      daemons.push(dnsmasq);
      servers.push({ name: 'dnsmasq', port: 69, daemon: dnsmasq });
    }
    await new Promise((r) => setTimeout(r, 500));

    const alive = (s: (typeof servers)[number]): string | null => {
      const exited = s.daemon.child.exitCode ?? s.daemon.child.signalCode;
      return exited === null
        ? null
        : `${s.name} server exited (${exited}): ${s.daemon.errors().trim().split('\n').pop() ?? ''}`;
    };
    for (const c of CLIENTS) {
      const runs = new Map<TftpBenchRow['server'], { mbps: number[]; notes: string[] }>(
        servers.map((s) => [s.name, { mbps: [], notes: [] }]),
      );
      // Alternate the order per round so no server always runs first (page cache, CPU frequency).
      for (let round = 0; round < rounds; round++) {
        for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
          const acc = runs.get(s.name)!;
          const dead = alive(s);
          if (dead) {
            acc.notes.push(dead);
            continue;
          }
          const dst = join(outDir, `${s.name}.bin`);
          const [cmd, args] = c.cmd(s.port, file, dst);
          const r = await runBounded(netns, cmd, args, timeoutMs);
          if (r.code !== 0) acc.notes.push(`exit ${r.code}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
          else if ((await sha256File(dst)) !== want) acc.notes.push('SHA-256 mismatch');
          else acc.mbps.push(sizeBytes / 1e6 / (r.ms / 1000));
          rmSync(dst, { force: true });
        }
      }
      for (const s of servers) {
        const acc = runs.get(s.name)!;
        const ok = acc.mbps.length > 0;
        rows.push({
          server: s.name,
          client: c.name,
          ok,
          ratioToHpa: NaN,
          mbps: ok ? Math.max(...acc.mbps) : NaN,
          minMbps: ok ? Math.min(...acc.mbps) : NaN,
          rounds,
          failed: rounds - acc.mbps.length,
          note: [...new Set(acc.notes)].join('; '),
        });
      }
    }
    rss.peak = sampleProc(ourPid)?.hwm ?? NaN;

    // Concurrent: N curl clients at blksize 1468 started together against each server in turn.
    const concFile = 'concurrent.bin';
    await writeRandomFile(join(root, concFile), concBytes);
    const concWant = await sha256File(join(root, concFile));
    // Busy-poll never engages with more transfers than CPUs: the "off" twin adds nothing here.
    for (const s of servers.filter((x) => x.name !== 'statelesx busy-poll off')) {
      const dead = alive(s);
      if (dead) {
        concRows.push({
          server: s.name,
          clients: conc.clients,
          succeeded: 0,
          wallS: NaN,
          timeVsHpa: NaN,
          peakRss: NaN,
          cpuMs: NaN,
          note: dead,
        });
        continue;
      }
      const w = watchTree(s.daemon.child.pid!);
      const t0 = performance.now();
      const results = await Promise.all(
        Array.from({ length: conc.clients }, (_, i) => {
          const dst = join(outDir, `${s.name}-${i}.bin`);
          return runBounded(
            netns,
            'curl',
            ['-sS', '--tftp-blksize', '1468', '-o', dst, `tftp://127.0.0.1:${s.port}/${concFile}`],
            timeoutMs,
          ).then((r) => ({ r, dst }));
        }),
      );
      const wallS = (performance.now() - t0) / 1000;
      const tree = w.stop();
      let succeeded = 0;
      const notes = new Set<string>();
      for (const { r, dst } of results) {
        if (r.code !== 0) notes.add(`exit ${r.code}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
        else if ((await sha256File(dst)) !== concWant) notes.add('SHA-256 mismatch');
        else succeeded++;
        rmSync(dst, { force: true });
      }
      concRows.push({
        server: s.name,
        clients: conc.clients,
        succeeded,
        wallS,
        timeVsHpa: NaN,
        peakRss: tree.peakRss,
        cpuMs: tree.cpuMs,
        note: [...notes].join('; '),
      });
    }
  } finally {
    for (const d of daemons) d.stop();
    if (netns) {
      try {
        execFileSync('ip', ['netns', 'del', netns]);
      } catch {
        /* already gone */
      }
    }
    rmSync(root, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
  }
  for (const r of rows) {
    const hpa = rows.find((x) => x.server === 'tftp-hpa' && x.client === r.client);
    r.ratioToHpa = hpa && hpa.ok && r.ok ? r.mbps / hpa.mbps : NaN;
  }
  const hpaConc = concRows.find((x) => x.server === 'tftp-hpa');
  for (const r of concRows) {
    const allOk = (x: TftpConcurrentRow) => x.succeeded === x.clients;
    r.timeVsHpa = hpaConc && allOk(hpaConc) && allOk(r) ? r.wallS / hpaConc.wallS : NaN;
  }
  const concurrent = { clients: conc.clients, sizeBytes: concBytes, rows: concRows };
  const tables = tftpTables({ sizeBytes, rows, rss, concurrent, netns: netns !== null });
  for (const t of tables) printTable(t);
  return { sizeBytes, rows, rss, concurrent, tables };
}

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
    '"statelesx busy-poll off" is our server with `tftp.busy-poll-us: 0` (the thread sleeps in recvfrom like the others); busy-poll engages only while fewer transfers run than CPUs, so the concurrent table below runs only the default.',
    `Our server RSS: ${f(r.rss.idle / 2 ** 20)} MiB idle, ${f(r.rss.peak / 2 ** 20)} MiB peak (VmHWM) while serving — no whole-file buffering.`,
    'tftp-hpa and dnsmasq do not implement windowsize (RFC 7440): atftp falls back to lock-step with them.',
  ];
  for (const x of r.rows)
    if (x.note) notes.push(`${x.server} / ${x.client}: ${x.failed} of ${x.rounds} round(s) failed (${x.note})`);
  const tables: BenchTable[] = [
    {
      title: 'TFTP throughput (MB/s, ratio to tftp-hpa)',
      columns: ['client', 'server', 'MB/s', 'worst MB/s', 'vs tftp-hpa'],
      rows: r.rows.map((x) => [x.client, x.server, f(x.mbps), f(x.minMbps), x2(x.ratioToHpa)]),
      notes,
    },
  ];
  const c = r.concurrent;
  if (c && c.rows.length > 0) {
    const ours = c.rows.find((x) => x.server === 'statelesx');
    const met = ours && Number.isFinite(ours.timeVsHpa) ? (ours.timeVsHpa <= 1 ? 'met' : 'MISSED') : 'not measured';
    tables.push({
      title: `TFTP: ${c.clients} concurrent curl clients × ${(c.sizeBytes / 1e6).toFixed(0)} MB, blksize 1468 (lock-step)`,
      columns: ['server', 'succeeded', 'wall s', 'time vs tftp-hpa', 'aggregate MB/s', 'peak RSS MiB', 'server CPU s'],
      rows: c.rows.map((x) => [
        x.server,
        `${x.succeeded}/${x.clients}`,
        f(x.wallS, 2),
        x2(x.timeVsHpa),
        f(x.succeeded === x.clients ? (x.clients * c.sizeBytes) / 1e6 / x.wallS : NaN),
        f(x.peakRss / 2 ** 20),
        f(x.cpuMs / 1000),
      ]),
      notes: [
        `Target: finish no slower than tftp-hpa (time ratio ≤ 1.00x) — ${met}${ours ? ` (${x2(ours.timeVsHpa)})` : ''}.`,
        "Wall time from starting all clients to the last one exiting; every file SHA-256 checked. RSS is the peak of the server's whole process tree sampled every 100 ms (tftp-hpa forks one child per transfer); CPU is per-process user+system growth over the samples (a lower bound for tftp-hpa's short-lived children).",
        ...c.rows.filter((x) => x.note).map((x) => `${x.server}: ${x.note}`),
      ],
    });
  }
  return tables;
}

function printTable(t: BenchTable): void {
  const widths = t.columns.map((c, i) => Math.max(c.length, ...t.rows.map((r) => String(r[i]).length)));
  const line = (cells: Array<string | number>) => cells.map((c, i) => String(c).padEnd(widths[i]!)).join('  ');
  process.stdout.write(`\n${t.title}\n${line(t.columns)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const r of t.rows) process.stdout.write(line(r) + '\n');
  for (const n of t.notes) process.stdout.write(`  ${n}\n`);
}

// Run directly: `node --import tsx src/bench/tftp.ts [--quick]`.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchTftp({ quick: process.argv.includes('--quick') }).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`bench tftp: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
