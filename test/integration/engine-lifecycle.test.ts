/**
 * The stateless lifecycle (issue 21) against the vCenter simulator's stateless hosts
 * (test/peers/vcsim: /vcsim-test/boot and /reboot give a host a new certificate, a blank root
 * password and the image's default configuration, notResponding in vCenter; its own SDK at
 * esx-url, chosen by TLS SNI). Phone-homes go through the real HostRegistry with real boot tokens
 * and the thumbprints the (simulated) host presents; the engine's JobRunner is the queue.
 *
 * - first boot → phone-home → AddHost_Task refused (blank password) → root password set on the
 *   host itself → added with the phone-home thumbprint → converged; then three reboots in a row,
 *   each: phone-home → ReconnectHost_Task with the new thumbprint → converged, networking read back
 *   equal to the file, no manual step;
 * - two members rebooted while a third stays down: one apply reconnects the two, the third is
 *   "waiting for boot", the job reports each outcome;
 * - a phone-home whose thumbprint is not vCenter's for a connected host: refused, counted, no change;
 * - wrong configured password and a host password that is not blank: a clear error, one attempt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { networkedCluster } from '../helpers/desired-cluster.js';
import { lifecycleRegistry, lifecycleRunner } from '../helpers/lifecycle-rig.js';
import { initiatorPhoneHome } from '../helpers/phone-home.js';
import { startVcsim, vcenterConfigFor, type HostThumbprints, type Vcsim } from '../helpers/vcsim.js';
import { openStore, type Store } from '../../src/store/index.js';
import { JobRunner, type ClusterSource } from '../../src/engine/jobs.js';
import { connectVcenter, esxiConnector, vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { HostRegistry } from '../../src/hosts/registry.js';
import type { JobQueue } from '../../src/engine/queue.js';
import { BootTokens } from '../../src/hosts/tokens.js';
import { HostSession } from '../../src/vsphere/host-session.js';
import { planCluster } from '../../src/engine/plan.js';
import { bootLookup, phoneHomeSpoofs } from '../../src/engine/job-lifecycle.js';
import { checkDrift } from '../../src/engine/drift.js';
import type { DesiredCluster, MemberHost } from '../../src/clusters/types.js';
import type { VsphereVcenter } from '../../src/engine/vsphere-adapter.js';

const PW = 'Configured-Root-Pw1!';
const env = { SX_VC_PW: 'unused', SX_ESX_PW: PW };
const M: MemberHost[] = ['a', 'b', 'c', 'd'].map((x, i) => ({
  fqdn: `esx-${x}.lab.local`,
  uuid: `4c4c4544-0021-3510-8052-e1c04f30303${i}`,
  addresses: { vmk1: `10.0.20.1${i}` },
}));

function cluster(name: string, hosts: MemberHost[]): DesiredCluster {
  return networkedCluster({ name, hosts });
}

let sim: Vcsim;
let store: Store;
let runner: JobRunner;
let registry: HostRegistry;
let tokens: BootTokens;
let vc: VsphereVcenter;
let files: DesiredCluster[];
let cfg: Config;

async function spoofCount(): Promise<number> {
  return (await phoneHomeSpoofs.get()).values.reduce((n, v) => n + v.value, 0);
}

/**
 * The host phones home as initiator.py does: its UUID, a fresh boot token, its certificate's
 * thumbprints (none: an initiator that does not send them).
 */
async function phoneHome(h: MemberHost, t?: HostThumbprints) {
  return await registry.phoneHome(initiatorPhoneHome(h, await tokens.issue(h.uuid), t));
}

async function waitJob(id: string) {
  const j = await runner.wait(id);
  return { ...j, steps: await store.jobs.steps(id) };
}

/** Reads the member back from vCenter and plans it against the file: [] = converged. */
async function converged(d: DesiredCluster, h: MemberHost) {
  const state = await vc.readState(d.datacenter, d.name, [h.uuid], ['UserVars.SuppressShellWarning']);
  const host = state.hosts[h.uuid]!;
  const steps = planCluster({ ...d, hosts: [h] }, state);
  return { host, steps };
}

beforeAll(async () => {
  sim = await startVcsim(M.flatMap((h) => ['-host-uuid', `${h.fqdn}=${h.uuid}`]));
  cfg = configSchema.parse({
    ...vcenterConfigFor(sim),
    engine: { 'max-attempts': 2, 'esxi-sdk-url': sim.esxSdkUrl },
  });
  env.SX_VC_PW = sim.password;
  store = await openStore(':memory:');
  files = [cluster('stateless', M.slice(0, 3)), cluster('other', [M[3]!])];
  const source: ClusterSource = {
    get: (n) => files.find((c) => c.name === n),
    findByHost: (u) => files.find((c) => c.hosts.some((h) => h.uuid === u)),
  };
  runner = await lifecycleRunner({ store, config: cfg, clusters: source, env, retryBaseMs: 100 });
  tokens = new BootTokens(store.tokens, 3_600_000);
  // the runner of the moment (the restart test replaces it, as a restarted server has a new one)
  const queue: JobQueue = {
    enqueueConfigureHost: (u, o) => runner.enqueueConfigureHost(u, o),
    enqueueApplyCluster: (c, o) => runner.enqueueApplyCluster(c, o),
  };
  registry = lifecycleRegistry(store, tokens, queue, source);
  vc = await connectVcenter(cfg.vcenters[0]!, silentLogger, env);
}, 200_000);

afterAll(async () => {
  await runner?.close();
  await vc?.close();
  store?.close();
  await sim?.stop();
});

describe('engine: the stateless lifecycle against the simulator', () => {
  it('first boot joins with the phone-home thumbprint and sets the root password; three reboots each rejoin and reconverge', async () => {
    const d = files[0]!;
    for (const h of d.hosts) {
      const t = await sim.boot(h.fqdn);
      const r = await phoneHome(h, t);
      expect(r.result).toBe('ok');
      const job = await waitJob((r as { jobId: string }).jobId);
      expect(job.error).toBeNull();
      expect(job.state).toBe('succeeded');
      const add = job.steps.filter((s) => s.name === 'AddHost_Task' && s.state === 'done');
      expect(add).toHaveLength(1);
      expect(add[0]!.result).toMatchObject({ sslThumbprint: t.thumbprint });
      const log = (await store.jobs.logs(job.id)).map((l) => l.msg);
      expect(log.some((m) => m.includes(`root password of ${h.fqdn} set`))).toBe(true);
      expect(log.join('\n')).not.toContain(PW);
      expect(await converged(d, h)).toMatchObject({ steps: [], host: { connectionState: 'connected' } });
      expect((await store.hostBoots.get(h.uuid))?.joinedThumbprint).toBe(t.thumbprint);
    }
    const a = d.hosts[0]!;
    let last = '';
    for (let reboot = 1; reboot <= 3; reboot++) {
      const t = await sim.reboot(a.fqdn);
      expect(t.thumbprint).not.toBe(last);
      last = t.thumbprint;
      const down = await converged(d, a);
      expect(down.host.connectionState).toBe('notResponding');
      expect(down.host.vswitches.map((v) => v.name)).toEqual(['vSwitch0']); // image defaults
      const r = await phoneHome(a, t);
      const job = await waitJob((r as { jobId: string }).jobId);
      expect(job.error, `reboot ${reboot}`).toBeNull();
      expect(job.state).toBe('succeeded');
      const names = job.steps.filter((s) => s.state === 'done').map((s) => s.name);
      expect(names[0]).toBe('ReconnectHost_Task');
      for (const n of ['AddVirtualSwitch', 'AddPortGroup', 'AddVirtualNic', 'UpdateDateTimeConfig', 'UpdateOptions'])
        expect(names).toContain(n);
      const back = await converged(d, a);
      expect(back.steps).toEqual([]);
      expect(back.host.connectionState).toBe('connected');
      expect(back.host.vswitches.find((v) => v.name === 'vSwitch1')).toMatchObject({ mtu: 9000, numPorts: 256 });
      expect(back.host.vmknics.find((n) => n.portgroup === 'vMotion')).toMatchObject({ ipAddress: '10.0.20.10' });
      expect(back.host.ntpServers).toEqual(['0.pool.ntp.example']);
      expect((await store.hostBoots.get(a.uuid))?.joinedThumbprint).toBe(t.thumbprint);
    }
  }, 180_000);

  it('two members rebooted while a third stays down: both rejoin, the third waits for boot, each outcome reported', async () => {
    const d = files[0]!;
    const [a, b, c] = d.hosts as [MemberHost, MemberHost, MemberHost];
    const ta = await sim.reboot(a.fqdn);
    const tb = await sim.reboot(b.fqdn);
    await sim.reboot(c.fqdn); // stays in its firmware: never phones home
    // a and b phoned home (recorded as the registry does) but their configure jobs are not what runs:
    // one apply of the whole cluster
    const now = Date.now();
    await store.hostBoots.recordPhoneHome(a.uuid, {
      at: now,
      verifiedBy: 'token',
      thumbprint: ta.sha256,
      thumbprintSha1: ta.thumbprint,
    });
    await store.hostBoots.recordPhoneHome(b.uuid, {
      at: now,
      verifiedBy: 'token',
      thumbprint: tb.sha256,
      thumbprintSha1: tb.thumbprint,
    });
    const job = await waitJob((await runner.enqueueApplyCluster(d.name, { source: 'test' })).id);
    expect(job.state).toBe('succeeded');
    expect(job.error).toMatch(new RegExp(`converged except 1 member\\(s\\): ${c.fqdn}: waiting for boot`));
    const reconnected = job.steps.filter((s) => s.name === 'ReconnectHost_Task' && s.state === 'done');
    expect(reconnected.map((s) => s.hostUuid).sort()).toEqual([a.uuid, b.uuid].sort());
    expect(job.steps.some((s) => s.hostUuid === c.uuid)).toBe(false);
    const outcome = (await store.jobs.logs(job.id)).find((l) => l.msg.startsWith('per-host outcome'))!.msg;
    expect(outcome).toBe(`per-host outcome: ${a.fqdn} converged, ${b.fqdn} converged, ${c.fqdn} waiting-for-boot`);
    expect((await converged(d, a)).steps).toEqual([]);
    expect((await converged(d, b)).steps).toEqual([]);
    expect((await converged(d, c)).host.connectionState).toBe('notResponding');
    // plan and drift show it as waiting for boot, never an error for the cluster
    const drift = await checkDrift(vc, d, Date.now(), undefined, bootLookup(store.hostBoots));
    expect(drift.held).toMatchObject([{ uuid: c.uuid, reason: 'waiting-for-boot' }]);
    expect(drift.drifted).toBe(false);
    // c boots: its phone-home brings it back
    const tc = await sim.reboot(c.fqdn);
    const r = await phoneHome(c, tc);
    expect((await waitJob((r as { jobId: string }).jobId)).state).toBe('succeeded');
    expect((await converged(d, c)).steps).toEqual([]);
  }, 180_000);

  it('a phone-home whose thumbprint is not vCenter’s for a connected host is refused and counted; nothing changes', async () => {
    const d = files[0]!;
    const a = d.hosts[0]!;
    expect((await converged(d, a)).host.connectionState).toBe('connected');
    const before = (await runner.calls('vc1'))!.mutating;
    const spoofs = await spoofCount();
    const fake: HostThumbprints = { thumbprint: '01:'.repeat(19) + '01', sha256: '02:'.repeat(31) + '02' };
    const r = await phoneHome(a, fake);
    const job = await waitJob((r as { jobId: string }).jobId);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/refused as a possible spoof, nothing changed/);
    expect(await spoofCount()).toBe(spoofs + 1);
    expect((await runner.calls('vc1'))!.mutating).toBe(before);
    expect((await converged(d, a)).host.connectionState).toBe('connected');
  }, 60_000);

  it('a declared member that never booted is not added: its job ends blocked, "waiting for phone-home", shown in the plan', async () => {
    const h = M[3]!;
    expect(await store.hostBoots.get(h.uuid)).toBeUndefined();
    const before = (await runner.calls('vc1'))?.byMethod['AddHost_Task'] ?? 0;
    const job = await waitJob((await runner.enqueueConfigureHost(h.uuid, { source: 'test' })).id);
    expect(job.state).toBe('blocked');
    expect(job.error).toMatch(
      new RegExp(`${h.fqdn}: waiting for phone home — ${h.fqdn} has not phoned home yet \\(no boot recorded\\)`),
    );
    expect(job.steps.some((s) => s.hostUuid === h.uuid)).toBe(false);
    expect((await runner.calls('vc1'))?.byMethod['AddHost_Task'] ?? 0).toBe(before);
    const plan = await checkDrift(vc, files[1]!, Date.now(), undefined, bootLookup(store.hostBoots));
    expect(plan.held).toMatchObject([{ uuid: h.uuid, reason: 'waiting-for-phone-home' }]);
    expect(plan.steps.some((s) => s.name === 'AddHost_Task')).toBe(false);
  }, 60_000);

  it('wrong configured password and a host password that is not blank: a clear job error, one attempt', async () => {
    const h = M[3]!;
    const t = await sim.boot(h.fqdn);
    // someone set another root password on the host
    const s = await HostSession.connect({ url: sim.esxSdkUrl, fqdn: h.fqdn, thumbprint: t.sha256 });
    await s.login('root', '');
    await s.updateUser({ id: 'root', password: 'Someone-Else-Pw9!' });
    await s.close();
    const before = (await runner.calls('vc1'))?.byMethod['AddHost_Task'] ?? 0;
    const r = await phoneHome(h, t);
    const job = await waitJob((r as { jobId: string }).jobId);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/the host's root password is not blank \(not a fresh boot\).*credentials\[esx\]/);
    expect(job.error).not.toContain(PW);
    expect((await runner.calls('vc1'))!.byMethod['AddHost_Task']).toBe(before + 1);
    expect(job.attempts).toBeLessThanOrEqual(1);
  }, 60_000);

  it('after a restart, a boot that phoned home while statelesx was down gets its rejoin queued; boots whose job failed for good do not', async () => {
    const d = files[0]!;
    const b = d.hosts[1]!;
    const spoofs = await spoofCount();
    await runner.close(); // statelesx is down …
    const t = await sim.reboot(b.fqdn);
    // … while the host boots and phones home (recorded by a registry with no engine behind it)
    await store.hostBoots.recordPhoneHome(b.uuid, {
      at: Date.now(),
      verifiedBy: 'token',
      thumbprint: t.sha256,
      thumbprintSha1: t.thumbprint,
    });
    runner = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: {
        get: (n) => files.find((c) => c.name === n),
        findByHost: (u) => files.find((c) => c.hosts.some((h) => h.uuid === u)),
      },
      log: silentLogger,
      retryBaseMs: 100,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
      boots: store.hostBoots,
      esxi: esxiConnector(silentLogger, 10_000),
    });
    // a's refused phone-home (spoof) and d's refused login ended failed for this very boot: not retried
    expect(await store.hostBoots.pendingRejoins()).toEqual([b.uuid]);
    await runner.start();
    const atStart = (await store.jobs.list({ limit: 10_000 })).filter((j) => j.requestedBy === 'engine:restart');
    expect(atStart.map((j) => j.target)).toEqual([b.uuid]);
    const ref = await runner.enqueueConfigureHost(b.uuid, { source: 'test' });
    expect(ref.existing).toBe(true); // queued by start()
    const job = await waitJob(ref.id);
    expect(job.requestedBy).toBe('engine:restart');
    expect(job.state).toBe('succeeded');
    expect(job.steps.some((s) => s.name === 'ReconnectHost_Task' && s.state === 'done')).toBe(true);
    expect((await converged(d, b)).steps).toEqual([]);
    expect(await store.hostBoots.pendingRejoins()).not.toContain(b.uuid);
    expect(await spoofCount()).toBe(spoofs); // the spoof is not counted again
    expect((await runner.calls('vc1'))!.byMethod['AddHost_Task'] ?? 0).toBe(0); // d's login not tried again
  }, 60_000);

  it('hardware swap: another UUID under a member FQDN vCenter knows fails naming both UUIDs; nothing taken over', async () => {
    const a = files[0]!.hosts[0]!;
    const NEW = '4c4c4544-0021-3510-8052-e1c04f3030ff';
    // the operator replaced the machine and wrote its UUID into the file; vCenter still has the old one
    files[0] = cluster('stateless', [{ ...a, uuid: NEW }, ...files[0]!.hosts.slice(1)]);
    // the new machine boots and phones home (a member is added only after that)
    const r = await phoneHome({ ...a, uuid: NEW });
    expect(r.result).toBe('ok');
    const job = await waitJob((r as { jobId: string }).jobId);
    expect(job.state).toBe('failed');
    expect(job.error).toContain(NEW);
    expect(job.error).toContain(a.uuid);
    expect(job.error).toMatch(/reset-thumbprint|remove/);
  }, 60_000);
});
