/**
 * Staged bring-up after a power event (src/engine/admission.ts) on the vCenter simulator, with
 * AddHost_Task slowed down (`-method-delay`) so that jobs overlap: 3 clusters × 6 members phone
 * home at once in an order that is neither priority nor member order. Asserted from the jobs'
 * recorded start and finish times (never their speed): the priority-10 cluster converges before
 * any priority-50 join starts; members start in file order; at most `concurrency-per-cluster` per
 * cluster and `concurrency-per-vcenter` on the vCenter run at once, and both limits are reached;
 * the jobs API and the console show the queue with positions and reasons. A second run checks the admission rate.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { desiredCluster } from '../helpers/desired-cluster.js';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { openStore } from '../../src/store/index.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { clusterLookups, fixedClusterFiles } from '../../src/app/cluster-lookups.js';
import { vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { issueApiToken } from '../../src/web/auth/api-tokens.js';
import type { DesiredCluster } from '../../src/clusters/types.js';
import { call, loginAs, makeApp } from '../helpers/web.js';
import { maxOverlap } from '../helpers/job-overlap.js';

const env = { SX_VC_PW: 'vcpass', SX_ESX_PW: 'esxpass' };
const uuid = (group: number, i: number) =>
  `4c4c4544-0031-3510-81${String(group).padStart(2, '0')}-${i.toString(16).padStart(12, '0')}`;

function cluster(name: string, group: number, n: number, priority?: number): DesiredCluster {
  return desiredCluster({
    name,
    ...(priority !== undefined ? { priority } : {}),
    hosts: Array.from({ length: n }, (_, i) => ({ fqdn: `s${group}h${i}.lab`, uuid: uuid(group, i), addresses: {} })),
  });
}

const MGMT = cluster('mgmt', 1, 6, 10);
const COMPUTE_A = cluster('compute-a', 2, 6);
const COMPUTE_B = cluster('compute-b', 3, 6);
const RATED = cluster('rated', 4, 4);

describe('engine: staged bring-up (vcsim, slow AddHost_Task)', () => {
  let sim: Vcsim;
  beforeAll(async () => {
    const hosts = [MGMT, COMPUTE_A, COMPUTE_B, RATED].flatMap((c) => c.hosts);
    sim = await startVcsim([
      '-method-delay',
      'AddHost_Task:1000',
      ...hosts.flatMap((h) => ['-host-uuid', `${h.fqdn}=${h.uuid}`]),
    ]);
  }, 200_000);
  afterAll(async () => {
    await sim?.stop();
  });

  async function rig(files: DesiredCluster[], engine: Record<string, unknown>) {
    const cfg = configSchema.parse({
      ...vcenterConfigFor(sim, { vcenter: { 'timeout-ms': 20_000, 'max-sessions': 8 } }),
      engine,
    });
    const store = await openStore(':memory:');
    const runner = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: clusterLookups(fixedClusterFiles(files)).engine,
      log: silentLogger,
      retryBaseMs: 100,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
    });
    return { store, runner };
  }

  it('priority 10 converges before priority 50 starts; file order; cluster and vCenter limits held and reached', async () => {
    const { store, runner } = await rig([MGMT, COMPUTE_A, COMPUTE_B], {
      'concurrency-per-vcenter': 3,
      'concurrency-per-cluster': 2,
      'priority-settle-s': 1,
    });
    const { app } = await makeApp({ store, queue: runner, queueView: runner });
    const token = await issueApiToken(
      store,
      { name: 'ops', role: 'viewer', expiresAt: null, createdBy: 't' },
      Date.now(),
    );
    const admin = await loginAs(app, 'admin');
    try {
      await runner.start();
      // Phone-homes in arrival order: compute first, mgmt last and reversed, members interleaved.
      const arrival = [...COMPUTE_B.hosts.slice().reverse(), ...COMPUTE_A.hosts, ...MGMT.hosts.slice().reverse()];
      // Queued together (one turn of the event loop: the SQLite store answers without I/O).
      const refs = await Promise.all(arrival.map((h) => runner.enqueueConfigureHost(h.uuid, { source: 'test' })));
      const ids = new Map(arrival.map((h, i) => [h.uuid, refs[i]!.id]));
      const idOf = (c: DesiredCluster, i: number) => ids.get(c.hosts[i]!.uuid)!;

      await new Promise((r) => setImmediate(r)); // jobs queued together are admitted on the next turn
      // The queue as the API shows it: mgmt 0 and 1 run (cluster limit 2), mgmt 2..5 next, compute held by priority.
      const res = await app.inject({
        method: 'GET',
        url: '/api/v1/jobs?state=queued&limit=100',
        headers: { authorization: `Bearer ${token.token}` },
      });
      expect(res.statusCode, res.body).toBe(200);
      type Queued = { id: string; queuePosition?: number; waitReason?: string; waitDetail?: string };
      const queued = new Map(res.json<Queued[]>().map((j) => [j.id, j]));
      expect(queued.size).toBe(16);
      for (let i = 2; i < 6; i++)
        expect(queued.get(idOf(MGMT, i))).toMatchObject({ queuePosition: i - 1, waitReason: 'cluster-limit' });
      expect(queued.get(idOf(COMPUTE_A, 0))).toMatchObject({ queuePosition: 5, waitReason: 'priority' });
      expect(queued.get(idOf(COMPUTE_B, 0))).toMatchObject({ queuePosition: 6, waitReason: 'priority' });
      expect(queued.get(idOf(COMPUTE_A, 1))).toMatchObject({ queuePosition: 7 });
      expect(queued.get(idOf(COMPUTE_A, 0))!.waitDetail).toMatch(/cluster mgmt \(priority 10\)/);

      // The console shows the same (server-rendered list and job page).
      const list = await call(app, admin, 'GET', '/jobs');
      expect(list.statusCode).toBe(200);
      expect(list.body).toContain('#1 · cluster-limit');
      const page = await call(app, admin, 'GET', `/jobs/${idOf(COMPUTE_A, 0)}`);
      expect(page.body).toMatch(/id="job-queue">#\d+ \(priority\): cluster mgmt \(priority 10\)/);

      const jobs = await Promise.all([...ids.values()].map((id) => runner.wait(id)));
      for (const j of jobs) expect(j.state, j.error ?? '').toBe('succeeded');
      const byId = new Map(jobs.map((j) => [j.id, j]));
      const of = (c: DesiredCluster) => c.hosts.map((h) => byId.get(ids.get(h.uuid)!)!);

      // Priority: every mgmt join finished before the first compute join started.
      const mgmtDone = Math.max(...of(MGMT).map((j) => j.finishedAt!));
      const computeStart = Math.min(...[...of(COMPUTE_A), ...of(COMPUTE_B)].map((j) => j.startedAt!));
      expect(computeStart).toBeGreaterThanOrEqual(mgmtDone);

      // Member order within each cluster, not arrival order.
      for (const c of [MGMT, COMPUTE_A, COMPUTE_B]) {
        const starts = of(c).map((j) => j.startedAt!);
        for (let i = 1; i < starts.length; i++) expect(starts[i]).toBeGreaterThanOrEqual(starts[i - 1]!);
      }

      // Limits: never above, and reached (the delay makes the jobs overlap).
      expect(maxOverlap(jobs)).toBe(3);
      for (const c of [MGMT, COMPUTE_A, COMPUTE_B]) expect(maxOverlap(of(c))).toBe(2);
      expect((await store.jobs.logs(idOf(COMPUTE_A, 5))).map((l) => l.msg)).toContainEqual(
        expect.stringMatching(/^waiting: cluster mgmt \(priority 10\) has \d+ join\(s\) queued or running/),
      );
    } finally {
      await app.close();
      await runner.close();
      store.close();
    }
  }, 180_000);

  it('engine.admission-rate: starts on a vCenter are at least 1/rate s apart', async () => {
    const { store, runner } = await rig([RATED], { 'admission-rate': 4 });
    try {
      await runner.start();
      const ids = (
        await Promise.all(RATED.hosts.map((h) => runner.enqueueConfigureHost(h.uuid, { source: 'test' })))
      ).map((ref) => ref.id);
      const jobs = await Promise.all(ids.map((id) => runner.wait(id)));
      for (const j of jobs) expect(j.state, j.error ?? '').toBe('succeeded');
      const starts = jobs.map((j) => j.startedAt!).sort((a, b) => a - b);
      for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(240);
      expect(maxOverlap(jobs)).toBeGreaterThan(1); // the rate spaces starts; it does not serialize jobs
    } finally {
      await runner.close();
      store.close();
    }
  }, 120_000);
});
