/**
 * Forgetting a host with removal from vCenter (`DELETE /api/v1/hosts/{uuid}?removeFromVcenter=true`,
 * job kind `remove-host`) against the real engine on the vCenter simulator: a joined host leaves
 * vCenter (EnterMaintenanceMode_Task, Destroy_Task) and then the store; a host running a VM with
 * DRS off is refused before anything is sent (job failed, host still in the store and vCenter),
 * and succeeds on retry once the VM is off; with DRS fully automated the VM is migrated to the
 * other member; a job left behind by a crash — after maintenance mode, or after the host was
 * already gone — resumes with only what is left. 409 while the host has a job queued. The console's
 * Forget host with "also remove from vCenter" checked, in real Chromium (playwright-core).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { desiredCluster } from '../helpers/desired-cluster.js';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { openStore, type Store } from '../../src/store/index.js';
import { JobRunner, type ClusterSource } from '../../src/engine/jobs.js';
import { connectVcenter, vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { issueApiToken } from '../../src/web/auth/api-tokens.js';
import { forgetAfterRemoval } from '../../src/app/server.js';
import type { DesiredCluster } from '../../src/clusters/types.js';
import type { VsphereVcenter } from '../../src/engine/vsphere-vcenter.js';
import { makeApp, PASSWORD } from '../helpers/web.js';
import { buildApp } from '../../src/web/app.js';
import { chromium } from 'playwright-core';
import type { AddressInfo } from 'node:net';

const env = { SX_VC_PW: 'vcpass', SX_ESX_PW: 'esxpass' };
const uuid = (n: number) => `4c4c4544-0031-3510-8052-b1c04f3130${String(n).padStart(2, '0')}`;
const H = {
  a: { fqdn: 'esx-a.rm.example', uuid: uuid(1), addresses: {} },
  b: { fqdn: 'esx-b.rm.example', uuid: uuid(2), addresses: {} },
  e: { fqdn: 'esx-e.rm.example', uuid: uuid(3), addresses: {} },
  f: { fqdn: 'esx-f.rm.example', uuid: uuid(4), addresses: {} },
  c: { fqdn: 'esx-c.rm.example', uuid: uuid(5), addresses: {} },
  d: { fqdn: 'esx-d.rm.example', uuid: uuid(6), addresses: {} },
  g: { fqdn: 'esx-g.rm.example', uuid: uuid(7), addresses: {} },
};
const CHROMIUM = '/usr/bin/chromium';
const DRS_OFF: DesiredCluster['drs'] = { enabled: false, automationLevel: 'fullyAutomated', migrationThreshold: 3 };

describe('forget with removal from vCenter (remove-host job, vcsim)', () => {
  let sim: Vcsim;
  let store: Store;
  let cfg: Config;
  let source: ClusterSource;
  let runner: JobRunner;
  let app: FastifyInstance;
  let token: string;
  let vc: VsphereVcenter;

  const newRunner = () =>
    new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: source,
      log: silentLogger,
      retryBaseMs: 200,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
      onHostResult: async (u, ok, cluster) =>
        void (await store.hosts.setState(u, ok ? 'configured' : 'failed', cluster)),
      forgetHost: (u, jobId) => forgetAfterRemoval(store, u, jobId),
    });

  /** The HostSystem vCenter has for a hardware UUID (SearchIndex.FindByUuid), read afresh. */
  const inVcenter = async (u: string) => (await vc.client.ops.FindByUuid(u))?.value;
  const remove = (u: string) =>
    app.inject({
      method: 'DELETE',
      url: `/api/v1/hosts/${u}?removeFromVcenter=true`,
      headers: { authorization: `Bearer ${token}` },
    });

  beforeAll(async () => {
    sim = await startVcsim(Object.values(H).flatMap((h) => ['-host-uuid', `${h.fqdn}=${h.uuid}`]));
    cfg = configSchema.parse({ ...vcenterConfigFor(sim), engine: { 'max-attempts': 2, 'maintenance-timeout-s': 5 } });
    const clusters: DesiredCluster[] = [
      desiredCluster({ name: 'rm-plain', drs: DRS_OFF, hosts: [H.a, H.b] }),
      desiredCluster({ name: 'rm-drs', hosts: [H.e, H.f] }),
      desiredCluster({ name: 'rm-crash', drs: DRS_OFF, hosts: [H.c, H.d] }),
      desiredCluster({ name: 'rm-console', drs: DRS_OFF, hosts: [H.g] }),
    ];
    source = {
      get: (n) => clusters.find((c) => c.name === n),
      findByHost: (u) => clusters.find((c) => c.hosts.some((h) => h.uuid === u)),
    };
    store = await openStore(':memory:');
    const now = Date.now();
    for (const [i, h] of Object.values(H).entries()) {
      await store.hosts.upsertSighting({ uuid: h.uuid, at: now, mac: `00:50:56:aa:bb:${String(i).padStart(2, '0')}` });
      await store.hosts.addBootEvent({
        at: now,
        hostUuid: h.uuid,
        mac: null,
        address: null,
        protocol: 'http',
        file: 'boot.cfg',
        image: 'esxi-8',
        firmware: null,
        detail: {},
      });
    }
    runner = newRunner();
    await runner.start();
    for (const name of ['rm-plain', 'rm-drs', 'rm-crash', 'rm-console']) {
      const j = await runner.wait((await runner.enqueueApplyCluster(name, { source: 'test' })).id);
      expect(j.state, j.error ?? '').toBe('succeeded');
    }
    ({ app } = await makeApp({ store, queue: runner, jobControl: runner }));
    token = (await issueApiToken(store, { name: 'ops', role: 'admin', expiresAt: null, createdBy: 't' }, now)).token;
    vc = await connectVcenter(cfg.vcenters[0]!, silentLogger, env);
  }, 240_000);
  afterAll(async () => {
    await app?.close();
    await runner?.close();
    await vc?.close();
    store?.close();
    await sim?.stop();
  });

  it('removes a joined host from vCenter (maintenance mode, Destroy_Task), then forgets it; 409 while it has a job', async () => {
    const ref = await inVcenter(H.a.uuid);
    expect(ref).toBeDefined();
    // A job of the host queued (left by nobody running it here): the removal is refused.
    const other = await store.jobs.create({
      id: 'queued-on-a',
      kind: 'configure-host',
      target: H.a.uuid,
      at: Date.now(),
    });
    const busy = await remove(H.a.uuid);
    expect(busy.statusCode, busy.body).toBe(409);
    expect(busy.body).toContain(other.id);
    await runner.cancel(other.id, 'test');

    const res = await remove(H.a.uuid);
    expect(res.statusCode, res.body).toBe(202);
    const { jobId } = res.json<{ jobId: string }>();
    // Still in the store until the job succeeds (it runs on its own; check the record it starts with).
    const job = await runner.wait(jobId);
    expect(job.state, job.error ?? '').toBe('succeeded');
    expect(job).toMatchObject({ kind: 'remove-host', target: H.a.uuid, vcenter: 'vc1', requestedBy: 'api:token:ops' });
    const done = (await store.jobs.steps(jobId)).filter((s) => s.state === 'done');
    expect(done.map((s) => s.name)).toEqual(['EnterMaintenanceMode_Task', 'Destroy_Task', 'ForgetHost']);
    expect(done[0]!.args).toEqual({ host: ref, timeout: 5, evacuatePoweredOffVms: false });
    expect(done[1]!.args).toEqual({ entity: { type: 'HostSystem', value: ref } });
    // Read back from vCenter: gone from the index and from the cluster's hosts.
    expect(await inVcenter(H.a.uuid)).toBeUndefined();
    const cluster = await vc.client.read.readCluster('DC0', 'rm-plain');
    expect(cluster.hosts.map((h) => h.name)).toEqual([H.b.fqdn]);
    // Store: row, sightings gone; audited as the request and as the job's forget.
    expect(await store.hosts.get(H.a.uuid)).toBeUndefined();
    expect(await store.hosts.bootEvents({ uuid: H.a.uuid })).toEqual([]);
    const audit = (await store.audit.list(5)).filter((e) => e.target === H.a.uuid);
    expect(audit.map((e) => [e.actor, e.action])).toEqual([
      [`job:${jobId}`, 'host.forget'],
      ['token:ops', 'host.forget'],
    ]);
    expect(audit[1]!.after).toEqual({ removeFromVcenter: true, job: jobId });
    // Forgotten: a second request is 404.
    expect((await remove(H.a.uuid)).statusCode).toBe(404);
  }, 60_000);

  it('refuses a host running a VM with DRS off (nothing removed), and removes it on retry once the VM is off', async () => {
    const vmRef = await sim.vmPower(H.b.fqdn, 'app-01', 'poweredOn');
    const res = await remove(H.b.uuid);
    expect(res.statusCode, res.body).toBe(202);
    const { jobId } = res.json<{ jobId: string }>();
    const failed = await runner.wait(jobId);
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatch(/runs 1 powered-on VM\(s\) \(app-01\) and its cluster's DRS is off/);
    expect(failed.error).toMatch(/nothing was removed/);
    expect(await store.jobs.steps(jobId)).toEqual([]);
    // Nothing changed: the host is in the store and in vCenter, not in maintenance mode.
    expect(await store.hosts.get(H.b.uuid)).toBeDefined();
    const facts = await vc.readHostRemoval(H.b.uuid);
    expect(facts).toMatchObject({ name: H.b.fqdn, inMaintenanceMode: false, poweredOnVms: ['app-01'] });

    await sim.vmPower(H.b.fqdn, 'app-01', 'poweredOff');
    const retry = await app.inject({
      method: 'POST',
      url: `/api/v1/jobs/${jobId}/retry`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(retry.statusCode, retry.body).toBe(201);
    const again = await runner.wait(retry.json<{ id: string }>().id);
    expect(again.state, again.error ?? '').toBe('succeeded');
    expect(await inVcenter(H.b.uuid)).toBeUndefined();
    expect(await store.hosts.get(H.b.uuid)).toBeUndefined();
    // The powered-off VM left the inventory with its host.
    const vms = await vc.client.read.readCluster('DC0', 'rm-plain');
    expect(vms.hosts).toEqual([]);
    await expect(sim.vmPower('', 'app-01', 'poweredOff')).rejects.toThrow(/no host/);
    expect(vmRef).toMatch(/^vm-/);
  }, 60_000);

  it('with DRS fully automated, maintenance mode migrates the running VM to the other member', async () => {
    await sim.vmPower(H.e.fqdn, 'web-01', 'poweredOn');
    const res = await remove(H.e.uuid);
    expect(res.statusCode, res.body).toBe(202);
    const job = await runner.wait(res.json<{ jobId: string }>().jobId);
    expect(job.state, job.error ?? '').toBe('succeeded');
    expect(await inVcenter(H.e.uuid)).toBeUndefined();
    const f = await vc.readHostRemoval(H.f.uuid);
    expect(f).toMatchObject({ poweredOnVms: ['web-01'], vmCount: 1 });

    // F is now the last member: DRS has nowhere to move web-01, maintenance mode times out.
    const last = await remove(H.f.uuid);
    const timedOut = await runner.wait(last.json<{ jobId: string }>().jobId);
    expect(timedOut.state).toBe('failed');
    expect(timedOut.error).toMatch(
      /^EnterMaintenanceMode_Task host:esx-f\.rm\.example: the host still ran powered-on VMs after 5 s .*nothing was removed$/,
    );
    expect((await store.jobs.steps(timedOut.id)).map((s) => [s.name, s.state])).toEqual([
      ['EnterMaintenanceMode_Task', 'failed'],
      ['Destroy_Task', 'skipped'],
    ]);
    expect((await store.jobs.steps(timedOut.id))[0]!.fault).toMatch(/^Timedout: .*Operation timed out\.$/);
    expect(await vc.readHostRemoval(H.f.uuid)).toMatchObject({
      inMaintenanceMode: false,
      connectionState: 'connected',
    });
    expect(await store.hosts.get(H.f.uuid)).toBeDefined();
    expect((await store.jobs.maintenanceHosts()).has(H.f.uuid)).toBe(false);
  }, 60_000);

  it('the simulator answers as vCenter: Destroy_Task refused on a connected member outside maintenance mode and on a standalone HostSystem', async () => {
    const member = (await vc.findByInventoryPath('DC0/host/DC0_C0/DC0_C0_H0'))!;
    await expect(vc.destroyEntity('HostSystem', member)).rejects.toMatchObject({ faultName: 'InvalidState' });
    await vc.enterMaintenanceMode(member, 10);
    await expect(vc.enterMaintenanceMode(member, 10)).rejects.toMatchObject({ faultName: 'InvalidState' });
    await vc.destroyEntity('HostSystem', member);
    expect(await vc.findByInventoryPath('DC0/host/DC0_C0/DC0_C0_H0')).toBeUndefined();
    // A standalone host goes with its ComputeResource, even connected and outside maintenance mode.
    const standalone = (await vc.findByInventoryPath('DC0/host/DC0_H0/DC0_H0'))!;
    const cr = (await vc.findByInventoryPath('DC0/host/DC0_H0'))!;
    await expect(vc.destroyEntity('HostSystem', standalone)).rejects.toMatchObject({ faultName: 'NotSupported' });
    await vc.destroyEntity('ComputeResource', cr);
    expect(await vc.findByInventoryPath('DC0/host/DC0_H0')).toBeUndefined();
    // A disconnected member may be removed without maintenance mode (its running VM goes with it).
    const other = (await vc.findByInventoryPath('DC0/host/DC0_C0/DC0_C0_H1'))!;
    const name = (await vc.readHost(other, [])).name;
    await sim.vmPower(name, 'db-01', 'poweredOn');
    await vc.disconnectHost(other);
    await vc.destroyEntity('HostSystem', other);
    expect(await vc.findByInventoryPath(`DC0/host/DC0_C0/${name}`)).toBeUndefined();
  }, 60_000);

  it('console (Chromium): Forget host with "also remove from vCenter" checked queues the job and shows it; the host leaves vCenter and the store', async () => {
    const web = await buildApp({ store, log: silentLogger, queue: runner, jobControl: runner });
    await web.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(web.server.address() as AddressInfo).port}`;
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(`${base}/login`);
      await page.getByLabel('User name').fill('admin');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByText('admin (admin)').waitFor();
      await page.goto(`${base}/hosts/${H.g.uuid}`);
      await page.getByLabel('also remove from vCenter').check();
      await page.getByRole('button', { name: 'Forget host' }).click();
      await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
      const jobId = page.url().split('/').pop()!;
      expect(await store.jobs.get(jobId)).toMatchObject({
        kind: 'remove-host',
        target: H.g.uuid,
        requestedBy: 'api:admin',
      });
      expect(await page.locator('dd', { hasText: 'remove-host' }).count()).toBe(1);
      const job = await runner.wait(jobId);
      expect(job.state, job.error ?? '').toBe('succeeded');
      await page.reload();
      await expect(page.locator('#job-state').textContent()).resolves.toBe('succeeded');
      expect(await inVcenter(H.g.uuid)).toBeUndefined();
      expect(await store.hosts.get(H.g.uuid)).toBeUndefined();
    } finally {
      await browser.close();
      await web.close();
    }
  }, 90_000);

  it('resumes a removal left by a crash: after maintenance mode only Destroy_Task, an already removed host only the forget', async () => {
    await runner.close();
    // C: the crashed job had put it into maintenance mode (its record written first, as the engine does).
    const cRef = (await inVcenter(H.c.uuid))!;
    await vc.enterMaintenanceMode(cRef, 10);
    const jc = await store.jobs.create({
      id: 'crashed-c',
      kind: 'remove-host',
      target: H.c.uuid,
      cluster: 'rm-crash',
      vcenter: 'vc1',
      at: Date.now(),
    });
    await store.jobs.markRunning(jc.id, Date.now());
    const [seq] = await store.jobs.appendSteps(jc.id, [
      {
        name: 'EnterMaintenanceMode_Task',
        target: `host:${H.c.fqdn}`,
        hostUuid: H.c.uuid,
        args: {},
        before: 0,
        after: 1,
      },
    ]);
    await store.jobs.stepStarted(jc.id, seq!, Date.now());
    await store.jobs.markMaintenance(H.c.uuid, jc.id, Date.now());
    // D: the crashed job's Destroy_Task had gone through; the store forget had not.
    const dRef = (await inVcenter(H.d.uuid))!;
    await vc.enterMaintenanceMode(dRef, 10);
    await vc.destroyEntity('HostSystem', dRef);
    const jd = await store.jobs.create({
      id: 'crashed-d',
      kind: 'remove-host',
      target: H.d.uuid,
      cluster: 'rm-crash',
      vcenter: 'vc1',
      at: Date.now(),
    });
    await store.jobs.markRunning(jd.id, Date.now());

    runner = newRunner();
    await runner.start(); // resumes unfinished jobs
    const c = await runner.wait(jc.id);
    expect(c.state, c.error ?? '').toBe('succeeded');
    const cSteps = await store.jobs.steps(jc.id);
    expect(cSteps[0]).toMatchObject({ name: 'EnterMaintenanceMode_Task', state: 'skipped' });
    expect(cSteps.filter((s) => s.state === 'done').map((s) => s.name)).toEqual(['Destroy_Task', 'ForgetHost']);
    const d = await runner.wait(jd.id);
    expect(d.state, d.error ?? '').toBe('succeeded');
    expect((await store.jobs.steps(jd.id)).map((s) => [s.name, s.state])).toEqual([['ForgetHost', 'done']]);
    expect((await store.jobs.logs(jd.id)).map((l) => l.msg)).toContain(
      `vCenter "vc1" has no host with hardware UUID ${H.d.uuid}`,
    );
    for (const h of [H.c, H.d]) {
      expect(await inVcenter(h.uuid)).toBeUndefined();
      expect(await store.hosts.get(h.uuid)).toBeUndefined();
    }
    expect((await store.jobs.maintenanceHosts()).has(H.c.uuid)).toBe(false);
  }, 60_000);
});
