/**
 * Engine reboot benchmark (issue 21, "Done when"): N members (default 100) of one cluster, joined
 * and converged on the vCenter simulator, are rebooted at once (its stateless reboot hook: a new
 * certificate, a blank root password, the image's default configuration, notResponding); each
 * phones home on its new boot through the real phone-home registry, which records the boot
 * (store host_boots) and queues the rejoin, as in production. Measured: from the reboots until every
 * member converged again (ReconnectHost_Task after setting the root password on the host's own SDK,
 * the whole host configuration, read-back verification).
 *
 * The bound: at most `engine.concurrency-per-vcenter` (L) jobs run per vCenter, so N rejoins take at
 * least ceil(N / L) × the time of one rejoin alone, measured in the same run on the same simulator
 * (one member rebooted while nothing else runs). Reported: both times and their ratio (1.00x = as
 * fast as the concurrency limit allows; above it, what the shared vCenter connection and sessions
 * cost).
 *
 * Latency: the engine benchmark's model (src/bench/engine.ts, {@link LATENCY_MODELS}); with the
 * `vcenter` model ReconnectHost_Task also takes 2000 ms, as AddHost_Task does there (vCenter checks
 * the host, pushes and starts its agent and syncs it: several seconds to tens of seconds on real
 * systems; shortened to bound the run). Calls on a host's own SDK (Login, UpdateUser) are not
 * delayed.
 *
 * Run: `npx tsx src/bench/engine-reboot.ts [members] [concurrency] [vcenter|flat|none|DELAY_MS]`.
 */
import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { clusterLookups, fixedClusterFiles } from '../app/cluster-lookups.js';
import { JobRunner } from '../engine/jobs.js';
import { esxiConnector, vcenterConnector } from '../engine/vsphere-adapter.js';
import { HostRegistry } from '../hosts/registry.js';
import { BootTokens } from '../hosts/tokens.js';
import type { MemberHost } from '../clusters/types.js';
import { silentLogger } from '../log.js';
import { openStore, type Store } from '../store/index.js';
import { desired, LATENCY_MODELS, latencyModel, simConfig, startSimFor, type LatencyModel } from './engine.js';

/** ReconnectHost_Task's delay added to a model that delays individual methods (see the module docstring), ms. */
export const RECONNECT_DELAY_MS = 2000;

/** One run's numbers. */
export interface RebootBenchRun {
  members: number;
  /** engine.concurrency-per-vcenter. */
  concurrency: number;
  /** First join of all members (boot, phone-home, AddHost_Task, configuration), ms. */
  joinMs: number;
  /** One member rebooted alone: reboot → converged again, ms. */
  oneRejoinMs: number;
  /** All members rebooted at once: the reboots → the last one converged again, ms. */
  allRejoinMs: number;
  /** ceil(members / concurrency) × oneRejoinMs. */
  boundMs: number;
  /** allRejoinMs / boundMs. */
  ratio: number;
  /** Rejoin jobs that succeeded (of `members`). */
  succeeded: number;
  /** Members whose boot is recorded as converged after the rejoins (of `members`). */
  converged: number;
  /** `name: why` of the latency model. */
  latency: string;
}

/** The model with ReconnectHost_Task delayed like AddHost_Task, when it delays methods one by one. */
export function withReconnectDelay(model: LatencyModel): LatencyModel {
  const i = model.args.indexOf('-method-delay');
  if (i < 0 || model.args[i + 1] === undefined) return model;
  const args = [...model.args];
  args[i + 1] = `${args[i + 1]},ReconnectHost_Task:${RECONNECT_DELAY_MS}`;
  return { ...model, args, why: `${model.why}, +${RECONNECT_DELAY_MS} ms on ReconnectHost_Task` };
}

/** Thumbprints the simulator's boot/reboot hook answers (colon hex upper case). */
interface Thumbprints {
  thumbprint: string;
  sha256: string;
}

/** POST /vcsim-test/{boot|reboot}?name=FQDN on the simulator; resolves to the host's new thumbprints. */
function bootHook(baseUrl: string, hook: 'boot' | 'reboot', fqdn: string): Promise<Thumbprints> {
  return new Promise((res, rej) => {
    const req = request(
      `${baseUrl}/vcsim-test/${hook}?name=${encodeURIComponent(fqdn)}`,
      { method: 'POST', rejectUnauthorized: false },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (d: Buffer) => chunks.push(d));
        r.on('error', rej);
        r.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (r.statusCode !== 200) return rej(new Error(`vcsim ${hook} ${fqdn}: HTTP ${r.statusCode} ${text}`));
          res(JSON.parse(text) as Thumbprints);
        });
      },
    );
    req.on('error', rej);
    req.end();
  });
}

/** What a run needs to boot members and wait for their jobs. */
interface Fleet {
  store: Store;
  runner: JobRunner;
  registry: HostRegistry;
  tokens: BootTokens;
  baseUrl: string;
}

/**
 * Boots (or reboots) the members through the simulator's hook, then each phones home on that boot
 * through the registry (token, thumbprints), which queues its job; resolves once every job ended.
 * @returns the jobs' final states
 */
async function bootAndRejoin(f: Fleet, hosts: MemberHost[], hook: 'boot' | 'reboot'): Promise<string[]> {
  const booted: Array<[MemberHost, Thumbprints]> = [];
  for (const h of hosts) booted.push([h, await bootHook(f.baseUrl, hook, h.fqdn)]);
  const ids: string[] = [];
  for (const [h, t] of booted) {
    const r = await f.registry.phoneHome({
      claim: {
        uuid: { smbios: h.uuid, wire: h.uuid },
        hostname: h.fqdn.split('.')[0],
        token: await f.tokens.issue(h.uuid),
        macs: [],
        thumbprint: t.sha256,
        thumbprintSha1: t.thumbprint,
        form: 'extension',
      },
      address: '127.0.0.1',
      transport: 'tcp',
      requestId: 'bench',
    });
    if (r.result !== 'ok') throw new Error(`bench: phone-home of ${h.fqdn} was ${r.result}`);
    ids.push(r.jobId);
  }
  const jobs = await Promise.all(ids.map((id) => f.runner.wait(id)));
  const failed = jobs.filter((j) => j.state !== 'succeeded');
  if (failed.length) process.stderr.write(`bench: ${failed.length} job(s) failed, first: ${failed[0]!.error}\n`);
  return jobs.map((j) => j.state);
}

/** One run on a fresh simulator: join all, one rejoin alone, then all rebooted at once. */
export async function benchEngineRebootRun(
  members: number,
  concurrency = 8,
  latency: LatencyModel = LATENCY_MODELS['vcenter']!,
): Promise<RebootBenchRun> {
  const model = withReconnectDelay(latency);
  const d = desired(members);
  const sim = await startSimFor(model, d);
  const store = await openStore(mkdtempSync(join(tmpdir(), 'sx-bench-reboot-')));
  const env = { SX_VC_PW: 'x', SX_ESX_PW: 'Bench-Root-Pw1!' };
  const config = simConfig(sim, { 'concurrency-per-vcenter': concurrency, 'esxi-sdk-url': sim.esxSdkUrl });
  const lookups = clusterLookups(fixedClusterFiles([d]));
  const runner = new JobRunner({
    jobs: store.jobs,
    config,
    clusters: lookups.engine,
    log: silentLogger,
    env,
    connect: vcenterConnector(config.vcenters, silentLogger, env),
    boots: store.hostBoots,
    esxi: esxiConnector(silentLogger),
  });
  const tokens = new BootTokens(store.tokens, 3_600_000);
  const registry = new HostRegistry({
    hosts: store.hosts,
    phoneHomes: store.phoneHomes,
    tokens,
    queue: runner,
    boots: store.hostBoots,
    declared: lookups.declared,
    requireToken: true,
    log: silentLogger,
  });
  const f: Fleet = { store, runner, registry, tokens, baseUrl: sim.baseUrl };
  try {
    await runner.start();
    let t = performance.now();
    const joined = await bootAndRejoin(f, d.hosts, 'boot');
    const joinMs = performance.now() - t;
    if (joined.some((s) => s !== 'succeeded'))
      throw new Error('bench: the first join did not succeed for every member');
    t = performance.now();
    await bootAndRejoin(f, d.hosts.slice(0, 1), 'reboot');
    const oneRejoinMs = performance.now() - t;
    t = performance.now();
    const states = await bootAndRejoin(f, d.hosts, 'reboot');
    const allRejoinMs = performance.now() - t;
    const boundMs = Math.ceil(members / concurrency) * oneRejoinMs;
    const boots = await Promise.all(d.hosts.map((h) => store.hostBoots.get(h.uuid)));
    const converged = boots.filter(
      (b) => b?.convergedAt != null && b.convergedAt >= (b.phonedHomeAt ?? Infinity),
    ).length;
    return {
      members,
      concurrency,
      joinMs,
      oneRejoinMs,
      allRejoinMs,
      boundMs,
      ratio: allRejoinMs / boundMs,
      succeeded: states.filter((s) => s === 'succeeded').length,
      converged,
      latency: `${model.name}: ${model.why}`,
    };
  } finally {
    await runner.close();
    store.close();
    sim.stop();
  }
}

/** The benchmark: prints and returns one run (100 members, concurrency 8, the `vcenter` model by default). */
export async function benchEngineReboot(
  members = 100,
  concurrency = 8,
  latencySpec = 'vcenter',
): Promise<RebootBenchRun> {
  const r = await benchEngineRebootRun(members, concurrency, latencyModel(latencySpec));
  process.stdout.write(
    `engine reboot: ${r.members} members rebooted at once, concurrency ${r.concurrency}: all converged again in ` +
      `${(r.allRejoinMs / 1000).toFixed(1)} s (${r.succeeded} jobs succeeded, ${r.converged} boots converged); one alone ` +
      `${(r.oneRejoinMs / 1000).toFixed(2)} s; bound ceil(${r.members}/${r.concurrency}) x one = ${(r.boundMs / 1000).toFixed(1)} s; ` +
      `ratio ${r.ratio.toFixed(2)}x (first join ${(r.joinMs / 1000).toFixed(1)} s; latency ${r.latency})\n`,
  );
  return r;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await benchEngineReboot(Number(process.argv[2] ?? 100), Number(process.argv[3] ?? 8), process.argv[4] ?? 'vcenter');
}
