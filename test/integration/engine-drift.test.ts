/**
 * Drift checks and scheduled remediation (DriftScheduler) against the vCenter simulator: members
 * that have not booted yet are reported as missingHosts, not drift, and scheduled remediation
 * (engine.drift-remediate) fixes the cluster and the members already in vCenter — it never adds a
 * host (the simulator would add any name, so an AddHost_Task would show).
 */
import { desiredCluster } from '../helpers/desired-cluster.js';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { openStore } from '../../src/store/index.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { clusterLookups, fixedClusterFiles } from '../../src/app/cluster-lookups.js';
import { checkDrift, DriftScheduler, type DriftReport } from '../../src/engine/drift.js';
import { connectVcenter, vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { DesiredCluster } from '../../src/clusters/types.js';

const P = '4c4c4544-0031-3510-8052-a1c04f303031'; // booted, in vCenter
const M = '4c4c4544-0031-3510-8052-a1c04f303032'; // declared, never booted
const env = { SX_VC_PW: 'vcpass', SX_ESX_PW: 'esxpass' };

const desired: DesiredCluster = desiredCluster({
  name: 'dr',
  vswitches: [{ name: 'vSwitch1', uplinks: ['vmnic1'], mtu: 9000, numPorts: 128, teaming: {}, security: {} }],
  portgroups: [{ name: 'vMotion', vswitch: 'vSwitch1', vlanId: 20 }],
  ntpServers: ['ntp.example'],
  dns: { servers: ['10.0.0.53'], searchDomains: [] },
  hosts: [
    { fqdn: 'esxp.lab', uuid: P, addresses: {} },
    { fqdn: 'esxm.lab', uuid: M, addresses: {} },
  ],
});

describe('drift: missing members and scheduled remediation (vcsim)', () => {
  let sim: Vcsim;
  beforeAll(async () => {
    sim = await startVcsim(['-host-uuid', `esxp.lab=${P}`, '-host-uuid', `esxm.lab=${M}`]);
  }, 200_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('engine.drift-remediate defaults to false', () => {
    expect(configSchema.parse({}).engine['drift-remediate']).toBe(false);
    expect(configSchema.parse({ engine: { 'drift-remediate': true } }).engine['drift-remediate']).toBe(true);
    expect(() => configSchema.parse({ engine: { 'drift-remediate': 'yes' } })).toThrow(/drift-remediate/);
  });

  it('a member not booted is missingHosts, not drift; remediation fixes the known member and the cluster and never adds the missing one', async () => {
    const cfg = configSchema.parse({
      ...vcenterConfigFor(sim),
      engine: { 'drift-remediate': true },
    });
    const store = await openStore(':memory:');
    const r = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: clusterLookups(fixedClusterFiles([desired])).engine,
      log: silentLogger,
      retryBaseMs: 100,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
    });
    await r.start();
    // esxp boots and phones home: configured; esxm never does
    expect((await r.wait((await r.enqueueConfigureHost(P, { source: 'test' })).id)).state).toBe('succeeded');
    const vc = await connectVcenter(cfg.vcenters[0]!, silentLogger, env);

    let report = await checkDrift(vc, desired);
    expect(report.drifted).toBe(false);
    expect(report.missingHosts).toEqual([M]);
    expect(report.driftSteps).toEqual([]);
    expect(report.steps.filter((s) => s.name === 'AddHost_Task').map((s) => s.hostUuid)).toEqual([M]); // apply would add it

    const scheduler = (remediate: boolean, intervalS = 0, onReport?: (x: DriftReport) => void) =>
      new DriftScheduler({
        clusters: () => [desired],
        vcenter: (n) => r.vcenter(n),
        queue: r,
        intervalS,
        remediate,
        log: silentLogger,
        ...(onReport ? { onReport } : {}),
      });
    // nothing but a missing member: no remediation even with remediate on
    const [quiet] = await scheduler(true).runPass();
    expect(quiet).toMatchObject({ drifted: false, missingHosts: [M] });
    expect(quiet!.remediation).toBeUndefined();
    expect((await store.jobs.list()).map((j) => j.kind)).toEqual(['configure-host']);

    // drift on the known member and on the cluster
    const pRef = (await vc.findHostByUuid(undefined, P))!;
    const pHost = await vc.readHost(pRef, []);
    await vc.updatePortGroup(pHost.refs.networkSystem!, 'vMotion', {
      name: 'vMotion',
      vlanId: 99,
      vswitchName: 'vSwitch1',
    });
    const cl = await vc.readCluster('DC0', 'dr');
    await vc.reconfigureComputeResource(cl.clusterRef!, { drsConfig: { vmotionRate: 5 } }, true);

    // remediate off: reported, nothing queued
    const [seen] = await scheduler(false).runPass();
    expect(seen!.drifted).toBe(true);
    expect(seen!.driftSteps.map((s) => [s.name, s.hostUuid ?? null])).toEqual([
      ['ReconfigureComputeResource_Task', null],
      ['UpdatePortGroup', P],
    ]);
    expect(seen!.missingHosts).toEqual([M]);
    expect(seen!.remediation).toBeUndefined();
    expect(await store.jobs.list()).toHaveLength(1);

    // remediate on, on the schedule (1 s): a drift job that changes the cluster and esxp only
    let got: DriftReport | undefined;
    const s = scheduler(cfg.engine['drift-remediate'], 1, (x) => {
      got ??= x;
    });
    s.start();
    for (let i = 0; i < 50 && !got; i++) await new Promise((res) => setTimeout(res, 100));
    await s.close();
    expect(got?.remediation?.id).toBeDefined();
    const job = await r.wait(got!.remediation!.id);
    expect(job).toMatchObject({ kind: 'drift', target: 'dr', state: 'succeeded', requestedBy: 'drift' });
    const done = (await store.jobs.steps(job.id)).filter((x) => x.state === 'done').map((x) => x.name);
    expect(done.sort()).toEqual(['ReconfigureComputeResource_Task', 'UpdatePortGroup']);
    expect((await store.jobs.steps(job.id)).some((x) => x.name === 'AddHost_Task')).toBe(false);
    expect(await vc.findHostByUuid(undefined, M)).toBeUndefined(); // never added
    report = await checkDrift(vc, desired);
    expect(report).toMatchObject({ drifted: false, missingHosts: [M] });
    expect((await vc.readHost(pRef, [])).portgroups.find((p) => p.name === 'vMotion')?.vlanId).toBe(20);

    // a requested apply is not swallowed by an active drift job (it adds hosts; the drift job does not)
    const d2 = await r.enqueueRemediateCluster('dr', { source: 'drift' });
    const a2 = await r.enqueueApplyCluster('dr', { source: 'test' });
    expect(a2.existing).toBe(false);
    expect((await r.enqueueRemediateCluster('dr', { source: 'drift' })).id).toBe(d2.id);
    await r.wait(d2.id);
    expect((await r.wait(a2.id)).state).toBe('succeeded');
    expect(await vc.findHostByUuid(undefined, M)).toBeDefined(); // apply does add it

    await vc.close();
    await r.close();
    store.close();
  }, 120_000);
});
