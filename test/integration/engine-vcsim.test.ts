/**
 * The engine against the vCenter simulator (strict mode): join hosts by UUID into a new cluster
 * with HA/DRS/DPM and full networking, read back over SOAP, second apply = zero mutating calls,
 * drift, thumbprint policy, wrong vCenter credentials, slow vCenter (timeout path).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { HA_ON, networkedCluster, vmotionNetworking } from '../helpers/desired-cluster.js';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { openStore, type Store } from '../../src/store/index.js';
import { JobRunner, type ClusterSource } from '../../src/engine/jobs.js';
import { connectVcenter, vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { checkDrift } from '../../src/engine/drift.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { metricsRegistry } from '../../src/metrics.js';
import type { DesiredCluster } from '../../src/clusters/types.js';

const U1 = '4c4c4544-0031-3510-8052-b1c04f303031';
const U2 = '4c4c4544-0031-3510-8052-b1c04f303032';
const U3 = '4c4c4544-0031-3510-8052-b1c04f303033';
const TP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01';
const env = { SX_VC_PW: 'vcpass', SX_ESX_PW: 'esxpass' };

function cluster(name: string, hosts: DesiredCluster['hosts']): DesiredCluster {
  return networkedCluster({
    name,
    ha: HA_ON,
    drs: { enabled: true, automationLevel: 'partiallyAutomated', migrationThreshold: 2 },
    dpm: { enabled: true, automationLevel: 'manual', threshold: 4 },
    ...vmotionNetworking({ vsanPoolEnd: '10.30.0.40' }),
    ntpServers: ['0.pool.ntp.example', '1.pool.ntp.example'],
    dns: { servers: ['10.0.0.53', '10.0.0.54'], searchDomains: ['lab.example'] },
    hosts,
  });
}

function config(sim: Vcsim, engine: Record<string, unknown> = {}, vc: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    ...vcenterConfigFor(sim, { vcenter: vc }),
    engine: { 'max-attempts': 3, ...engine },
  });
}

function source(list: DesiredCluster[]): ClusterSource {
  return {
    get: (n) => list.find((c) => c.name === n),
    findByHost: (u) => list.find((c) => c.hosts.some((h) => h.uuid === u)),
  };
}

async function runner(store: Store, cfg: Config, list: DesiredCluster[], simEnv = env): Promise<JobRunner> {
  const r = new JobRunner({
    jobs: store.jobs,
    config: cfg,
    clusters: source(list),
    log: silentLogger,
    retryBaseMs: 200,
    env: simEnv,
    connect: vcenterConnector(cfg.vcenters, silentLogger, { ...simEnv, SX_VC_PW: simEnv.SX_VC_PW }),
  });
  await r.start();
  return r;
}

describe('engine against vcsim', () => {
  let sim: Vcsim;
  beforeAll(async () => {
    sim = await startVcsim([
      '-host-uuid',
      `esx1.lab.example=${U1}`,
      '-host-uuid',
      `esx2.lab.example=${U2}`,
      '-host-uuid',
      `esx3.lab.example=${U3}`,
      '-host-thumbprint',
      `esx3.lab.example=${TP}`,
    ]);
  }, 200_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('joins two hosts by UUID into a new cluster with HA/DRS/DPM and full networking; second apply makes zero mutating calls; drift is found and fixed', async () => {
    const store = await openStore(':memory:');
    const cfg = config(sim);
    const prod = cluster('prod', [
      { fqdn: 'esx1.lab.example', uuid: U1, addresses: { vmk1: '10.20.0.11' } },
      { fqdn: 'esx2.lab.example', uuid: U2, addresses: { vmk1: '10.20.0.12' } },
    ]);
    const r = await runner(store, cfg, [prod]);
    const ref = await r.enqueueApplyCluster('prod', { source: 'test' });
    const job = await r.wait(ref.id);
    const steps = await store.jobs.steps(ref.id);
    expect(job.error).toBeNull();
    expect(job.state).toBe('succeeded');
    const done = steps.filter((s) => s.state === 'done').map((s) => s.name);
    expect(done).toContain('CreateClusterEx');
    expect(done.filter((n) => n === 'AddHost_Task')).toHaveLength(2);
    expect(done).toContain('AddVirtualNic');

    // read everything back over SOAP with a separate session
    const vc = await connectVcenter(cfg.vcenters[0]!, silentLogger, env);
    const cl = await vc.readCluster('DC0', 'prod');
    expect(cl.config).toEqual({
      dasConfig: {
        enabled: true,
        hostMonitoring: 'enabled',
        vmMonitoring: 'vmMonitoringOnly',
        admissionControlEnabled: true,
        admissionControlPolicy: { type: 'ClusterFailoverLevelAdmissionControlPolicy', failoverLevel: 1 },
        restartPriority: 'high',
        isolationResponse: 'powerOff',
      },
      drsConfig: { enabled: true, defaultVmBehavior: 'partiallyAutomated', vmotionRate: 2 },
      dpmConfig: { enabled: true, defaultDpmBehavior: 'manual', hostPowerActionRate: 4 },
    });
    const ref2 = await vc.findHostByUuid(cl.datacenterRef, U2);
    const h2 = await vc.readHost(ref2!, ['UserVars.SuppressShellWarning']);
    expect(h2.parentRef).toBe(cl.clusterRef);
    expect(h2.vswitches.find((v) => v.name === 'vSwitch1')).toMatchObject({
      uplinks: ['vmnic2', 'vmnic3'],
      mtu: 9000,
      numPorts: 256,
    });
    expect(
      h2.portgroups
        .filter((p) => p.vswitch === 'vSwitch1')
        .map((p) => [p.name, p.vlanId])
        .sort(),
    ).toEqual([
      ['vMotion', 20],
      ['vSAN', 30],
    ]);
    const vmot = h2.vmknics.find((n) => n.portgroup === 'vMotion')!;
    const vsan = h2.vmknics.find((n) => n.portgroup === 'vSAN')!;
    expect(vmot).toMatchObject({ dhcp: false, ipAddress: '10.20.0.12', subnetMask: '255.255.255.0', mtu: 9000 });
    expect(vsan).toMatchObject({ ipAddress: '10.30.0.11' }); // second member → pool start + 1
    expect(h2.services.vmotion).toContain(vmot.device);
    expect(h2.services.vsan).toContain(vsan.device);
    expect(h2.ntpServers).toEqual(['0.pool.ntp.example', '1.pool.ntp.example']);
    expect(h2.ntpd).toEqual({ policy: 'on', running: true });
    expect(h2.dns).toMatchObject({ servers: ['10.0.0.53', '10.0.0.54'], searchDomains: ['lab.example'] });
    expect(String(h2.advanced['UserVars.SuppressShellWarning'])).toBe('1');

    // second apply: nothing to do, zero mutating calls
    const before = (await r.calls('vc1'))!;
    const again = await r.wait((await r.enqueueApplyCluster('prod', { source: 'test' })).id);
    const after = (await r.calls('vc1'))!;
    expect(again.state).toBe('succeeded');
    expect(after.mutating - before.mutating).toBe(0);
    expect(after.total).toBeGreaterThan(before.total);

    // drift: change a VLAN through the API, the plan shows it, apply fixes it
    await vc.updatePortGroup(h2.refs.networkSystem!, 'vMotion', {
      name: 'vMotion',
      vlanId: 99,
      vswitchName: 'vSwitch1',
    });
    const drift = await checkDrift(vc, prod);
    expect(drift.drifted).toBe(true);
    expect(drift.steps.map((s) => [s.name, s.hostUuid, s.before, s.after])).toEqual([
      ['UpdatePortGroup', U2, { vlanId: 99 }, { vlanId: 20 }],
    ]);
    const fix = await r.wait((await r.enqueueConfigureHost(U2, { source: 'test' })).id);
    expect(fix.state).toBe('succeeded');
    expect((await checkDrift(vc, prod)).drifted).toBe(false);
    const pg = (await vc.readHost(ref2!, [])).portgroups.find((p) => p.name === 'vMotion');
    expect(pg?.vlanId).toBe(20);

    await vc.close();
    await r.close();
    store.close();
  }, 120_000);

  it('thumbprint: a pinned mismatch is refused; trust-on-first-use records, retries and succeeds; the pinned policy without a pin refuses', async () => {
    const host = { fqdn: 'esx3.lab.example', uuid: U3, addresses: { vmk1: '10.20.0.13' } };
    // pinned in the file, but wrong
    let store = await openStore(':memory:');
    let r = await runner(store, config(sim), [
      cluster('tp', [{ ...host, thumbprint: '11:22:33:44:55:66:77:88:99:00:11:22:33:44:55:66:77:88:99:00' }]),
    ]);
    let job = await r.wait((await r.enqueueConfigureHost(U3, { source: 'test' })).id);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/presents SSL thumbprint AB:CD:EF:01.*but the cluster file pins 11:22/);
    await r.close();
    store.close();

    // no pin, policy pinned → refused, names the reported thumbprint
    store = await openStore(':memory:');
    r = await runner(store, config(sim, { 'thumbprint-policy': 'pinned' }), [cluster('tp', [host])]);
    job = await r.wait((await r.enqueueConfigureHost(U3, { source: 'test' })).id);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/no thumbprint pinned.*"pinned".*reports AB:CD:EF:01/);
    expect(await store.jobs.thumbprint('esx3.lab.example')).toBeUndefined();
    await r.close();
    store.close();

    // trust-on-first-use: a different recorded thumbprint is refused …
    store = await openStore(':memory:');
    await store.jobs.trustThumbprint(
      'esx3.lab.example',
      '99:99:99:99:99:99:99:99:99:99:99:99:99:99:99:99:99:99:99:99',
      1,
    );
    r = await runner(store, config(sim), [cluster('tp', [host])]);
    job = await r.wait((await r.enqueueConfigureHost(U3, { source: 'test' })).id);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/now presents SSL thumbprint AB:CD:EF:01.*99:99.*was trusted on first use/);
    await r.close();
    store.close();

    // … and with none recorded, it is recorded and the retry succeeds
    store = await openStore(':memory:');
    r = await runner(store, config(sim), [cluster('tp', [host])]);
    job = await r.wait((await r.enqueueConfigureHost(U3, { source: 'test' })).id);
    expect(job.error).toBeNull();
    expect(job.state).toBe('succeeded');
    expect(await store.jobs.thumbprint('esx3.lab.example')).toBe(TP);
    const add = (await store.jobs.steps(job.id)).find((s) => s.name === 'AddHost_Task')!;
    expect(add.result).toMatchObject({ sslThumbprint: TP });
    await r.close();
    store.close();
  }, 120_000);

  it('a vCenter that is not configured or not reachable is a failed job with a clear reason', async () => {
    const store = await openStore(':memory:');
    const c = cluster('ghost', [
      { fqdn: 'esx9.lab.example', uuid: '4c4c4544-0031-3510-8052-b1c04f303039', addresses: { vmk1: '10.20.0.19' } },
    ]);
    let r = await runner(store, config(sim), [{ ...c, vcenter: 'nope' }]);
    let job = await r.wait((await r.enqueueApplyCluster('ghost', { source: 'test' })).id);
    expect(job).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/vCenter "nope" named by cluster ghost is not configured/) as unknown,
    });
    await r.close();
    const cfg = config(sim, {}, { url: 'https://127.0.0.1:1/sdk', 'timeout-ms': 1000 });
    r = await runner(store, cfg, [c]);
    job = await r.wait((await r.enqueueApplyCluster('ghost', { source: 'test' })).id);
    expect(job).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(
        /vCenter "vc1" not reachable: .*ECONNREFUSED|vCenter "vc1" not reachable/,
      ) as unknown,
    });
    await r.close();
    store.close();
  }, 60_000);

  it('exports job outcomes, job durations and vCenter call latency on /metrics', async () => {
    // The jobs above ran in this process: the registry has seen them.
    const text = await metricsRegistry.metrics();
    expect(text).toMatch(/statelesx_jobs_finished_total\{kind="apply-cluster",state="succeeded"\} [1-9]/);
    expect(text).toMatch(/statelesx_jobs_finished_total\{kind="apply-cluster",state="failed"\} [1-9]/);
    expect(text).toMatch(/statelesx_job_duration_seconds_count\{kind="apply-cluster",state="succeeded"\} [1-9]/);
    expect(text).toMatch(
      /statelesx_vcenter_call_duration_seconds_count\{vcenter="127\.0\.0\.1:\d+",method="AddHost_Task"\} [1-9]/,
    );
  });
});

describe('engine against vcsim with vCenter login required', () => {
  let sim: Vcsim;
  beforeAll(async () => {
    sim = await startVcsim(['-username', 'administrator@vsphere.local', '-password', 'right-one']);
  }, 200_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('wrong vCenter credentials fail the job with a clear reason (no retries)', async () => {
    const store = await openStore(':memory:');
    const cfg = config(sim, {}, { username: 'administrator@vsphere.local' });
    const r = await runner(
      store,
      cfg,
      [cluster('prod', [{ fqdn: 'esx1.lab.example', uuid: U1, addresses: { vmk1: '10.20.0.11' } }])],
      { ...env, SX_VC_PW: 'wrong' },
    );
    const job = await r.wait((await r.enqueueApplyCluster('prod', { source: 'test' })).id);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/vCenter "vc1" refused the login: .*InvalidLogin.*check vcenters\[vc1\]\.username/);
    expect(job.attempts).toBe(1);
    await r.close();
    store.close();
  }, 60_000);
});

describe('engine against a slow vcsim', () => {
  let sim: Vcsim;
  beforeAll(async () => {
    sim = await startVcsim(['-host-uuid', `esx1.lab.example=${U1}`, '-method-delay', 'AddHost_Task:3000']);
  }, 200_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('AddHost_Task slower than the call timeout: the timeout is recorded, the job retries from fresh state and completes', async () => {
    const store = await openStore(':memory:');
    const cfg = config(sim, { 'max-attempts': 4 }, { 'timeout-ms': 1000 });
    const r = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: source([cluster('slow', [{ fqdn: 'esx1.lab.example', uuid: U1, addresses: { vmk1: '10.20.0.11' } }])]),
      log: silentLogger,
      retryBaseMs: 2500,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
    });
    await r.start();
    const job = await r.wait((await r.enqueueConfigureHost(U1, { source: 'test' })).id);
    const adds = (await store.jobs.steps(job.id)).filter((s) => s.name === 'AddHost_Task' && s.state !== 'skipped');
    expect(adds[0]).toMatchObject({
      state: 'failed',
      fault: expect.stringMatching(/VsphereTimeoutError: .*AddHost_Task did not complete within 1000 ms/) as unknown,
    });
    expect((await store.jobs.logs(job.id)).map((l) => l.msg).join('\n')).toMatch(
      /retrying in 2500 ms \(attempt 2 of 4\)/,
    );
    expect(job.error).toBeNull();
    expect(job.state).toBe('succeeded');
    await r.close();
    store.close();
  }, 90_000);
});
