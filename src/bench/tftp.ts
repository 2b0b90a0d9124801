/**
 * TFTP throughput benchmark: our server vs tftp-hpa's `in.tftpd` vs dnsmasq's TFTP, same file,
 * same clients, one run, all on 127.0.0.1.
 *
 * Clients: curl blksize 1468 (lock-step), atftp blksize 1468 windowsize 16 (RFC 7440), curl
 * blksize 8192, and a slow client (./tftp-slow-client.ts: lock-step blksize 1468, an ACK ≥ 200 µs after each
 * DATA; one round on a smaller file). Each row also has the server's CPU per GB. Each transfer is SHA-256 checked. Our server runs as a child process
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
import { mkdtempSync, rmSync, chmodSync, createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { tmpdir, userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { track, sampleProc, watchTree } from './proc.js';
import type { BenchTable } from './report.js';
import { printTable, tftpTables } from './tftp-tables.js';

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
  /** Slow-client run: MB of the file and µs the client waits before each ACK (default 30 MB, quick 4; 200 µs). */
  slow?: { sizeMB: number; delayUs: number };
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
  /** Server CPU (user + system, threads and reaped children included) per 10^9 bytes, median of the rounds, s. */
  cpuPerGb: number;
  /** cpuPerGb / tftp-hpa's for the same client. */
  cpuVsHpa: number;
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
  /** CPU of the server during the run (threads and reaped children included), ms. */
  cpuMs: number;
  /** cpuMs per 10^9 bytes delivered, s; and its ratio to tftp-hpa's. */
  cpuPerGb: number;
  cpuVsHpa: number;
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

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64

/** CPU of the reaped children of `pid` so far (cutime + cstime from /proc/<pid>/stat), ms. */
function reapedCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/**
 * Starts measuring the CPU a server uses, ms: user + system of its process (all threads) and of
 * every process of its tree, sampled every 20 ms (tftp-hpa forks one child per transfer; a child
 * seen for the first time counts from its birth), plus what the server reaped meanwhile.
 */
function measureCpu(pid: number): { stop(): { cpuMs: number; peakRss: number } } {
  const reaped0 = reapedCpuMs(pid);
  const w = watchTree(pid, 20);
  return {
    stop() {
      const t = w.stop();
      return { cpuMs: t.cpuMs + (reapedCpuMs(pid) - reaped0), peakRss: t.peakRss };
    },
  };
}

/** How to run the slow client (./tftp-slow-client.ts): compiled under dist/, or through tsx. */
function slowClientCommand(args: string[]): [string, string[]] {
  const js = join(HERE, 'tftp-slow-client.js');
  if (existsSync(js)) return [process.execPath, [js, ...args]];
  return [process.execPath, ['--import', 'tsx', join(HERE, 'tftp-slow-client.ts'), ...args]];
}

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0 ? NaN : v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

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
  const slow = opts.slow ?? { sizeMB: opts.quick ? 4 : 30, delayUs: 200 };
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
    // The slow client: its own smaller file (each block costs it ≥ delayUs), one round.
    const slowFile = 'slow.bin';
    const slowBytes = Math.round(slow.sizeMB * 1e6);
    await writeRandomFile(join(root, slowFile), slowBytes);
    const slowWant = await sha256File(join(root, slowFile));
    const slowSpec: ClientSpec = {
      name: `slow client: ACK after ${slow.delayUs} µs, blksize 1468 (lock-step)`,
      cmd: (p, f, d) => slowClientCommand(['127.0.0.1', String(p), f, d, '1468', String(slow.delayUs)]),
    };
    const plan = [
      ...CLIENTS.map((c) => ({ c, file, bytes: sizeBytes, want, rounds })),
      { c: slowSpec, file: slowFile, bytes: slowBytes, want: slowWant, rounds: 1 },
    ];
    for (const { c, file, bytes: sizeBytes, want, rounds } of plan) {
      const runs = new Map<TftpBenchRow['server'], { mbps: number[]; cpuMs: number[]; notes: string[] }>(
        servers.map((s) => [s.name, { mbps: [], cpuMs: [], notes: [] }]),
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
          const m = measureCpu(s.daemon.child.pid!);
          const r = await runBounded(netns, cmd, args, timeoutMs);
          const { cpuMs } = m.stop();
          if (r.code !== 0) acc.notes.push(`exit ${r.code}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
          else if ((await sha256File(dst)) !== want) acc.notes.push('SHA-256 mismatch');
          else {
            acc.mbps.push(sizeBytes / 1e6 / (r.ms / 1000));
            acc.cpuMs.push(cpuMs);
          }
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
          cpuPerGb: ok ? median(acc.cpuMs) / 1000 / (sizeBytes / 1e9) : NaN,
          cpuVsHpa: NaN,
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
    for (const s of servers) {
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
          cpuPerGb: NaN,
          cpuVsHpa: NaN,
          note: dead,
        });
        continue;
      }
      const w = measureCpu(s.daemon.child.pid!);
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
      const cpuMs = tree.cpuMs;
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
        cpuMs,
        cpuPerGb: succeeded > 0 ? cpuMs / 1000 / ((succeeded * concBytes) / 1e9) : NaN,
        cpuVsHpa: NaN,
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
    r.cpuVsHpa = hpa && hpa.ok && r.ok ? r.cpuPerGb / hpa.cpuPerGb : NaN;
  }
  const hpaConc = concRows.find((x) => x.server === 'tftp-hpa');
  for (const r of concRows) {
    const allOk = (x: TftpConcurrentRow) => x.succeeded === x.clients;
    r.timeVsHpa = hpaConc && allOk(hpaConc) && allOk(r) ? r.wallS / hpaConc.wallS : NaN;
    r.cpuVsHpa = hpaConc ? r.cpuPerGb / hpaConc.cpuPerGb : NaN;
  }
  const concurrent = { clients: conc.clients, sizeBytes: concBytes, rows: concRows };
  const tables = tftpTables({ sizeBytes, rows, rss, concurrent, netns: netns !== null });
  for (const t of tables) printTable(t);
  return { sizeBytes, rows, rss, concurrent, tables };
}

export { tftpTables } from './tftp-tables.js';

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
