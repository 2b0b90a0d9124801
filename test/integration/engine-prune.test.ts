/**
 * Opt-in removal (`<network prune="true">`) and the pool gateway against the vCenter simulator
 * (test/peers/vcsim): the plan shows each removal; apply removes exactly those (read back through
 * the property collector); vmk0, the management port group and vSwitch0 survive; without prune
 * nothing is removed; the pool gateway is the vmknic's default gateway (read back); a port group a
 * VM still uses (ESXi: ResourceInUse) fails the job with a clear step failure.
 */
import { request } from 'node:https';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { desiredCluster } from '../helpers/desired-cluster.js';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { openStore, type Store } from '../../src/store/index.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { clusterLookups, fixedClusterFiles } from '../../src/app/cluster-lookups.js';
import { checkDrift } from '../../src/engine/drift.js';
import { planCluster, type Step } from '../../src/engine/plan.js';
import { readCurrent } from '../../src/engine/apply.js';
import { vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { DesiredCluster, MemberHost, PortgroupSpec, VmkNicSpec, VSwitchSpec } from '../../src/clusters/types.js';
import type { VcenterApi } from '../../src/engine/vcenter.js';

const uuid = (n: number) => `4c4c4544-0050-3510-8052-b3c04f4e35${String(n).padStart(2, '0')}`;
const HOSTS: MemberHost[] = [1, 2].map((n) => ({ fqdn: `esx${n}.prune.example`, uuid: uuid(n), addresses: {} }));
const env = { SX_VC_PW: 'x', SX_ESX_PW: 'y' };

const vswitch = (name: string, uplink: string): VSwitchSpec => ({
  name,
  uplinks: [uplink],
  mtu: 9000,
  numPorts: 128,
  teaming: {},
  security: {},
});
const vmotionNic: VmkNicSpec = {
  device: 'vmk1',
  portgroup: 'vMotion',
  addressing: { mode: 'pool', pool: 'vmotion' },
  mtu: 9000,
  services: ['vmotion'],
};
const storageNic: VmkNicSpec = {
  device: 'vmk2',
  portgroup: 'old-storage',
  addressing: { mode: 'dhcp' },
  mtu: 9000,
  services: [],
};

/** vSwitch1/vMotion/vmk1 (pool with gateway 10.20.0.1); `extra` adds vSwitch2/old-storage/vmk2 and more port groups. */
function file(o: { prune?: boolean | undefined; extra?: boolean; portgroups?: PortgroupSpec[] } = {}): DesiredCluster {
  return desiredCluster({
    name: 'pruned',
    drs: { enabled: false, automationLevel: 'fullyAutomated', migrationThreshold: 3 },
    vswitches: [vswitch('vSwitch1', 'vmnic2'), ...(o.extra ? [vswitch('vSwitch2', 'vmnic3')] : [])],
    portgroups: [
      { name: 'vMotion', vswitch: 'vSwitch1', vlanId: 20 },
      ...(o.extra ? [{ name: 'old-storage', vswitch: 'vSwitch2', vlanId: 40 }] : []),
      ...(o.portgroups ?? []),
    ],
    vmknics: [vmotionNic, ...(o.extra ? [storageNic] : [])],
    pools: [
      { name: 'vmotion', start: '10.20.0.10', end: '10.20.0.19', netmask: '255.255.255.0', gateway: '10.20.0.1' },
    ],
    ...(o.prune === undefined ? {} : { prune: o.prune }),
    hosts: HOSTS,
  });
}

/** POST /vcsim-test/vm: a VM on `host` connected to its port group `network` (test/peers/vcsim/extend_vmnet.go). */
async function addVm(sim: Vcsim, host: string, network: string): Promise<void> {
  const url = `${sim.baseUrl}/vcsim-test/vm?host=${encodeURIComponent(host)}&network=${encodeURIComponent(network)}`;
  await new Promise<void>((res, rej) => {
    const req = request(url, { method: 'POST', rejectUnauthorized: false }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString()));
      r.on('end', () =>
        r.statusCode === 200 ? res() : rej(new Error(`vm hook: HTTP ${String(r.statusCode)} ${body}`)),
      );
    });
    req.on('error', rej);
    req.end();
  });
}

/** Network objects of a host as read back: `vswitch:…`, `portgroup:…`, `vmknic:device@portgroup`. */
async function inventory(vc: VcenterApi, u: string): Promise<string[]> {
  const h = (await vc.readState('DC0', 'pruned', [u], [])).hosts[u]!;
  return [
    ...h.vswitches.map((v) => `vswitch:${v.name}`),
    ...h.portgroups.map((p) => `portgroup:${p.name}`),
    ...h.vmknics.map((n) => `vmknic:${n.device}@${n.portgroup}`),
  ].sort();
}

const line = (s: Step) => `${s.name} ${s.target}`;

describe('prune and the pool gateway (vcsim)', () => {
  let sim: Vcsim;
  let store: Store;
  let runner: JobRunner;
  let current: DesiredCluster;
  let vc: VcenterApi;

  beforeAll(async () => {
    sim = await startVcsim(HOSTS.flatMap((h) => ['-host-uuid', `${h.fqdn}=${h.uuid}`]));
    store = await openStore(':memory:');
    const cfg = configSchema.parse({ ...vcenterConfigFor(sim), engine: { 'max-attempts': 2 } });
    current = file({ extra: true });
    const lookups = () => clusterLookups(fixedClusterFiles([current])).engine;
    runner = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      log: silentLogger,
      retryBaseMs: 200,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
      clusters: { get: (n) => lookups().get(n), findByHost: (u) => lookups().findByHost(u) },
    });
    await runner.start();
    vc = await runner.vcenter('vc1');
  }, 200_000);
  afterAll(async () => {
    await runner?.close();
    store?.close();
    await sim?.stop();
  });

  const apply = async (d: DesiredCluster) => {
    current = d;
    const job = await runner.wait((await runner.enqueueApplyCluster('pruned', { source: 'test' })).id);
    return { job, steps: await store.jobs.steps(job.id) };
  };
  const plan = async (d: DesiredCluster) =>
    planCluster(
      d,
      await readCurrent(
        vc,
        d,
        d.hosts.map((h) => h.uuid),
      ),
    );

  it('applies the pool gateway as the vmknic default gateway (read back), and converges', async () => {
    const { job } = await apply(file({ extra: true }));
    expect(job.error).toBeNull();
    const state = await vc.readState(
      'DC0',
      'pruned',
      HOSTS.map((h) => h.uuid),
      [],
    );
    for (const h of HOSTS) {
      const vmk1 = state.hosts[h.uuid]!.vmknics.find((n) => n.portgroup === 'vMotion')!;
      expect(vmk1).toMatchObject({ dhcp: false, subnetMask: '255.255.255.0', gateway: '10.20.0.1' });
    }
    expect(await plan(file({ extra: true }))).toEqual([]);
    // the gateway changed in the file: UpdateVirtualNic of vmk1 on each host, and it is read back
    const moved = file({ extra: true });
    moved.pools[0] = { ...moved.pools[0]!, gateway: '10.20.0.254' };
    const steps = await plan(moved);
    expect(steps.map((s) => [s.name, s.before, s.after])).toEqual([
      ['UpdateVirtualNic', { gateway: '10.20.0.1' }, { gateway: '10.20.0.254' }],
      ['UpdateVirtualNic', { gateway: '10.20.0.1' }, { gateway: '10.20.0.254' }],
    ]);
    expect((await apply(moved)).job.error).toBeNull();
    const after = await readCurrent(
      vc,
      moved,
      HOSTS.map((h) => h.uuid),
    );
    expect(HOSTS.map((h) => after.hosts[h.uuid]!.vmknics.find((n) => n.device === 'vmk1')?.gateway)).toEqual([
      '10.20.0.254',
      '10.20.0.254',
    ]);
  }, 120_000);

  it('without prune, objects dropped from the file stay on the hosts', async () => {
    const before = await inventory(vc, uuid(1));
    expect(before).toContain('vswitch:vSwitch2');
    expect(before).toContain('vmknic:vmk2@old-storage');
    for (const prune of [undefined, false]) {
      const d = file({ prune });
      d.pools[0] = { ...d.pools[0]!, gateway: '10.20.0.254' };
      expect((await plan(d)).filter((s) => s.name.startsWith('Remove'))).toEqual([]);
      const { job, steps } = await apply(d);
      expect(job.error).toBeNull();
      expect(steps.filter((s) => s.name.startsWith('Remove'))).toEqual([]);
    }
    expect(await inventory(vc, uuid(1))).toEqual(before);
  }, 120_000);

  it('with prune, the plan and drift show each removal; apply removes exactly them; vmk0, the management port group and vSwitch0 survive', async () => {
    const d = file({ prune: true });
    d.pools[0] = { ...d.pools[0]!, gateway: '10.20.0.254' };
    const planned = await plan(d);
    const expected = HOSTS.flatMap((h) => [
      `RemoveVirtualNic host:${h.fqdn} vmknic:old-storage (vmk2)`,
      `RemovePortGroup host:${h.fqdn} portgroup:VM Network`,
      `RemovePortGroup host:${h.fqdn} portgroup:old-storage`,
      `RemoveVirtualSwitch host:${h.fqdn} vswitch:vSwitch2`,
    ]);
    expect(planned.map(line)).toEqual(expected);
    const drift = await checkDrift(vc, d);
    expect(drift.drifted).toBe(true);
    expect(drift.driftSteps.map(line)).toEqual(expected);

    const { job, steps } = await apply(d);
    expect(job.error).toBeNull();
    expect(steps.filter((s) => s.state === 'done').map((s) => `${s.name} ${s.target}`)).toEqual(expected);
    for (const h of HOSTS) {
      expect(await inventory(vc, h.uuid)).toEqual([
        'portgroup:Management Network',
        'portgroup:vMotion',
        'vmknic:vmk0@Management Network',
        'vmknic:vmk1@vMotion',
        'vswitch:vSwitch0',
        'vswitch:vSwitch1',
      ]);
    }
    expect(await plan(d)).toEqual([]);
  }, 120_000);

  it('a port group a VM still uses: RemovePortGroup fails with ResourceInUse, the job fails with a clear step, the port group stays', async () => {
    const tenant: PortgroupSpec = { name: 'tenant', vswitch: 'vSwitch1', vlanId: 50 };
    const withTenant = file({ prune: true, portgroups: [tenant] });
    withTenant.pools[0] = { ...withTenant.pools[0]!, gateway: '10.20.0.254' };
    expect((await apply(withTenant)).job.error).toBeNull();
    await addVm(sim, HOSTS[1]!.fqdn, 'tenant');

    const without = file({ prune: true });
    without.pools[0] = { ...without.pools[0]!, gateway: '10.20.0.254' };
    expect((await plan(without)).map(line)).toEqual(
      HOSTS.map((h) => `RemovePortGroup host:${h.fqdn} portgroup:tenant`),
    );
    const { job, steps } = await apply(without);
    expect(job.state).toBe('failed');
    const failed = steps.find((s) => s.state === 'failed')!;
    expect(`${failed.name} ${failed.target}`).toBe(`RemovePortGroup host:${HOSTS[1]!.fqdn} portgroup:tenant`);
    expect(failed.fault).toMatch(/refuses to remove port group tenant \(vSwitch vSwitch1\): it is still in use/);
    expect(failed.fault).toMatch(/ResourceInUse.*The resource 'tenant' is in use/);
    expect(job.error).toMatch(/tenant/);
    expect(await inventory(vc, uuid(1))).not.toContain('portgroup:tenant'); // esx1 had no VM on it
    expect(await inventory(vc, uuid(2))).toContain('portgroup:tenant');
  }, 120_000);
});
