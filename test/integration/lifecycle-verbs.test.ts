/**
 * Lifecycle verbs through the API against the real engine on the vCenter simulator: cancel a
 * running job (its AddHost_Task in flight finishes, no later step starts, the job ends
 * `cancelled`), cancel a queued job at once, retry the cancelled job until it succeeds, refuse to
 * cancel a finished job or retry a succeeded one; forget a host and delete stale unregistered
 * sightings. Admin only, no CSRF token with a bearer, audited.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { networkedCluster } from '../helpers/desired-cluster.js';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { openStore, type Store } from '../../src/store/index.js';
import { JobRunner, type ClusterSource } from '../../src/engine/jobs.js';
import { vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { issueApiToken } from '../../src/web/auth/api-tokens.js';
import type { DesiredCluster } from '../../src/clusters/types.js';
import { makeApp, loginAs, call } from '../helpers/web.js';
import { waitFor } from '../helpers/wait.js';

const U1 = '4c4c4544-0031-3510-8052-b1c04f313031';
const U2 = '4c4c4544-0031-3510-8052-b1c04f313032';
const U3 = '4c4c4544-0031-3510-8052-b1c04f313033';
const env = { SX_VC_PW: 'vcpass', SX_ESX_PW: 'esxpass' };

describe('lifecycle verbs (API, engine on vcsim)', () => {
  let sim: Vcsim;
  let store: Store;
  let runner: JobRunner;
  let app: FastifyInstance;
  let adminToken: string;
  let viewerToken: string;
  /** The job the first test cancelled. */
  let cancelledJob = '';

  beforeAll(async () => {
    // AddHost_Task takes 1.5 s: long enough to ask for a cancel while it is in flight.
    sim = await startVcsim([
      '-host-uuid',
      `esx1.cancel.example=${U1}`,
      '-host-uuid',
      `esx2.cancel.example=${U2}`,
      '-host-uuid',
      `esx3.cancel.example=${U3}`,
      '-method-delay',
      'AddHost_Task:1500',
    ]);
    const cfg = configSchema.parse({
      ...vcenterConfigFor(sim),
      engine: { 'max-attempts': 2, 'concurrency-per-vcenter': 1 },
    });
    const clusters: DesiredCluster[] = [
      networkedCluster({
        name: 'cancel-me',
        hosts: [
          { fqdn: 'esx1.cancel.example', uuid: U1, addresses: { vmk1: '10.20.0.61' } },
          { fqdn: 'esx2.cancel.example', uuid: U2, addresses: { vmk1: '10.20.0.62' } },
        ],
      }),
      networkedCluster({
        name: 'queued-behind',
        hosts: [{ fqdn: 'esx3.cancel.example', uuid: U3, addresses: { vmk1: '10.20.0.63' } }],
      }),
    ];
    const source: ClusterSource = {
      get: (n) => clusters.find((c) => c.name === n),
      findByHost: (u) => clusters.find((c) => c.hosts.some((h) => h.uuid === u)),
    };
    store = await openStore(':memory:');
    runner = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: source,
      log: silentLogger,
      retryBaseMs: 200,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
    });
    await runner.start();
    ({ app } = await makeApp({ store, queue: runner, jobControl: runner }));
    const now = Date.now();
    adminToken = (await issueApiToken(store, { name: 'ops', role: 'admin', expiresAt: null, createdBy: 't' }, now))
      .token;
    viewerToken = (await issueApiToken(store, { name: 'look', role: 'viewer', expiresAt: null, createdBy: 't' }, now))
      .token;
  }, 200_000);
  afterAll(async () => {
    await app?.close();
    await runner?.close();
    store?.close();
    await sim?.stop();
  });

  const bearer = (token: string, method: string, url: string) =>
    app.inject({ method: method as 'POST', url, headers: { authorization: `Bearer ${token}` } });

  it('cancels a running job between steps, a queued one at once; retries the cancelled one to success', async () => {
    const running = await runner.enqueueApplyCluster('cancel-me', { source: 'test' });
    const queued = await runner.enqueueApplyCluster('queued-behind', { source: 'test' });
    const inFlight = await waitFor(
      'the AddHost_Task of the running job to start',
      async () => {
        const j = (await store.jobs.get(running.id))!;
        if (!['queued', 'running'].includes(j.state)) throw new Error(`job ended ${j.state}: ${j.error ?? ''}`);
        return (await store.jobs.steps(running.id)).find((s) => s.name === 'AddHost_Task' && s.state === 'running');
      },
      20_000,
    );
    expect((await store.jobs.get(queued.id))!.state).toBe('queued');
    // A viewer may not cancel.
    expect((await bearer(viewerToken, 'POST', `/api/v1/jobs/${running.id}/cancel`)).statusCode).toBe(403);
    const res = await bearer(adminToken, 'POST', `/api/v1/jobs/${running.id}/cancel`);
    expect(res.statusCode, res.body).toBe(202);
    const q = await bearer(adminToken, 'POST', `/api/v1/jobs/${queued.id}/cancel`);
    expect(q.statusCode, q.body).toBe(200);
    expect(await store.jobs.get(queued.id)).toMatchObject({ state: 'cancelled', startedAt: null });

    const ended = await runner.wait(running.id);
    cancelledJob = running.id;
    expect(ended.state).toBe('cancelled');
    expect(ended.error).toMatch(/^cancelled by token:ops/);
    const steps = await store.jobs.steps(running.id);
    // The AddHost_Task in flight finished; nothing started after it.
    expect(steps.find((s) => s.seq === inFlight.seq)!.state).toBe('done');
    expect(steps.filter((s) => s.state === 'running' || s.state === 'pending')).toEqual([]);
    expect(steps.filter((s) => s.state === 'done' && s.seq > inFlight.seq)).toEqual([]);
    expect(steps.filter((s) => s.name === 'AddHost_Task' && s.state === 'done')).toHaveLength(1);
    expect((await store.audit.list(5)).map((e) => [e.actor, e.action, e.target])).toContainEqual([
      'token:ops',
      'job.cancel',
      running.id,
    ]);

    // Cancelling again: the job has ended.
    expect((await bearer(adminToken, 'POST', `/api/v1/jobs/${running.id}/cancel`)).statusCode).toBe(409);
    const retry = await bearer(adminToken, 'POST', `/api/v1/jobs/${running.id}/retry`);
    expect(retry.statusCode, retry.body).toBe(201);
    const again = retry.json<{ id: string; existing: boolean }>();
    expect(again.id).not.toBe(running.id);
    const done = await runner.wait(again.id);
    expect(done.state, done.error ?? '').toBe('succeeded');
    expect(
      (await store.jobs.steps(again.id)).filter((s) => s.name === 'AddHost_Task' && s.state === 'done'),
    ).toHaveLength(1);
    expect((await store.jobs.get(again.id))!.requestedBy).toBe('api:token:ops');
    // A succeeded job is not retried.
    expect((await bearer(adminToken, 'POST', `/api/v1/jobs/${again.id}/retry`)).statusCode).toBe(409);
    expect((await bearer(adminToken, 'POST', '/api/v1/jobs/no-such-job/cancel')).statusCode).toBe(404);
  }, 120_000);

  it('forgets a host and deletes stale unregistered sightings (cookie session: CSRF still required)', async () => {
    const now = Date.now();
    const sighting = (uuid: string, at: number) =>
      store.hosts.upsertSighting({ uuid, mac: '00:50:56:aa:bb:01', at, address: '10.0.0.9', evidence: {} });
    const OLD = '4c4c4544-0000-0000-0000-0000000000a1';
    const FRESH = '4c4c4544-0000-0000-0000-0000000000a2';
    const PINNED = '4c4c4544-0000-0000-0000-0000000000a3';
    await sighting(OLD, now - 40 * 86_400_000);
    await sighting(FRESH, now - 3600_000);
    await sighting(PINNED, now - 40 * 86_400_000);
    await store.hosts.setImagePin(PINNED, 'esxi-8', now);
    await store.hosts.addBootEvent({
      at: now,
      hostUuid: PINNED,
      mac: null,
      address: null,
      protocol: 'http',
      file: 'boot.cfg',
      image: 'esxi-8',
      firmware: null,
      detail: {},
    });
    const admin = await loginAs(app, 'admin');
    const noCsrf = await app.inject({
      method: 'DELETE',
      url: '/api/v1/unregistered?olderThanDays=30',
      cookies: admin.cookies,
    });
    expect(noCsrf.statusCode).toBe(403);
    const stale = await call(app, admin, 'DELETE', '/api/v1/unregistered?olderThanDays=30');
    expect(stale.statusCode, stale.body).toBe(200);
    expect(stale.json<{ deleted: string[] }>().deleted).toEqual([OLD]);
    expect(await store.hosts.get(OLD)).toBeUndefined();
    expect(await store.hosts.get(PINNED)).toBeDefined();
    // One by UUID; a pinned host is not an unregistered sighting: forget it instead.
    expect((await call(app, admin, 'DELETE', `/api/v1/unregistered/${FRESH}`)).statusCode).toBe(204);
    expect((await call(app, admin, 'DELETE', `/api/v1/unregistered/${PINNED}`)).statusCode).toBe(409);
    const op = await loginAs(app, 'op');
    expect((await call(app, op, 'DELETE', `/api/v1/hosts/${PINNED}`)).statusCode).toBe(403);
    const forgot = await call(app, admin, 'DELETE', `/api/v1/hosts/${PINNED}`);
    expect(forgot.statusCode, forgot.body).toBe(200);
    expect(forgot.json()).toMatchObject({ host: true, bootEvents: 1 });
    expect(await store.hosts.get(PINNED)).toBeUndefined();
    expect(await store.hosts.bootEvents({ uuid: PINNED })).toEqual([]);
    expect((await call(app, admin, 'DELETE', `/api/v1/hosts/${PINNED}`)).statusCode).toBe(404);
    expect((await store.audit.list(1))[0]).toMatchObject({ actor: 'admin', action: 'host.forget', target: PINNED });
  });

  it('console: the job page offers Retry on a cancelled job, the host page Forget and thumbprint reset (admin forms)', async () => {
    const admin = await loginAs(app, 'admin');
    const form = (url: string) =>
      app.inject({
        method: 'POST',
        url,
        cookies: admin.cookies,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `_csrf=${encodeURIComponent(admin.csrf)}`,
      });
    const jobPage = await app.inject({ method: 'GET', url: `/jobs/${cancelledJob}`, cookies: admin.cookies });
    expect(jobPage.body).toContain(`action="/jobs/${cancelledJob}/retry"`);
    expect(jobPage.body).not.toContain('Cancel job');
    const retried = await form(`/jobs/${cancelledJob}/retry`);
    expect(retried.statusCode, retried.body).toBe(303);
    const again = /^\/jobs\/(.+)$/.exec(String(retried.headers.location))![1]!;
    expect(again).not.toBe(cancelledJob);
    expect((await runner.wait(again)).state).toBe('succeeded');

    const H = '4c4c4544-0000-0000-0000-0000000000c1';
    await store.hosts.upsertSighting({ uuid: H, at: Date.now(), mac: '00:50:56:aa:bb:0c' });
    const hostPage = await app.inject({ method: 'GET', url: `/hosts/${H}`, cookies: admin.cookies });
    expect(hostPage.body).toContain(`action="/hosts/${H}/forget"`);
    expect(hostPage.body).toContain(`action="/hosts/${H}/reset-thumbprint"`);
    const view = await loginAs(app, 'view');
    expect((await app.inject({ method: 'GET', url: `/hosts/${H}`, cookies: view.cookies })).body).not.toContain(
      'Forget host',
    );
    expect((await form(`/hosts/${H}/reset-thumbprint`)).statusCode).toBe(303);
    expect((await store.audit.list(1))[0]).toMatchObject({ actor: 'admin', action: 'host.thumbprint.reset' });
    const gone = await form(`/hosts/${H}/forget`);
    expect(gone.statusCode).toBe(303);
    expect(gone.headers.location).toBe('/hosts');
    expect(await store.hosts.get(H)).toBeUndefined();
  }, 60_000);
});
