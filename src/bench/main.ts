/**
 * `npm run bench`: the benchmark suite. Runs each benchmark in turn, prints one table per
 * benchmark (figures as ratios against a peer measured in the same run), and writes
 * `docs/benchmarks.md` (date, machine, tables; sections not run this time are kept).
 *
 *   node dist/bench/main.js [--only idle,tftp,http,storm,storm-2k,dhcp,initiator,hostile,engine,staged] [--quick] [--no-doc] [--doc PATH]
 *
 * Each benchmark module is imported dynamically, so a missing module (not written yet) or one
 * that throws is reported as such and the others still run. A module may return
 * `{ tables: BenchTable[] }` (see report.ts) or export `<name>Tables(result): BenchTable[]`
 * (`tftpTables`, `dhcpTables`); any other result is shown as a field/value table.
 * Every benchmark bounds its own load; main adds a watchdog per module (`--module-timeout S`,
 * default 1800 s) and kills every child process it knows of on exit or Ctrl-C.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAll } from './proc.js';
import type { RebootBenchRun } from './engine-reboot.js';
import {
  fmt,
  fmtRatio,
  formatTable,
  genericTable,
  machineInfo,
  writeBenchmarksDoc,
  type BenchSection,
  type BenchTable,
} from './report.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');

/** The command-line options. */
export interface BenchArgs {
  only: string[] | null;
  quick: boolean;
  doc: string | null;
  moduleTimeoutMs: number;
}

/**
 * Parses the arguments.
 * @throws Error naming an unknown flag or benchmark
 */
export function parseBenchArgs(argv: string[], known: readonly string[]): BenchArgs {
  const a: BenchArgs = {
    only: null,
    quick: false,
    doc: join(ROOT, 'docs', 'benchmarks.md'),
    moduleTimeoutMs: 1_800_000,
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    const value = () => {
      const v = f.includes('=') ? f.slice(f.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${f} needs a value`);
      return v;
    };
    if (f === '--quick') a.quick = true;
    else if (f === '--no-doc') a.doc = null;
    else if (f === '--doc' || f.startsWith('--doc=')) a.doc = resolve(value());
    else if (f === '--only' || f.startsWith('--only=')) {
      a.only = value()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = a.only.filter((n) => !known.includes(n));
      if (bad.length) throw new Error(`unknown benchmark ${bad.join(', ')} in --only (known: ${known.join(', ')})`);
    } else if (f === '--module-timeout' || f.startsWith('--module-timeout=')) {
      const s = Number(value());
      if (!(s > 0)) throw new Error('--module-timeout needs a positive number of seconds');
      a.moduleTimeoutMs = s * 1000;
    } else
      throw new Error(`unknown argument ${f} (use --only LIST, --quick, --no-doc, --doc PATH, --module-timeout S)`);
  }
  return a;
}

type Module = Record<string, unknown>;
/** Imports a sibling module by file name; the name is a variable so a missing file is a runtime error, not a build error. */
const load = (file: string): Promise<Module> => import(new URL(`./${file}`, import.meta.url).href) as Promise<Module>;

function fn(mod: Module, name: string, file: string): (...args: unknown[]) => Promise<unknown> {
  const f = mod[name];
  if (typeof f !== 'function') throw new Error(`${file} does not export ${name}()`);
  return f as (...args: unknown[]) => Promise<unknown>;
}

const isTables = (t: unknown): t is BenchTable[] =>
  Array.isArray(t) && t.every((x) => x !== null && typeof x === 'object' && 'title' in x && 'rows' in x);

/**
 * Tables from a module result: its own `tables` when present, else what the module's
 * `<prefix>Tables(result)` export makes of it, else a generic field/value table.
 */
function tablesOf(mod: Module, prefix: string, title: string, result: unknown): BenchTable[] {
  const own = (result as { tables?: unknown } | null)?.tables;
  if (isTables(own)) return own;
  const make = mod[`${prefix}Tables`];
  if (typeof make === 'function') {
    const t = (make as (r: unknown) => unknown)(result);
    if (isTables(t)) return t;
  }
  return [genericTable(title, result)];
}

/** One benchmark: how to run it (quick or full) and turn its result into tables. */
interface Bench {
  name: string;
  run(quick: boolean): Promise<BenchTable[]>;
}

const BENCHES: Bench[] = [
  {
    name: 'tftp',
    async run(quick) {
      const mod = await load('tftp.js');
      return tablesOf(mod, 'tftp', 'TFTP', await fn(mod, 'benchTftp', 'tftp.js')({ quick }));
    },
  },
  {
    name: 'http',
    async run(quick) {
      const { benchHttp } = await import('./http.js');
      return (await benchHttp(quick ? { treeBytes: 40e6, concurrency: 8 } : {})).tables;
    },
  },
  {
    name: 'storm',
    async run(quick) {
      const { benchStorm } = await import('./storm.js');
      return (
        await benchStorm(quick ? { hosts: 50, spreadMs: 10_000, httpBytes: 16 * 2 ** 20, tftpBytes: 4 * 2 ** 20 } : {})
      ).tables;
    },
  },
  {
    // Issue 20, target 1: the idle composed server's RSS, and what each subsystem costs.
    name: 'idle',
    async run(quick) {
      const { benchIdle } = await import('./idle.js');
      return (await benchIdle(quick ? { rounds: 1 } : {})).tables;
    },
  },
  {
    // Issue 20: a large site's power event, 2,000 hosts (HTTP payload) within 30 s.
    name: 'storm-2k',
    async run(quick) {
      const { benchStorm } = await import('./storm.js');
      return (
        await benchStorm({
          hosts: quick ? 200 : 2000,
          spreadMs: 30_000,
          variants: ['http'],
          deadlineMs: 1_500_000,
          dhcpNewHostsPerMinute: 10_000,
          ...(quick ? { httpBytes: 16 * 2 ** 20 } : {}),
        })
      ).tables;
    },
  },
  {
    name: 'dhcp',
    async run(quick) {
      const mod = await load('dhcp.js');
      return tablesOf(mod, 'dhcp', 'DHCP', await fn(mod, 'benchDhcp', 'dhcp.js')({ quick }));
    },
  },
  {
    name: 'initiator',
    async run(quick) {
      const mod = await load('initiator.js');
      const r = (await fn(
        mod,
        'benchInitiator',
        'initiator.js',
      )(quick ? { messages: 1000, concurrency: 100 } : {})) as {
        messages: number;
        concurrency: number;
        durationMs: number;
        messagesPerSecond: number;
        p50Ms: number;
        p99Ms: number;
        maxMs: number;
        answers: Record<string, number>;
        cpuMs: number;
        recorded: number;
        lost: number;
        targetMet: boolean;
      };
      return [
        {
          title: `Phone-home listener: ${r.messages} messages, ${r.concurrency} concurrent (TCP 1974 protocol, 127.0.0.0/8)`,
          columns: [
            'messages',
            'concurrency',
            'wall s',
            'msg/s',
            'p50 ms',
            'p99 ms',
            'max ms',
            'recorded',
            'lost',
            'CPU s',
          ],
          rows: [
            [
              r.messages,
              r.concurrency,
              fmt(r.durationMs / 1000, 2),
              fmt(r.messagesPerSecond, 0),
              fmt(r.p50Ms, 1),
              fmt(r.p99Ms, 1),
              fmt(r.maxMs, 0),
              r.recorded,
              r.lost,
              fmt(r.cpuMs / 1000, 1),
            ],
          ],
          notes: [
            `Answers: ${Object.entries(r.answers)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}.`,
            `Target: all ${r.messages} in under 10 s with nothing lost — ${r.targetMet ? 'met' : 'MISSED'} (${fmt(r.durationMs / 1000, 1)} s of the 10 s budget).`,
            'No external peer: the protocol is ours. CPU covers the server and the client worker (one process).',
          ],
        },
      ];
    },
  },
  {
    name: 'hostile',
    async run(quick) {
      const { benchHostile } = await import('./hostile.js');
      return (await benchHostile({ quick })).tables;
    },
  },
  {
    name: 'engine',
    async run(quick) {
      const mod = await load('engine.js');
      const hosts = quick ? 16 : 100;
      const r = (await fn(mod, 'benchEngine', 'engine.js')(hosts)) as {
        runs: Array<{
          concurrency: number;
          hosts: number;
          wallMs: number;
          succeeded: number;
          callsPerHost: number;
          mutatingPerHost: number;
          duplicateReads: number;
        }>;
        ratio: number;
        /** `name: why` of the latency model the runs used. */
        latency: string;
      };
      const dup = r.runs.reduce((n, x) => n + x.duplicateReads, 0);
      return [
        {
          title: `Engine: ${hosts} hosts joined and configured on the vCenter simulator, concurrency 1 vs 8`,
          columns: [
            'concurrency',
            'hosts',
            'succeeded',
            'wall s',
            'vs concurrency 1',
            'SOAP calls/host',
            'mutating/host',
            'duplicate reads',
          ],
          rows: r.runs.map((x) => [
            x.concurrency,
            x.hosts,
            x.succeeded,
            fmt(x.wallMs / 1000, 1),
            fmtRatio(r.runs[0]!.wallMs / x.wallMs),
            fmt(x.callsPerHost, 1),
            fmt(x.mutatingPerHost, 1),
            x.duplicateReads,
          ]),
          notes: [
            `Concurrency 8 is ${fmtRatio(r.ratio)} faster than 1 — target ≥ 5x: ${r.ratio >= 5 ? 'met' : 'MISSED'}.`,
            `Simulator latency model ${r.latency}.`,
            `Duplicate reads (same method + objects/properties within one host's job, no change in between) — target 0: ${dup === 0 ? 'met' : `MISSED (${dup})`}.`,
          ],
        },
        await rebootTable(hosts),
      ];
    },
  },
  {
    // Issue 19 item 5: a power event, 500 members in 10 clusters, staged by priority and limits.
    name: 'staged',
    async run(quick) {
      const { benchStaged } = await import('./staged.js');
      return (await benchStaged({ quick })).tables;
    },
  },
];

/**
 * The engine's reboot row (issue 21): `members` rebooted at once, time until all converged again
 * against ceil(members / concurrency) × one member's rejoin (src/bench/engine-reboot.ts).
 */
async function rebootTable(members: number): Promise<BenchTable> {
  const mod = await load('engine-reboot.js');
  const r = (await fn(mod, 'benchEngineReboot', 'engine-reboot.js')(members)) as RebootBenchRun;
  return {
    title: `Engine: ${r.members} members rebooted at once on the vCenter simulator, until all converged again`,
    columns: ['members', 'concurrency', 'succeeded', 'one rejoin s', 'bound s', 'all rejoined s', 'vs bound'],
    rows: [
      [
        r.members,
        r.concurrency,
        r.succeeded,
        fmt(r.oneRejoinMs / 1000, 2),
        fmt(r.boundMs / 1000, 1),
        fmt(r.allRejoinMs / 1000, 1),
        fmtRatio(r.ratio),
      ],
    ],
    notes: [
      `Each member joined first (${fmt(r.joinMs / 1000, 1)} s for all), then reboots (the simulator's stateless reboot: new certificate, blank root password, image defaults, notResponding) and phones home on its new boot through the registry, which records the boot and queues the rejoin: ReconnectHost_Task (after setting the root password on the host's own SDK), the whole host configuration, read-back.`,
      `Bound = ceil(${r.members} / ${r.concurrency}) × one member's rejoin measured alone in the same run (engine.concurrency-per-vcenter = ${r.concurrency} jobs at a time); 1.00x = as fast as that limit allows.`,
      `${r.converged} of ${r.members} boots recorded as converged after the rejoins.`,
      `Simulator latency model ${r.latency}.`,
    ],
  };
}

/** Runs one benchmark with a watchdog; never throws. */
async function runOne(b: Bench, quick: boolean, timeoutMs: number): Promise<BenchSection> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const tables = await Promise.race([
      b.run(quick),
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`watchdog: no result after ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]);
    return {
      name: b.name,
      status: 'ok',
      tables,
      wallMs: performance.now() - t0,
      ...(quick ? { message: 'quick (reduced sizes)' } : {}),
    };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const missing = err.code === 'ERR_MODULE_NOT_FOUND' && /bench[\\/][\w-]+\.js/.test(err.message);
    return {
      name: b.name,
      status: missing ? 'skipped' : 'failed',
      tables: [],
      wallMs: performance.now() - t0,
      message: missing ? 'benchmark module not written yet' : (err.message || String(e)).split('\n')[0]!.slice(0, 500),
    };
  } finally {
    clearTimeout(timer);
    killAll();
  }
}

async function main(): Promise<number> {
  const args = parseBenchArgs(
    process.argv.slice(2),
    BENCHES.map((b) => b.name),
  );
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const machine = machineInfo();
  process.stdout.write(
    `statelesx benchmarks ${date}${args.quick ? ' (quick)' : ''}\n${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.kernel}, Node.js ${machine.node}\n\n`,
  );
  const sections: BenchSection[] = [];
  for (const b of BENCHES) {
    if (args.only && !args.only.includes(b.name)) continue;
    process.stdout.write(`== ${b.name} ...\n`);
    const s = await runOne(b, args.quick, args.moduleTimeoutMs);
    sections.push(s);
    process.stdout.write(
      `== ${b.name}: ${s.status}${s.message ? ` (${s.message})` : ''}, ${(s.wallMs / 1000).toFixed(0)} s\n\n`,
    );
    for (const t of s.tables) process.stdout.write(formatTable(t) + '\n');
  }
  if (args.doc) {
    writeBenchmarksDoc(
      args.doc,
      {
        date,
        machine,
        command: `npm run bench --${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
        order: BENCHES.map((b) => b.name),
        preface: [
          'Every figure is measured side by side with its peer in the same run on the same machine (ratios are ours / peer). ' +
            'All traffic stays on 127.0.0.0/8 or in network namespaces the benchmark creates. Targets are from issue 8; a missed target is marked MISSED in the notes.',
          ...(args.quick
            ? ['**This was a `--quick` run: reduced sizes, a smoke test — not the reference figures.**']
            : []),
        ],
      },
      sections,
    );
    process.stdout.write(`wrote ${args.doc}\n`);
  }
  return sections.some((s) => s.status === 'failed') ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
  main().then(
    (code) => {
      killAll();
      process.exit(code);
    },
    (e: unknown) => {
      killAll();
      process.stderr.write(`bench: ${(e as Error).message}\n`);
      process.exit(2);
    },
  );
}
