/**
 * The engine's per-host guarantees against the vCenter simulator (strict mode), on the model's
 * own cluster DC0_C0 whose hosts run VMs (`-vm 2`): maintenance mode entered by the engine is
 * always left again, even when the job that entered it died before its exit step.
 */
import { desiredCluster } from '../helpers/desired-cluster.js';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { openStore } from '../../src/store/index.js';
import { JobRunner, type ClusterSource } from '../../src/engine/jobs.js';
import { connectVcenter, vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { DesiredCluster } from '../../src/clusters/types.js';

const H0 = '4c4c4544-0031-3510-8052-e1c04f303030';
const H1 = '4c4c4544-0031-3510-8052-e1c04f303031';
const env = { SX_VC_PW: 'vcpass', SX_ESX_PW: 'esxpass' };

/** The model's cluster DC0_C0 with two of its hosts; "VM Network" moves to VLAN 10 (disruptive). */
function modelCluster(extraVlan: number): DesiredCluster {
  return desiredCluster({
    name: 'DC0_C0',
    portgroups: [
      { name: 'VM Network', vswitch: 'vSwitch0', vlanId: 10 },
      { name: 'Extra', vswitch: 'vSwitch0', vlanId: extraVlan },
    ],
    hosts: [
      { fqdn: 'DC0_C0_H0', uuid: H0, addresses: {} },
      { fqdn: 'DC0_C0_H1', uuid: H1, addresses: {} },
    ],
  });
}

function config(sim: Vcsim): Config {
  return configSchema.parse({
    ...vcenterConfigFor(sim),
    engine: { 'max-attempts': 2 },
  });
}

function source(list: () => DesiredCluster[]): ClusterSource {
  return {
    get: (n) => list().find((c) => c.name === n),
    findByHost: (u) => list().find((c) => c.hosts.some((h) => h.uuid === u)),
  };
}

describe('engine: maintenance mode (vcsim, hosts with VMs)', () => {
  let sim: Vcsim;
  beforeAll(async () => {
    sim = await startVcsim(['-vm', '2', '-host-uuid', `DC0_C0_H0=${H0}`, '-host-uuid', `DC0_C0_H1=${H1}`]);
  }, 200_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('a job that fails after EnterMaintenanceMode_Task leaves a record; the next apply exits maintenance mode; a host the operator put there stays', async () => {
    const cfg = config(sim);
    const store = await openStore(':memory:');
    const vc = await connectVcenter(cfg.vcenters[0]!, silentLogger, env);
    const read = async (uuid: string) => vc.readHost((await vc.findHostByUuid(undefined, uuid))!, []);
    expect((await read(H0)).vmCount).toBeGreaterThan(0);
    // the operator put H1 into maintenance mode: not the engine's to undo
    await vc.enterMaintenanceMode((await read(H1)).refs.host, 0);

    let files = [modelCluster(5000)]; // VLAN 5000: InvalidArgument from vCenter, a permanent fault
    const r = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: source(() => files),
      log: silentLogger,
      retryBaseMs: 100,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
    });
    await r.start();
    const first = await r.wait((await r.enqueueApplyCluster('DC0_C0', { source: 'test' })).id);
    expect(first.state).toBe('failed');
    expect(first.error).toMatch(/AddPortGroup host:DC0_C0_H0 portgroup:Extra/);
    const s1 = await store.jobs.steps(first.id);
    expect(s1.find((s) => s.name === 'EnterMaintenanceMode_Task')).toMatchObject({ state: 'done', hostUuid: H0 });
    expect(s1.some((s) => s.name === 'ExitMaintenanceMode_Task' && s.state === 'done')).toBe(false);
    expect((await read(H0)).inMaintenanceMode).toBe(true); // the job died between enter and exit
    expect([...(await store.jobs.maintenanceHosts())]).toEqual([H0]);

    files = [modelCluster(40)];
    const second = await r.wait((await r.enqueueApplyCluster('DC0_C0', { source: 'test' })).id);
    expect(second.error).toBeNull();
    expect(second.state).toBe('succeeded');
    const s2 = (await store.jobs.steps(second.id)).filter((s) => s.state === 'done');
    expect(s2.filter((s) => s.name === 'ExitMaintenanceMode_Task').map((s) => s.hostUuid)).toEqual([H0]);
    expect(s2.some((s) => s.name === 'EnterMaintenanceMode_Task')).toBe(false); // already in it: not entered again
    expect((await read(H0)).inMaintenanceMode).toBe(false);
    expect((await read(H1)).inMaintenanceMode).toBe(true);
    expect((await store.jobs.maintenanceHosts()).size).toBe(0);
    expect((await read(H1)).portgroups.find((p) => p.name === 'VM Network')?.vlanId).toBe(10);

    // a record whose host is no longer in maintenance mode (exited by hand) is dropped, nothing planned
    await store.jobs.markMaintenance(H0, 'gone', 1);
    const third = await r.wait((await r.enqueueConfigureHost(H0, { source: 'test' })).id);
    expect(third.state).toBe('succeeded');
    expect(await store.jobs.steps(third.id)).toEqual([]);
    expect((await store.jobs.maintenanceHosts()).size).toBe(0);

    await r.close();
    await vc.close();
    store.close();
  }, 120_000);
});

const A = '4c4c4544-0031-3510-8052-f1c04f303031';
const B = '4c4c4544-0031-3510-8052-f1c04f303032';
const C = '4c4c4544-0031-3510-8052-f1c04f303033';
/** esxd.lab as declared in the cluster file, and the machine that name really reaches. */
const D_FILE = '4c4c4544-0031-3510-8052-f1c04f303034';
const D_REAL = '4c4c4544-0031-3510-8052-f1c04f3030ff';

/** A new cluster of hosts to be added by FQDN (AddHost_Task), with a little networking. */
function newCluster(name: string, hosts: DesiredCluster['hosts']): DesiredCluster {
  return {
    ...modelCluster(40),
    name,
    file: `/clusters/${name}.xml`,
    vswitches: [{ name: 'vSwitch1', uplinks: ['vmnic1'], mtu: 9000, numPorts: 128, teaming: {}, security: {} }],
    portgroups: [
      { name: 'vMotion', vswitch: 'vSwitch1', vlanId: 20 },
      { name: 'Storage', vswitch: 'vSwitch1', vlanId: 30 },
    ],
    ntpServers: ['ntp.example'],
    hosts,
  };
}

describe('engine: one job per host across job kinds (vcsim)', () => {
  let sim: Vcsim;
  beforeAll(async () => {
    sim = await startVcsim([
      '-delay',
      '30',
      '-host-uuid',
      `esxa.lab=${A}`,
      '-host-uuid',
      `esxb.lab=${B}`,
      '-host-uuid',
      `esxc.lab=${C}`,
      '-host-uuid',
      `esxd.lab=${D_REAL}`,
    ]);
  }, 200_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('a configure-host job waits for the apply-cluster job that holds its host (and the other way round); jobs on other hosts do not wait', async () => {
    const cfg = config(sim);
    const store = await openStore(':memory:');
    const files = [
      newCluster('ser', [
        { fqdn: 'esxa.lab', uuid: A, addresses: {} },
        { fqdn: 'esxb.lab', uuid: B, addresses: {} },
      ]),
      newCluster('other', [{ fqdn: 'esxc.lab', uuid: C, addresses: {} }]),
    ];
    const r = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: source(() => files),
      log: silentLogger,
      retryBaseMs: 100,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
    });
    await r.start();
    const apply = await r.enqueueApplyCluster('ser', { source: 'test' });
    const cfgA = await r.enqueueConfigureHost(A, { source: 'test' });
    const cfgC = await r.enqueueConfigureHost(C, { source: 'test' });
    expect(cfgA.existing).toBe(false);
    const [ja, jA, jC] = await Promise.all([r.wait(apply.id), r.wait(cfgA.id), r.wait(cfgC.id)]);
    for (const j of [ja, jA, jC]) expect(j.error).toBeNull();
    expect(jA.startedAt!).toBeGreaterThanOrEqual(ja.finishedAt!); // waited for the apply that holds esxa
    expect(jC.startedAt!).toBeLessThan(ja.finishedAt!); // another cluster's host: ran alongside
    expect((await store.jobs.logs(cfgA.id)).map((l) => l.msg).join('\n')).toContain(
      `waiting for job ${apply.id}, which is changing host ${A}`,
    );
    // it planned from the state the apply left: nothing to do
    expect(await store.jobs.steps(cfgA.id)).toEqual([]);

    // the other way round: an apply-cluster queued behind a configure-host job of a member waits
    files[0]!.portgroups[1]!.vlanId = 31;
    const first = await r.enqueueConfigureHost(B, { source: 'test' });
    const second = await r.enqueueApplyCluster('ser', { source: 'test' });
    const [jB, jAll] = await Promise.all([r.wait(first.id), r.wait(second.id)]);
    expect(jB.state).toBe('succeeded');
    expect(jAll.state).toBe('succeeded');
    expect(jAll.startedAt!).toBeGreaterThanOrEqual(jB.finishedAt!);
    // esxb was fixed by its own job; the apply changed only esxa
    expect((await store.jobs.steps(second.id)).filter((s) => s.state === 'done').map((s) => s.hostUuid)).toEqual([A]);
    await r.close();
    store.close();
  }, 120_000);

  it('AddHost_Task reaching another machine than the member (hardware UUID differs): the job fails naming both UUIDs and configures nothing', async () => {
    const cfg = config(sim);
    const store = await openStore(':memory:');
    const files = [newCluster('wrong', [{ fqdn: 'esxd.lab', uuid: D_FILE, addresses: {} }])];
    const r = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: source(() => files),
      log: silentLogger,
      retryBaseMs: 100,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
    });
    await r.start();
    const job = await r.wait((await r.enqueueConfigureHost(D_FILE, { source: 'test' })).id);
    expect(job.state).toBe('failed');
    expect(job.error).toContain(
      `vCenter reports hardware UUID (hardware.systemInfo.uuid) ${D_REAL}, /clusters/wrong.xml declares ${D_FILE}`,
    );
    expect(job.error).toMatch(/host esxd\.lab is not the machine the cluster file declares/);
    const steps = await store.jobs.steps(job.id);
    expect(steps.filter((s) => s.state === 'done').map((s) => s.name)).not.toContain('AddVirtualSwitch');
    expect(steps.find((s) => s.name === 'AddHost_Task' && s.state === 'failed')?.fault).toContain(D_REAL);
    const vc = await connectVcenter(cfg.vcenters[0]!, silentLogger, env);
    const other = await vc.readHost((await vc.findHostByUuid(undefined, D_REAL))!, []);
    expect(other.vswitches.map((v) => v.name)).toEqual(['vSwitch0']); // untouched
    expect(other.ntpServers).toEqual([]);
    await vc.close();
    await r.close();
    store.close();
  }, 60_000);
});
