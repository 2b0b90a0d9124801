/**
 * DHCP benchmark: Kea's `perfdhcp` (Debian package kea-admin) runs DISCOVER-OFFER-REQUEST-ACK
 * exchanges against our server in full mode and against dnsmasq, in the same namespace pair
 * created here (server 10.80.0.1/16 ⇄ perfdhcp 10.80.0.2/16 acting as a relay agent, giaddr set,
 * pool 10.80.1.0–10.80.255.254). For each server the offered rate climbs a ladder (250, 375, 562 …
 * exchanges/s, ×1.5 per step of `stepSeconds`); the result is the highest offered rate completed
 * with 0 % drops and the ratio to dnsmasq's. Target: ≥ 1.0x dnsmasq.
 *
 * Bounded: at most `maxRate`, `stepSeconds` per step, and a whole-run deadline; traffic only inside
 * the namespaces it creates (deleted at the end). Needs root, iproute2, perfdhcp, dnsmasq.
 *
 * Our side is the DHCP service alone (createDhcpServer, full mode, SQLite store), started by this
 * file in child mode inside the namespace, so its CPU is not shared with perfdhcp.
 *
 * Run alone: `npx tsx src/bench/dhcp.ts [--quick]` (or `npm run bench -- --only dhcp`).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDhcpServer } from '../boot/dhcp/server.js';
import { configSchema } from '../config/schema.js';
import { createLogger } from '../log.js';
import { openStore } from '../store/index.js';

/** A report table (same shape as report.ts's BenchTable). */
export interface DhcpBenchTable {
  title: string;
  columns: string[];
  rows: Array<Array<string | number>>;
  notes: string[];
}

/** Options of {@link benchDhcp}. */
export interface DhcpBenchOptions {
  /** Seconds per ladder step (perfdhcp -p). Default 4. */
  stepSeconds?: number;
  /** First rate (exchanges/s). Default 250; each next step is 1.5x. */
  startRate?: number;
  /** Highest rate tried. Default 32000. */
  maxRate?: number;
  /** Distinct simulated clients (perfdhcp -R). Default 20000. */
  clients?: number;
  /** Whole-run deadline (ms). Default 240 s. */
  deadlineMs?: number;
  /** `npm run bench -- --quick`: 2 s steps up to 4000/s, 90 s deadline (explicit fields win). */
  quick?: boolean;
}

/** One perfdhcp run. */
export interface PerfdhcpStep {
  offeredRate: number;
  /** "Rate:" perfdhcp reports (4-way exchanges/s; includes the 1 s exit wait, so below the offered rate). */
  achievedRate: number;
  sent: number;
  received: number;
  drops: number;
}

/** One server's ladder. */
export interface DhcpServerRun {
  server: 'statelesx' | 'dnsmasq';
  steps: PerfdhcpStep[];
  /** Highest offered rate completed with 0 drops (0 when none). */
  zeroDropRate: number;
  error?: string;
}

export interface DhcpBenchResult {
  runs: DhcpServerRun[];
  /** statelesx zero-drop rate / dnsmasq zero-drop rate (NaN when dnsmasq has none). */
  ratio: number;
  /** The result as report tables (see {@link dhcpTables}); `npm run bench` prints these. */
  tables: DhcpBenchTable[];
}

const NS = `sx-bench-dhcp-${process.pid}`;
const SERVER = '10.80.0.1';
const CLIENT = '10.80.0.2';
const POOL = { start: '10.80.1.0', end: '10.80.255.254', netmask: '255.255.0.0' };

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function createNamespaces(): { srv: string; cli: string; destroy(): void } {
  const srv = `${NS}-s`;
  const cli = `${NS}-c`;
  const destroy = () => {
    for (const ns of [srv, cli]) {
      try {
        for (const p of ip(['netns', 'pids', ns]).split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(p), 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      } catch {
        /* absent */
      }
      try {
        ip(['netns', 'del', ns]);
      } catch {
        /* absent */
      }
    }
  };
  destroy();
  try {
    ip(['netns', 'add', srv]);
    ip(['netns', 'add', cli]);
    ip(['link', 'add', 'veth0', 'netns', srv, 'type', 'veth', 'peer', 'name', 'veth1', 'netns', cli]);
    for (const [ns, dev, addr] of [
      [srv, 'veth0', SERVER],
      [cli, 'veth1', CLIENT],
    ] as const) {
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', ns, 'link', 'set', dev, 'up']);
      ip(['-n', ns, 'addr', 'add', `${addr}/16`, 'dev', dev]);
    }
  } catch (e) {
    destroy();
    throw e;
  }
  return { srv, cli, destroy };
}

const CHILD_FLAG = '--dhcp-bench-child';
const READY = 'SX-DHCP-BENCH-READY';

/** Runs a command with a time bound; never rejects. */
function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string; code: number | null; timedOut: boolean }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (e, stdout, stderr) => {
      const err = e as (Error & { code?: number | string; killed?: boolean }) | null;
      resolve({
        stdout,
        stderr,
        code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
        timedOut: Boolean(err?.killed),
      });
    });
  });
}

async function have(cmd: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${cmd}`], 5000)).code === 0;
}

/** Starts this file in child mode inside `netns`; resolves when the service listens. */
function startOurs(netns: string, dataDir: string): Promise<ChildProcess> {
  const self = fileURLToPath(import.meta.url);
  const node = [...(self.endsWith('.ts') ? ['--import', 'tsx'] : []), self, CHILD_FLAG, dataDir];
  const c = spawn('ip', ['netns', 'exec', netns, process.execPath, ...node], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  c.stderr.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      c.kill('SIGKILL');
      reject(new Error(`our DHCP service did not start in 20 s: ${err}`));
    }, 20_000);
    c.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`our DHCP service exited (${code}): ${err}`));
    });
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(READY)) {
        clearTimeout(t);
        c.removeAllListeners('exit');
        c.stdout.resume();
        resolve(c);
      }
    });
  });
}

/** Child mode: the DHCP service alone (full mode, store in `dataDir`), logs at warn to stderr. */
async function childMain(dataDir: string): Promise<void> {
  const log = createLogger('warn', process.stderr);
  const config = configSchema.parse({
    dhcp: {
      mode: 'full',
      'range-start': POOL.start,
      'range-end': POOL.end,
      netmask: POOL.netmask,
      router: SERVER,
      'lease-time-s': 3600,
      // perfdhcp relays (giaddr = its address): a relay is answered only when listed.
      relays: [CLIENT],
    },
  });
  const store = await openStore(dataDir, log);
  const server = createDhcpServer({ mode: 'full', dhcp: config.dhcp, store, log, interface: 'veth0', httpPort: 8080 });
  await server.start();
  process.stdout.write(`${READY}\n`);
  process.on('SIGTERM', () => {
    void server.close().then(() => {
      store.close();
      process.exit(0);
    });
  });
}

/** Parses perfdhcp's report: the rate line and the DISCOVER-OFFER / REQUEST-ACK counters. */
export function parsePerfdhcp(out: string, offeredRate: number): PerfdhcpStep {
  const rate = Number(/Rate:\s*([\d.]+)/.exec(out)?.[1] ?? 0);
  const section = (name: string) => out.split(`Statistics for: ${name}`)[1]?.replace(/^\*+/, '').split('***')[0] ?? '';
  const num = (text: string, key: string) => Number(new RegExp(`${key}:\\s*(\\d+)`).exec(text)?.[1] ?? 0);
  const d = section('DISCOVER-OFFER');
  const r = section('REQUEST-ACK');
  return {
    offeredRate,
    achievedRate: rate,
    sent: num(d, 'sent packets') + num(r, 'sent packets'),
    received: num(d, 'received packets') + num(r, 'received packets'),
    drops: num(d, 'drops') + num(r, 'drops'),
  };
}

async function ladder(cli: string, o: Required<DhcpBenchOptions>, deadline: number): Promise<PerfdhcpStep[]> {
  const steps: PerfdhcpStep[] = [];
  for (let rate = o.startRate; rate <= o.maxRate; rate = Math.round(rate * 1.5)) {
    if (Date.now() + (o.stepSeconds + 5) * 1000 > deadline) break;
    const r = await run(
      'ip',
      [
        'netns',
        'exec',
        cli,
        'perfdhcp',
        '-4',
        '-l',
        'veth1',
        '-r',
        String(rate),
        '-p',
        String(o.stepSeconds),
        '-R',
        String(o.clients),
        '-W',
        '1000000',
        SERVER,
      ],
      (o.stepSeconds + 20) * 1000,
    );
    if (r.timedOut) throw new Error(`perfdhcp did not finish within ${o.stepSeconds + 20} s`);
    const step = parsePerfdhcp(r.stdout, rate);
    if (step.sent === 0)
      throw new Error(`perfdhcp sent nothing (exit ${r.code}): ${(r.stderr || r.stdout).slice(0, 400)}`);
    steps.push(step);
    if (step.drops > 0) break;
  }
  return steps;
}

function summarize(server: DhcpServerRun['server'], steps: PerfdhcpStep[]): DhcpServerRun {
  const ok = steps.filter((s) => s.drops === 0 && s.received > 0);
  return { server, steps, zeroDropRate: ok.length ? Math.max(...ok.map((s) => s.offeredRate)) : 0 };
}

/**
 * Runs the benchmark.
 * @throws Error when not root, or perfdhcp / dnsmasq are missing (says to run scripts/install-test-deps)
 */
export async function benchDhcp(opts: DhcpBenchOptions = {}): Promise<DhcpBenchResult> {
  const base = opts.quick ? { stepSeconds: 2, maxRate: 4000, deadlineMs: 90_000 } : {};
  const o: Required<DhcpBenchOptions> = {
    stepSeconds: 4,
    startRate: 250,
    maxRate: 32000,
    clients: 20000,
    deadlineMs: 240_000,
    quick: false,
    ...base,
    ...opts,
  };
  if (process.getuid?.() !== 0) throw new Error('the DHCP benchmark needs root (network namespaces)');
  for (const [cmd, pkg] of [
    ['perfdhcp', 'kea-admin'],
    ['dnsmasq', 'dnsmasq-base'],
  ] as const) {
    if (!(await have(cmd)))
      throw new Error(`${cmd} (Debian package ${pkg}) is not installed: run scripts/install-test-deps`);
  }
  const deadline = Date.now() + o.deadlineMs;
  const dir = mkdtempSync(join(tmpdir(), 'sx-bench-dhcp-'));
  const ns = createNamespaces();
  const runs: DhcpServerRun[] = [];
  try {
    // ours: the DHCP service (full mode, SQLite store) as its own process in the server namespace
    let ours: ChildProcess | undefined;
    try {
      ours = await startOurs(ns.srv, join(dir, 'data'));
      runs.push(summarize('statelesx', await ladder(ns.cli, o, deadline)));
    } catch (e) {
      runs.push({ server: 'statelesx', steps: [], zeroDropRate: 0, error: (e as Error).message });
    } finally {
      ours?.kill('SIGKILL');
    }
    // dnsmasq, same namespace, same pool
    const dm = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns.srv,
        'dnsmasq',
        '--keep-in-foreground',
        '--port=0',
        '--interface=veth0',
        '--bind-interfaces',
        `--dhcp-range=${POOL.start},${POOL.end},${POOL.netmask},1h`,
        '--dhcp-lease-max=100000',
        '--no-ping',
        '--dhcp-authoritative',
        `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`,
        '--pid-file=',
        '--user=root',
        '--conf-file=/dev/null',
        '--log-facility=/dev/null',
      ],
      { stdio: 'ignore' },
    );
    try {
      await new Promise((r) => setTimeout(r, 800));
      if (dm.exitCode !== null) throw new Error(`dnsmasq exited (${dm.exitCode})`);
      runs.push(summarize('dnsmasq', await ladder(ns.cli, o, deadline)));
    } catch (e) {
      runs.push({ server: 'dnsmasq', steps: [], zeroDropRate: 0, error: (e as Error).message });
    } finally {
      dm.kill('SIGKILL');
    }
  } finally {
    ns.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  const ours = runs.find((r) => r.server === 'statelesx')!;
  const ref = runs.find((r) => r.server === 'dnsmasq')!;
  const result = { runs, ratio: ref.zeroDropRate > 0 ? ours.zeroDropRate / ref.zeroDropRate : NaN };
  return { ...result, tables: dhcpTables(result) };
}

/** The result as report tables (one summary, one per-step). */
export function dhcpTables(r: Pick<DhcpBenchResult, 'runs' | 'ratio'>): DhcpBenchTable[] {
  const fmt = (n: number) => Math.round(n);
  return [
    {
      title: 'DHCP: perfdhcp DORA exchanges/s at 0 % drops (full mode, relay via giaddr, in a namespace pair)',
      columns: ['server', 'exchanges/s at 0 % drops', 'ratio to dnsmasq', 'note'],
      rows: r.runs.map((x) => [
        x.server,
        fmt(x.zeroDropRate),
        x.server === 'statelesx' ? (Number.isNaN(r.ratio) ? 'n/a' : `${r.ratio.toFixed(2)}x`) : '1.00x',
        x.error ?? '',
      ]),
      notes: [
        `Target ≥ 1.0x dnsmasq: ${Number.isNaN(r.ratio) ? 'not measured' : r.ratio >= 1 ? 'met' : 'missed'}.`,
        'Each step offers a fixed rate for a few seconds (perfdhcp -r/-p, 20000 simulated clients); the ladder stops at the first step with drops.',
      ],
    },
    {
      title: 'DHCP: perfdhcp ladder',
      columns: ['server', 'offered/s', 'achieved/s', 'sent', 'received', 'drops'],
      rows: r.runs.flatMap((x) =>
        x.steps.map((s) => [x.server, s.offeredRate, fmt(s.achievedRate), s.sent, s.received, s.drops]),
      ),
      notes: [],
    },
  ];
}

if (process.argv[2] === CHILD_FLAG) {
  childMain(process.argv[3] ?? ':memory:').catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
  });
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchDhcp({ quick: process.argv.includes('--quick') })
    .then((r) => {
      for (const t of r.tables) {
        console.log(`\n${t.title}\n${t.columns.join(' | ')}`);
        for (const row of t.rows) console.log(row.join(' | '));
        for (const n of t.notes) console.log(n);
      }
    })
    .catch((e: unknown) => {
      console.error((e as Error).message);
      process.exitCode = 1;
    });
}
