/**
 * Engine benchmark: N hosts (default 100) joined and fully configured on the vCenter simulator,
 * one configure-host job per host, at concurrency 1 and 8 (engine.concurrency-per-vcenter).
 * Prints wall time, the speed-up ratio and SOAP calls per host (by method).
 *
 * vCenter latency is modelled with the simulator's `-delay MS` (every call waits MS before it is
 * answered; default 25 ms here, about a LAN round trip plus vpxd work), so concurrency matters as it
 * does against a real vCenter. Target: concurrency 8 ≥ 5x faster than 1. Each run uses a fresh
 * simulator (a clean inventory). Reads: each job reads the cluster once and each host once per
 * round (plan, then read-back verification); no read is repeated within a round.
 *
 * Run: `npx tsx src/bench/engine.ts [hosts] [delayMs]`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import type { DesiredCluster } from '../clusters/types.js';
import { configSchema } from '../config/schema.js';
import { clusterSource } from '../engine/cluster-source.js';
import { JobRunner } from '../engine/jobs.js';
import { vcenterConnector } from '../engine/vsphere-adapter.js';
import { silentLogger } from '../log.js';
import { openStore } from '../store/index.js';

/** One run's numbers. */
export interface EngineBenchRun {
  concurrency: number;
  hosts: number;
  wallMs: number;
  succeeded: number;
  callsPerHost: number;
  mutatingPerHost: number;
  byMethod: Record<string, number>;
}

/** `../shared/tools/vcsim/start` from the project root (the build keeps src/ → dist/ depth). */
const VCSIM_START = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/tools/vcsim/start');

/** Starts the simulator (`-l 127.0.0.1:0 -tls` + args); returns its SDK URL, user, thumbprint and a stop function. */
async function startSim(args: string[]): Promise<{ sdkUrl: string; username: string; thumbprint: string; stop(): void }> {
  const out = await new Promise<string>((res, rej) => {
    execFile(VCSIM_START, ['-l', '127.0.0.1:0', '-tls', ...args], { timeout: 180_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`vcsim start failed: ${stderr || err.message}`));
      else res(stdout);
    });
  });
  const field = (n: string): string => new RegExp(`^${n} (\\S+)$`, 'm').exec(out)?.[1] ?? '';
  const u = new URL(field('url'));
  const username = decodeURIComponent(u.username);
  u.username = '';
  u.password = '';
  const pid = Number(field('pid'));
  return { sdkUrl: u.toString(), username, thumbprint: field('thumbprint'), stop: () => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } } };
}

function uuidOf(i: number): string {
  return `4c4c4544-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

function desired(n: number): DesiredCluster {
  return {
    name: 'bench', datacenter: 'DC0', vcenter: 'vc1', credentials: 'esx', file: '/bench.xml',
    ha: { enabled: true, hostMonitoring: true, vmMonitoring: 'vmMonitoringDisabled', admissionControl: { enabled: true, policy: 'hostFailuresTolerated', hostFailuresTolerated: 1 }, isolationResponse: 'powerOff', restartPriority: 'medium' },
    drs: { enabled: true, automationLevel: 'fullyAutomated', migrationThreshold: 3 },
    dpm: { enabled: false, automationLevel: 'automated', threshold: 3 },
    vswitches: [{ name: 'vSwitch1', uplinks: ['vmnic2', 'vmnic3'], mtu: 9000, numPorts: 256, teaming: { loadBalancing: 'loadbalance_srcid' }, security: {} }],
    portgroups: [{ name: 'vMotion', vswitch: 'vSwitch1', vlanId: 20 }, { name: 'vSAN', vswitch: 'vSwitch1', vlanId: 30 }],
    vmknics: [
      { device: 'vmk1', portgroup: 'vMotion', addressing: { mode: 'pool', pool: 'vmotion' }, mtu: 9000, services: ['vmotion'] },
      { device: 'vmk2', portgroup: 'vSAN', addressing: { mode: 'pool', pool: 'vsan' }, mtu: 9000, services: ['vsan'] },
    ],
    pools: [
      { name: 'vmotion', start: '10.20.0.10', end: '10.20.3.250', netmask: '255.255.252.0' },
      { name: 'vsan', start: '10.30.0.10', end: '10.30.3.250', netmask: '255.255.252.0' },
    ],
    ntpServers: ['ntp1.example', 'ntp2.example'], dns: { servers: ['10.0.0.53'], searchDomains: ['lab.example'] },
    advanced: [{ key: 'UserVars.SuppressShellWarning', value: 1, type: 'long' }],
    hosts: Array.from({ length: n }, (_, i) => ({ fqdn: `esx${i}.bench.example`, uuid: uuidOf(i), addresses: {} })),
  };
}

/** Joins and configures `hosts` hosts at `concurrency` on a fresh simulator with `-delay delayMs`. */
export async function benchEngineRun(hosts: number, concurrency: number, delayMs: number): Promise<EngineBenchRun> {
  const d = desired(hosts);
  const sim = await startSim(['-delay', String(delayMs), ...d.hosts.flatMap((h) => ['-host-uuid', `${h.fqdn}=${h.uuid}`])]);
  const store = await openStore(mkdtempSync(join(tmpdir(), 'sx-bench-engine-')));
  const env = { SX_VC_PW: 'x', SX_ESX_PW: 'y' };
  const config = configSchema.parse({
    vcenters: [{ name: 'vc1', url: sim.sdkUrl, username: sim.username, 'password-env': 'SX_VC_PW', thumbprint: sim.thumbprint, 'max-sessions': 8 }],
    credentials: [{ name: 'esx', username: 'root', 'password-env': 'SX_ESX_PW' }],
    engine: { 'concurrency-per-vcenter': concurrency },
  });
  const runner = new JobRunner({ jobs: store.jobs, config, clusters: clusterSource([d]), log: silentLogger, env, connect: vcenterConnector(config.vcenters, silentLogger, env) });
  try {
    runner.start();
    const t0 = performance.now();
    const ids = d.hosts.map((h) => runner.enqueueConfigureHost(h.uuid, { source: 'bench' }).id);
    const jobs = await Promise.all(ids.map((id) => runner.wait(id)));
    const wallMs = performance.now() - t0;
    const calls = (await runner.calls('vc1'))!;
    const failed = jobs.filter((j) => j.state !== 'succeeded');
    if (failed.length) process.stderr.write(`bench: ${failed.length} job(s) failed, first: ${failed[0]!.error}\n`);
    return {
      concurrency, hosts, wallMs, succeeded: jobs.length - failed.length,
      callsPerHost: calls.total / hosts, mutatingPerHost: calls.mutating / hosts,
      byMethod: Object.fromEntries(Object.entries(calls.byMethod).map(([k, v]) => [k, Math.round((v / hosts) * 100) / 100])),
    };
  } finally {
    await runner.close();
    store.close();
    sim.stop();
  }
}

/** The benchmark: concurrency 1 and 8; prints and returns both runs and the ratio. */
export async function benchEngine(hosts = 100, delayMs = 25): Promise<{ runs: EngineBenchRun[]; ratio: number }> {
  const one = await benchEngineRun(hosts, 1, delayMs);
  const eight = await benchEngineRun(hosts, 8, delayMs);
  const ratio = one.wallMs / eight.wallMs;
  for (const r of [one, eight]) {
    process.stdout.write(`engine: ${r.hosts} hosts, concurrency ${r.concurrency}: ${(r.wallMs / 1000).toFixed(1)} s, ${r.succeeded} succeeded, ` +
      `${r.callsPerHost.toFixed(1)} SOAP calls/host (${r.mutatingPerHost.toFixed(1)} mutating)\n`);
  }
  process.stdout.write(`engine: calls per host by method: ${JSON.stringify(eight.byMethod)}\n`);
  process.stdout.write(`engine: concurrency 8 is ${ratio.toFixed(1)}x faster than 1 (target ≥ 5x, simulator -delay ${delayMs} ms)\n`);
  return { runs: [one, eight], ratio };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await benchEngine(Number(process.argv[2] ?? 100), Number(process.argv[3] ?? 25));
}
