/**
 * Staged bring-up benchmark (issue 19 item 5): a power event on the vCenter simulator. 500 members
 * in 10 clusters (default; `mgmt` priority 10, `storage` priority 20, eight `compute-N` at the
 * default 50) phone home at seeded random times within 10 s; each phone-home is the registry's call
 * into the engine (`enqueueConfigureHost`, as for a known host). Measured from the first phone-home
 * until the last member converged (its configure-host job succeeded: AddHost_Task, the whole host
 * configuration, read-back).
 *
 * Checked from the jobs' recorded times (src/store/jobs.ts): zero failures; never more jobs — nor
 * AddHost_Task steps — running at once than `engine.concurrency-per-vcenter`, nor per cluster than
 * `engine.concurrency-per-cluster`; and every cluster of a priority converged before the first join
 * of a lower priority started.
 *
 * The lower bound: each priority level runs alone (that is the rule), at most
 * min(vCenter limit, clusters of the level × cluster limit) jobs at a time, each taking at least one
 * member's join measured alone in the same run on the same simulator (a separate cluster, before
 * the storm): bound = Σ over levels ceil(members / allowed) × one join. Target: within 1.15x.
 *
 * Latency: the engine benchmark's `vcenter` model (src/bench/engine.ts) with AddHost_Task at
 * {@link ADD_HOST_MS} (20–60 s on a real vCenter while it installs its agent; shortened to bound the
 * run, long enough that vCenter's AddHost time, not this machine's CPU, dominates as it does in
 * production).
 *
 * Run: `npx tsx src/bench/staged.ts [--quick]`, or `npm run bench -- --only staged`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DesiredCluster } from '../clusters/types.js';
import { DEFAULT_CLUSTER_PRIORITY } from '../clusters/types.js';
import { configSchema, type Config } from '../config/schema.js';
import { clusterLookups, fixedClusterFiles } from '../app/cluster-lookups.js';
import { JobRunner } from '../engine/jobs.js';
import { vcenterConnector } from '../engine/vsphere-adapter.js';
import { silentLogger } from '../log.js';
import { openStore, type Store } from '../store/index.js';
import type { JobRecord } from '../store/jobs.js';
import { desired, LATENCY_MODELS, startSim, uuidOf, type BenchSim, type LatencyModel } from './engine.js';
import { fmt, fmtRatio, type BenchTable } from './report.js';

/** AddHost_Task's delay in this benchmark's latency model, ms. */
export const ADD_HOST_MS = 6000;

/** The benchmark's size and limits. */
export interface StagedOptions {
  /** Clusters with their priorities (absent = default 50), in file order. */
  clusters: Array<{ name: string; priority?: number }>;
  membersPerCluster: number;
  /** Phone-homes spread over this many ms. */
  spreadMs: number;
  /** engine.concurrency-per-vcenter. */
  vcenterLimit: number;
  /** engine.concurrency-per-cluster. */
  clusterLimit: number;
  /** engine.admission-rate (starts per second per vCenter). */
  rate: number;
  /** engine.priority-settle-s. */
  settleS: number;
  /** AddHost_Task delay, ms. */
  addHostMs: number;
  /** Seed of the phone-home times. */
  seed: number;
}

/** The full size: 500 members in 10 clusters within 10 s. */
export const FULL: StagedOptions = {
  clusters: [
    { name: 'mgmt', priority: 10 },
    { name: 'storage', priority: 20 },
    ...Array.from({ length: 8 }, (_, i) => ({ name: `compute-${i + 1}` })),
  ],
  membersPerCluster: 50,
  spreadMs: 10_000,
  vcenterLimit: 16,
  clusterLimit: 8,
  rate: 8,
  settleS: 5,
  addHostMs: ADD_HOST_MS,
  seed: 19,
};

/** `--quick`: 30 members in 3 clusters within 3 s (a smoke test). */
export const QUICK: StagedOptions = {
  clusters: [{ name: 'mgmt', priority: 10 }, { name: 'compute-1' }, { name: 'compute-2' }],
  membersPerCluster: 10,
  spreadMs: 3000,
  vcenterLimit: 4,
  clusterLimit: 2,
  rate: 8,
  settleS: 2,
  addHostMs: 1000,
  seed: 19,
};

/** One run's numbers. */
export interface StagedRun {
  options: StagedOptions;
  members: number;
  /** One member joined alone (the calibration), ms. */
  oneJoinMs: number;
  /** The lower bound (see the module docstring), ms. */
  boundMs: number;
  /** First phone-home → last member converged, ms. */
  allMs: number;
  ratio: number;
  succeeded: number;
  failed: number;
  /** Most jobs running at once on the vCenter, and most AddHost_Task steps. */
  maxJobs: number;
  maxAddHost: number;
  /** Most jobs running at once in one cluster. */
  maxPerCluster: number;
  /**
   * Per priority level: members, clusters, first start and last finish (ms after the first
   * phone-home), jobs allowed at once, mean jobs running over the level's span (Σ job times ÷ span:
   * how full admission kept the allowed slots), and the median job time in the run.
   */
  levels: Array<{
    priority: number;
    clusters: number;
    members: number;
    firstStartMs: number;
    lastDoneMs: number;
    allowed: number;
    meanRunning: number;
    medianJobMs: number;
  }>;
  /** The bound with the median job time of each level in this run instead of one join alone, ms. */
  inRunBoundMs: number;
  /** Every level converged before the next level's first join started. */
  orderHeld: boolean;
  latency: string;
}

/** The latency model: `vcenter` with AddHost_Task at `addHostMs`. */
export function stagedLatency(addHostMs: number): LatencyModel {
  const base = LATENCY_MODELS['vcenter']!;
  const args = base.args.map((a) => a.replace(/AddHost_Task:\d+/, `AddHost_Task:${addHostMs}`));
  return {
    name: 'vcenter',
    args,
    why: base.why.replace(/\+2000 ms on AddHost_Task/, `+${addHostMs} ms on AddHost_Task`),
  };
}

/** A small deterministic PRNG (mulberry32) for the phone-home times. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The benchmark's cluster files: the engine benchmark's cluster, renamed, with `members` each. */
export function stagedClusters(o: StagedOptions, offset = 0): DesiredCluster[] {
  const base = desired(0);
  return o.clusters.map((c, k) => ({
    ...base,
    name: c.name,
    file: `/${c.name}.xml`,
    ...(c.priority !== undefined ? { priority: c.priority } : {}),
    hosts: Array.from({ length: o.membersPerCluster }, (_, i) => {
      const n = offset + k * o.membersPerCluster + i;
      return { fqdn: `esx${n}.bench.example`, uuid: uuidOf(n), addresses: {} };
    }),
  }));
}

/** Most intervals open at once (a close at t comes before an open at t). */
export function maxOverlap(spans: Array<[number, number]>): number {
  const ev = spans.flatMap(([s, e]) => [[s, 1] as const, [e, -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let n = 0;
  let max = 0;
  for (const [, d] of ev) max = Math.max(max, (n += d));
  return max;
}

/** The bound: Σ over priority levels ceil(members / allowed concurrency) × one join. */
export function stagedBound(o: StagedOptions, oneJoinMs: number): number {
  const levels = new Map<number, number>();
  for (const c of o.clusters) {
    const p = c.priority ?? DEFAULT_CLUSTER_PRIORITY;
    levels.set(p, (levels.get(p) ?? 0) + 1);
  }
  let total = 0;
  for (const clusters of levels.values()) {
    const allowed = Math.min(o.vcenterLimit, clusters * o.clusterLimit);
    total += Math.ceil((clusters * o.membersPerCluster) / allowed) * oneJoinMs;
  }
  return total;
}

function config(sim: BenchSim, o: StagedOptions): Config {
  return configSchema.parse({
    vcenters: [
      {
        name: 'vc1',
        url: sim.sdkUrl,
        username: sim.username,
        'password-env': 'SX_VC_PW',
        thumbprint: sim.thumbprint,
        // Enough sessions (2 requests each) that the client is not the limit at the vCenter limit.
        'max-sessions': Math.min(32, o.vcenterLimit),
      },
    ],
    credentials: [{ name: 'esx', username: 'root', 'password-env': 'SX_ESX_PW' }],
    engine: {
      'concurrency-per-vcenter': o.vcenterLimit,
      'concurrency-per-cluster': o.clusterLimit,
      'admission-rate': o.rate,
      'priority-settle-s': o.settleS,
    },
  });
}

const ENV = { SX_VC_PW: 'x', SX_ESX_PW: 'y' };

function runner(store: Store, cfg: Config, files: DesiredCluster[]): JobRunner {
  return new JobRunner({
    jobs: store.jobs,
    config: cfg,
    clusters: clusterLookups(fixedClusterFiles(files)).engine,
    log: silentLogger,
    env: ENV,
    connect: vcenterConnector(cfg.vcenters, silentLogger, ENV),
  });
}

/** One member of a cluster of its own joined alone (nothing else runs), ms. */
async function calibrate(sim: BenchSim, o: StagedOptions, calib: DesiredCluster): Promise<number> {
  const store = await openStore(mkdtempSync(join(tmpdir(), 'sx-bench-staged-calib-')));
  const r = runner(store, config(sim, o), [calib]);
  try {
    await r.start();
    const t0 = performance.now();
    const j = await r.wait((await r.enqueueConfigureHost(calib.hosts[0]!.uuid, { source: 'bench' })).id);
    if (j.state !== 'succeeded') throw new Error(`bench: the calibration join failed: ${j.error ?? j.state}`);
    return performance.now() - t0;
  } finally {
    await r.close();
    store.close();
  }
}

/** What the jobs' times say (see the module docstring). */
async function analyse(
  o: StagedOptions,
  files: DesiredCluster[],
  jobs: JobRecord[],
  store: Store,
  t0: number,
): Promise<Pick<StagedRun, 'maxJobs' | 'maxAddHost' | 'maxPerCluster' | 'levels' | 'orderHeld' | 'inRunBoundMs'>> {
  const spans = (js: JobRecord[]) => js.map((j) => [j.startedAt!, j.finishedAt!] as [number, number]);
  const addHost = (await Promise.all(jobs.map((j) => store.jobs.steps(j.id)))).flatMap((steps) =>
    steps
      .filter((s) => s.name === 'AddHost_Task' && s.startedAt !== null && s.finishedAt !== null)
      .map((s) => [s.startedAt!, s.finishedAt!] as [number, number]),
  );
  const byPriority = new Map<number, DesiredCluster[]>();
  for (const c of files) {
    const p = c.priority ?? DEFAULT_CLUSTER_PRIORITY;
    byPriority.set(p, [...(byPriority.get(p) ?? []), c]);
  }
  const levels = [...byPriority]
    .sort((a, b) => a[0] - b[0])
    .map(([priority, cs]) => {
      const names = new Set(cs.map((c) => c.name));
      const js = jobs.filter((j) => names.has(j.cluster ?? ''));
      const times = js.map((j) => j.finishedAt! - j.startedAt!).sort((a, b) => a - b);
      const first = Math.min(...js.map((j) => j.startedAt!));
      const last = Math.max(...js.map((j) => j.finishedAt!));
      return {
        priority,
        clusters: cs.length,
        members: js.length,
        firstStartMs: first - t0,
        lastDoneMs: last - t0,
        allowed: Math.min(o.vcenterLimit, cs.length * o.clusterLimit),
        meanRunning: times.reduce((a, b) => a + b, 0) / Math.max(1, last - first),
        medianJobMs: times[times.length >> 1] ?? 0,
      };
    });
  return {
    maxJobs: maxOverlap(spans(jobs)),
    maxAddHost: maxOverlap(addHost),
    maxPerCluster: Math.max(...files.map((c) => maxOverlap(spans(jobs.filter((j) => j.cluster === c.name))))),
    levels,
    orderHeld: levels.every((l, i) => i === 0 || levels[i - 1]!.lastDoneMs <= l.firstStartMs),
    inRunBoundMs: levels.reduce((n, l) => n + Math.ceil(l.members / l.allowed) * l.medianJobMs, 0),
  };
}

/** One run on a fresh simulator: the calibration join, then the power event. */
export async function benchStagedRun(o: StagedOptions = FULL): Promise<StagedRun> {
  const files = stagedClusters(o);
  const members = files.reduce((n, c) => n + c.hosts.length, 0);
  const calib = { ...stagedClusters({ ...o, clusters: [{ name: 'calibration' }], membersPerCluster: 1 }, members)[0]! };
  const latency = stagedLatency(o.addHostMs);
  const sim = await startSim([
    ...latency.args,
    ...[...files, calib].flatMap((c) => c.hosts).flatMap((h) => ['-host-uuid', `${h.fqdn}=${h.uuid}`]),
  ]);
  const store = await openStore(mkdtempSync(join(tmpdir(), 'sx-bench-staged-')));
  const r = runner(store, config(sim, o), files);
  try {
    const oneJoinMs = await calibrate(sim, o, calib);
    await r.start();
    const rnd = random(o.seed);
    const hosts = files.flatMap((c) => c.hosts).map((h) => ({ h, at: Math.floor(rnd() * o.spreadMs) }));
    const first = Math.min(...hosts.map((x) => x.at));
    const t0 = Date.now();
    const ids = await Promise.all(
      hosts.map(
        ({ h, at }) =>
          new Promise<string>((res, rej) =>
            setTimeout(
              () => void r.enqueueConfigureHost(h.uuid, { source: 'bench' }).then((ref) => res(ref.id), rej),
              at - first,
            ),
          ),
      ),
    );
    const jobs = await Promise.all(ids.map((id) => r.wait(id)));
    const allMs = Math.max(...jobs.map((j) => j.finishedAt ?? Date.now())) - t0;
    const failed = jobs.filter((j) => j.state !== 'succeeded');
    if (failed.length) process.stderr.write(`bench: ${failed.length} job(s) failed, first: ${failed[0]!.error}\n`);
    const boundMs = stagedBound(o, oneJoinMs);
    return {
      options: o,
      members,
      oneJoinMs,
      boundMs,
      allMs,
      ratio: allMs / boundMs,
      succeeded: jobs.length - failed.length,
      failed: failed.length,
      ...(await analyse(o, files, jobs, store, t0)),
      latency: `${latency.name}: ${latency.why}`,
    };
  } finally {
    await r.close();
    store.close();
    sim.stop();
  }
}

/** The report table of a run. */
export function stagedTables(r: StagedRun): BenchTable[] {
  const o = r.options;
  return [
    {
      title: `Staged bring-up: ${r.members} members in ${o.clusters.length} clusters phone home within ${o.spreadMs / 1000} s (vCenter simulator)`,
      columns: [
        'members',
        'limits vc/cluster',
        'rate /s',
        'one join s',
        'bound s',
        'all converged s',
        'vs bound',
        'failed',
        'max jobs',
        'max AddHost',
        'max per cluster',
        'priority order',
      ],
      rows: [
        [
          r.members,
          `${o.vcenterLimit}/${o.clusterLimit}`,
          o.rate,
          fmt(r.oneJoinMs / 1000, 2),
          fmt(r.boundMs / 1000, 1),
          fmt(r.allMs / 1000, 1),
          fmtRatio(r.ratio),
          r.failed,
          r.maxJobs,
          r.maxAddHost,
          r.maxPerCluster,
          r.orderHeld ? 'held' : 'BROKEN',
        ],
      ],
      notes: [
        `Levels (priority: clusters × members, first join started → last converged in s after the first phone-home, mean jobs running of those allowed, median job time): ${r.levels
          .map(
            (l) =>
              `${l.priority}: ${l.clusters}×${l.members / l.clusters}, ${fmt(l.firstStartMs / 1000, 1)} → ${fmt(l.lastDoneMs / 1000, 1)}, ${fmt(l.meanRunning, 2)} of ${l.allowed}, ${fmt(l.medianJobMs / 1000, 1)} s`,
          )
          .join('; ')}.`,
        `With each level's median job time in this run instead of one join alone, the bound is ${fmt(r.inRunBoundMs / 1000, 1)} s and the run ${fmtRatio(r.allMs / r.inRunBoundMs)} of it: how much the admission itself (order, priority waits, rate, limits) adds; the rest of "vs bound" is each job being slower when many run at once than alone.`,
        `Bound = Σ over priority levels ceil(members / min(vCenter limit, clusters × cluster limit)) × one member's join measured alone in the same run; the levels run one after the other by design. Target ≤ 1.15x: ${r.ratio <= 1.15 ? 'met' : 'MISSED'}.`,
        `Zero failures: ${r.failed === 0 ? 'met' : `MISSED (${r.failed})`}. vCenter never above its limit (${o.vcenterLimit}; from the jobs' and AddHost_Task steps' recorded times): ${r.maxJobs <= o.vcenterLimit && r.maxAddHost <= o.vcenterLimit ? 'met' : 'MISSED'}. Every higher-priority level converged before the first lower-priority join started: ${r.orderHeld ? 'met' : 'MISSED'}.`,
        `engine.priority-settle-s ${o.settleS}; phone-homes at seeded random times (seed ${o.seed}), each the registry's call into the engine for a known host.`,
        `Simulator latency model ${r.latency}.`,
      ],
    },
  ];
}

/** The benchmark: one run, printed; `{ tables }` for `npm run bench`. */
export async function benchStaged(opts: { quick?: boolean } = {}): Promise<{ run: StagedRun; tables: BenchTable[] }> {
  const run = await benchStagedRun(opts.quick ? QUICK : FULL);
  process.stdout.write(
    `staged: ${run.members} members: all converged in ${fmt(run.allMs / 1000, 1)} s, bound ${fmt(run.boundMs / 1000, 1)} s ` +
      `(${fmtRatio(run.ratio)}), ${run.failed} failed, max ${run.maxJobs} jobs / ${run.maxAddHost} AddHost at once, ` +
      `priority order ${run.orderHeld ? 'held' : 'BROKEN'}\n`,
  );
  return { run, tables: stagedTables(run) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await benchStaged({ quick: process.argv.includes('--quick') });
}
