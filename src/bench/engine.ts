/**
 * Engine benchmark: N hosts (default 100) joined and fully configured on the vCenter simulator,
 * one configure-host job per host, all queued at once (hosts that PXE-boot together and phone home),
 * at concurrency 1 and 8 (engine.concurrency-per-vcenter). Prints wall time, the speed-up ratio and
 * SOAP calls per host (reads and mutating calls, by method). Target: concurrency 8 ≥ 5x faster than 1.
 *
 * The cluster is NOT pre-applied: the first job creates it, and the other jobs that planned
 * CreateClusterEx at the same time are answered by the adapter without a call (one creation per
 * folder and name, src/engine/vsphere-adapter.ts) — what the product must handle on a fresh vCenter.
 *
 * vCenter latency model (the simulator answers in well under 1 ms; a real vCenter does not), see
 * {@link LATENCY_MODELS}. Default `vcenter`: `-delay 25` on every call (a LAN round trip plus vpxd
 * request handling: PropertyCollector reads and SearchIndex lookups answer in tens of ms), plus
 * `-method-delay` 100 ms on each host-configuration call (vpxd forwards HostNetworkSystem,
 * HostVirtualNicManager, HostDateTimeSystem, HostServiceSystem and OptionManager calls to the ESXi
 * host agent and waits for it: 100–500 ms on real systems) and 2000 ms on AddHost_Task (20–60 s on
 * real systems while vCenter installs its agent; shortened to bound the run). `flat`: `-delay 25`
 * only (every call answered like a read). Each run uses a fresh simulator (a clean inventory).
 *
 * Duplicate reads (requirement: no call made twice for the same read): every SOAP call is
 * attributed to the job that made it (engine/jobs currentJob) by wrapping the client's `invoke`;
 * a read (RetrievePropertiesEx, FindByUuid, …) with the same method, `_this` and arguments
 * (objects and property set) as an earlier read of the same host's job, with no mutating call of
 * that job in between, is a duplicate ({@link ReadTracker}; reads, plumbing and changes as
 * src/vsphere/methods.ts classifies them, like the engine's own counters). Task polls are not counted. Target 0.
 *
 * Run: `npx tsx src/bench/engine.ts [hosts] [vcenter|flat|none|DELAY_MS]`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import type { DesiredCluster } from '../clusters/types.js';
import { configSchema, type Config } from '../config/schema.js';
import { clusterLookups, fixedClusterFiles } from '../app/cluster-lookups.js';
import { currentJob, JobRunner } from '../engine/jobs.js';
import { connectVcenter } from '../engine/vsphere-adapter.js';
import type { VsphereClient } from '../vsphere/client.js';
import { isMutating, SESSION_METHODS } from '../vsphere/methods.js';
import { silentLogger } from '../log.js';
import { openStore } from '../store/index.js';

/** A simulator latency model: its flags and why. */
export interface LatencyModel {
  name: string;
  args: string[];
  why: string;
}

const HOST_CONFIG_METHODS = [
  'AddVirtualSwitch',
  'UpdateVirtualSwitch',
  'AddPortGroup',
  'UpdatePortGroup',
  'AddVirtualNic',
  'UpdateVirtualNic',
  'SelectVnicForNicType',
  'DeselectVnicForNicType',
  'UpdateDateTimeConfig',
  'UpdateServicePolicy',
  'StartService',
  'UpdateDnsConfig',
  'UpdateOptions',
  'EnterMaintenanceMode_Task',
  'ExitMaintenanceMode_Task',
];

/** The latency models (see the module docstring). */
export const LATENCY_MODELS: Record<string, LatencyModel> = {
  vcenter: {
    name: 'vcenter',
    args: [
      '-delay',
      '25',
      '-method-delay',
      [...HOST_CONFIG_METHODS.map((m) => `${m}:100`), 'AddHost_Task:2000'].join(','),
    ],
    why: '-delay 25 ms on every call (LAN round trip + vpxd), +100 ms on each host-configuration call (vpxd waits for the ESXi host agent), +2000 ms on AddHost_Task (20-60 s on a real vCenter)',
  },
  flat: { name: 'flat', args: ['-delay', '25'], why: '-delay 25 ms on every call (every call answered like a read)' },
  none: { name: 'none', args: [], why: 'no added latency (simulator CPU only; not representative of a vCenter)' },
};

/** A model by name, or a flat `-delay MS` for a number. */
export function latencyModel(spec: string): LatencyModel {
  const m = LATENCY_MODELS[spec];
  if (m) return m;
  const ms = Number(spec);
  if (!Number.isInteger(ms) || ms < 0)
    throw new Error(`latency model must be ${Object.keys(LATENCY_MODELS).join('|')} or a delay in ms, got ${spec}`);
  return { name: `delay-${ms}`, args: ['-delay', String(ms)], why: `-delay ${ms} ms on every call` };
}

/**
 * Counts duplicate reads per job: the same read (method, `_this`, arguments) twice within one job
 * with no mutating call of that job in between. Reads of Task objects (polls) are not counted.
 */
export class ReadTracker {
  private readonly seen = new Map<string, Set<string>>();
  /** Duplicates so far. */
  duplicates = 0;
  /** Duplicates by SOAP method. */
  readonly byMethod: Record<string, number> = {};
  /** Reads seen (attributed to a job). */
  reads = 0;

  /** Records one call made by job `jobId` (undefined: outside a job, ignored). */
  note(jobId: string | undefined, method: string, thisRef: unknown, params: unknown): void {
    if (!jobId || SESSION_METHODS.has(method)) return;
    if (isMutating(method)) {
      this.seen.delete(jobId); // a change: what was read may differ now
      return;
    }
    const key = `${method} ${JSON.stringify(thisRef)} ${JSON.stringify(params ?? null)}`;
    if (key.includes('"type":"Task"')) return;
    this.reads++;
    let s = this.seen.get(jobId);
    if (!s) this.seen.set(jobId, (s = new Set()));
    if (s.has(key)) {
      this.duplicates++;
      this.byMethod[method] = (this.byMethod[method] ?? 0) + 1;
    } else {
      s.add(key);
    }
  }

  /** Wraps a client's `invoke` so every call it sends is noted for the job running it. */
  attach(client: VsphereClient): void {
    const orig = client.invoke.bind(client);
    client.invoke = (method, thisRef, params, opts) => {
      this.note(currentJob()?.id, method, thisRef, params);
      return orig(method, thisRef, params, opts);
    };
  }
}

/** One run's numbers. */
export interface EngineBenchRun {
  concurrency: number;
  hosts: number;
  wallMs: number;
  succeeded: number;
  callsPerHost: number;
  mutatingPerHost: number;
  /** Reads, session and PropertyCollector calls per host. */
  readsPerHost: number;
  byMethod: Record<string, number>;
  /** Reads repeated within one host's job with no change in between (target 0), and by method. */
  duplicateReads: number;
  duplicateReadsByMethod: Record<string, number>;
}

/** `test/peers/vcsim/start` from the project root (the build keeps src/ → dist/ depth). */
const VCSIM_START = resolve(dirname(fileURLToPath(import.meta.url)), '../../test/peers/vcsim/start');

/** A running simulator as the engine benchmarks use it. */
export interface BenchSim {
  /** Its SDK URL (`https://127.0.0.1:<port>/sdk`, no credentials). */
  sdkUrl: string;
  username: string;
  /** Its certificate's SHA-1 thumbprint (colon hex). */
  thumbprint: string;
  /** The simulated hosts' own SDK. */
  esxSdkUrl: string;
  /** Base URL of its test hooks (`/vcsim-test/...`). */
  baseUrl: string;
  stop(): void;
}

/**
 * Starts the simulator (`-l 127.0.0.1:0 -tls` + args); returns its SDK URL, user, thumbprint, the
 * hosts' own SDK (`esxSdkUrl`), the base of its test hooks (`baseUrl`) and a stop function.
 */
export async function startSim(args: string[]): Promise<BenchSim> {
  const out = await new Promise<string>((res, rej) => {
    execFile(
      VCSIM_START,
      ['-l', '127.0.0.1:0', '-tls', ...args],
      { timeout: 180_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) rej(new Error(`vcsim start failed: ${stderr || err.message}`));
        else res(stdout);
      },
    );
  });
  const field = (n: string): string => new RegExp(`^${n} (\\S+)$`, 'm').exec(out)?.[1] ?? '';
  const u = new URL(field('url'));
  const username = decodeURIComponent(u.username);
  u.username = '';
  u.password = '';
  const pid = Number(field('pid'));
  return {
    sdkUrl: u.toString(),
    username,
    thumbprint: field('thumbprint'),
    esxSdkUrl: field('esx-url'),
    baseUrl: `${u.protocol}//${u.host}`,
    stop: () => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    },
  };
}

/** {@link startSim} with the latency model's flags and each member of `d` under its own UUID (`-host-uuid`). */
export function startSimFor(latency: LatencyModel, d: DesiredCluster): Promise<BenchSim> {
  return startSim([...latency.args, ...d.hosts.flatMap((h) => ['-host-uuid', `${h.fqdn}=${h.uuid}`])]);
}

/**
 * The benchmarks' Config: vCenter `vc1` = the simulator (password from SX_VC_PW, its thumbprint,
 * 8 sessions), ESXi credentials `esx` = root / SX_ESX_PW, and the `engine` section given.
 */
export function simConfig(sim: BenchSim, engine: Record<string, unknown>): Config {
  return configSchema.parse({
    vcenters: [
      {
        name: 'vc1',
        url: sim.sdkUrl,
        username: sim.username,
        'password-env': 'SX_VC_PW',
        thumbprint: sim.thumbprint,
        'max-sessions': 8,
      },
    ],
    credentials: [{ name: 'esx', username: 'root', 'password-env': 'SX_ESX_PW' }],
    engine,
  });
}

/** The SMBIOS UUID of bench host number i. */
export function uuidOf(i: number): string {
  return `4c4c4544-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

/** The bench cluster with n members (`esx<i>.bench.example`, {@link uuidOf}(i)). */
export function desired(n: number): DesiredCluster {
  return {
    name: 'bench',
    datacenter: 'DC0',
    vcenter: 'vc1',
    credentials: 'esx',
    file: '/bench.xml',
    ha: {
      enabled: true,
      hostMonitoring: true,
      vmMonitoring: 'vmMonitoringDisabled',
      admissionControl: { enabled: true, policy: 'hostFailuresTolerated', hostFailuresTolerated: 1 },
      isolationResponse: 'powerOff',
      restartPriority: 'medium',
    },
    drs: { enabled: true, automationLevel: 'fullyAutomated', migrationThreshold: 3 },
    dpm: { enabled: false, automationLevel: 'automated', threshold: 3 },
    vswitches: [
      {
        name: 'vSwitch1',
        uplinks: ['vmnic2', 'vmnic3'],
        mtu: 9000,
        numPorts: 256,
        teaming: { loadBalancing: 'loadbalance_srcid' },
        security: {},
      },
    ],
    portgroups: [
      { name: 'vMotion', vswitch: 'vSwitch1', vlanId: 20 },
      { name: 'vSAN', vswitch: 'vSwitch1', vlanId: 30 },
    ],
    vmknics: [
      {
        device: 'vmk1',
        portgroup: 'vMotion',
        addressing: { mode: 'pool', pool: 'vmotion' },
        mtu: 9000,
        services: ['vmotion'],
      },
      { device: 'vmk2', portgroup: 'vSAN', addressing: { mode: 'pool', pool: 'vsan' }, mtu: 9000, services: ['vsan'] },
    ],
    pools: [
      { name: 'vmotion', start: '10.20.0.10', end: '10.20.3.250', netmask: '255.255.252.0' },
      { name: 'vsan', start: '10.30.0.10', end: '10.30.3.250', netmask: '255.255.252.0' },
    ],
    ntpServers: ['ntp1.example', 'ntp2.example'],
    dns: { servers: ['10.0.0.53'], searchDomains: ['lab.example'] },
    advanced: [{ key: 'UserVars.SuppressShellWarning', value: 1, type: 'long' }],
    hosts: Array.from({ length: n }, (_, i) => ({ fqdn: `esx${i}.bench.example`, uuid: uuidOf(i), addresses: {} })),
  };
}

/** Joins and configures `hosts` hosts at `concurrency` on a fresh simulator with the given latency model. */
export async function benchEngineRun(
  hosts: number,
  concurrency: number,
  latency: LatencyModel = LATENCY_MODELS['vcenter']!,
): Promise<EngineBenchRun> {
  const d = desired(hosts);
  const sim = await startSimFor(latency, d);
  const store = await openStore(mkdtempSync(join(tmpdir(), 'sx-bench-engine-')));
  const env = { SX_VC_PW: 'x', SX_ESX_PW: 'y' };
  const config = simConfig(sim, { 'concurrency-per-vcenter': concurrency });
  const tracker = new ReadTracker();
  const connect = async (name: string) => {
    const vc = await connectVcenter(
      config.vcenters.find((v) => v.name === name)!,
      silentLogger,
      env,
    );
    tracker.attach(vc.client);
    return vc;
  };
  const runner = new JobRunner({
    jobs: store.jobs,
    config,
    clusters: clusterLookups(fixedClusterFiles([d])).engine,
    log: silentLogger,
    env,
    connect,
  });
  try {
    await runner.start();
    const t0 = performance.now();
    const ids = (await Promise.all(d.hosts.map((h) => runner.enqueueConfigureHost(h.uuid, { source: 'bench' })))).map(
      (ref) => ref.id,
    );
    const jobs = await Promise.all(ids.map((id) => runner.wait(id)));
    const wallMs = performance.now() - t0;
    const calls = (await runner.calls('vc1'))!;
    const failed = jobs.filter((j) => j.state !== 'succeeded');
    if (failed.length) process.stderr.write(`bench: ${failed.length} job(s) failed, first: ${failed[0]!.error}\n`);
    return {
      concurrency,
      hosts,
      wallMs,
      succeeded: jobs.length - failed.length,
      callsPerHost: calls.total / hosts,
      mutatingPerHost: calls.mutating / hosts,
      readsPerHost: (calls.total - calls.mutating) / hosts,
      byMethod: Object.fromEntries(
        Object.entries(calls.byMethod).map(([k, v]) => [k, Math.round((v / hosts) * 100) / 100]),
      ),
      duplicateReads: tracker.duplicates,
      duplicateReadsByMethod: { ...tracker.byMethod },
    };
  } finally {
    await runner.close();
    store.close();
    sim.stop();
  }
}

/** The benchmark: concurrency 1 and 8; prints and returns both runs, the ratio and the latency model used. */
export async function benchEngine(
  hosts = 100,
  latencySpec = 'vcenter',
): Promise<{ runs: EngineBenchRun[]; ratio: number; latency: string }> {
  const latency = latencyModel(latencySpec);
  process.stdout.write(`engine: simulator latency model "${latency.name}": ${latency.why}\n`);
  const one = await benchEngineRun(hosts, 1, latency);
  const eight = await benchEngineRun(hosts, 8, latency);
  const ratio = one.wallMs / eight.wallMs;
  for (const r of [one, eight]) {
    process.stdout.write(
      `engine: ${r.hosts} hosts, concurrency ${r.concurrency}: ${(r.wallMs / 1000).toFixed(1)} s, ${r.succeeded} succeeded, ` +
        `${r.callsPerHost.toFixed(1)} SOAP calls/host (${r.readsPerHost.toFixed(1)} reads/session, ${r.mutatingPerHost.toFixed(1)} mutating)\n`,
    );
    process.stdout.write(`engine:   by method per host: ${JSON.stringify(r.byMethod)}\n`);
    process.stdout.write(
      `engine:   duplicate reads (same method + objects/properties within one host's job, no change in between): ${r.duplicateReads} (target 0)` +
        `${r.duplicateReads ? ` ${JSON.stringify(r.duplicateReadsByMethod)}` : ''}\n`,
    );
  }
  process.stdout.write(
    `engine: concurrency 8 is ${ratio.toFixed(1)}x faster than 1 (target ≥ 5x; latency ${latency.why})\n`,
  );
  return { runs: [one, eight], ratio, latency: `${latency.name}: ${latency.why}` };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await benchEngine(Number(process.argv[2] ?? 100), process.argv[3] ?? 'vcenter');
}
