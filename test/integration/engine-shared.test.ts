/**
 * Jobs shared between servers (issue 18 item 3): two job runners on one real PostgreSQL (a
 * private cluster) against the vCenter simulator with a slow AddHost_Task. Phone-homes split
 * across both servers: only the holder of the engine lease runs jobs, every job runs once (its
 * SOAP calls counted on the one connection that made them), the per-vCenter limit holds across
 * servers; a cancel asked on the other server ends a job; when the holder stops, the other server
 * takes the lease and finishes the jobs it left.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { desiredCluster } from '../helpers/desired-cluster.js';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { STORE_DIALECTS, useStores } from '../helpers/stores.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { JobRepo } from '../../src/store/jobs.js';
import { clusterLookups, fixedClusterFiles } from '../../src/app/cluster-lookups.js';
import { vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { Sql } from '../../src/store/sql.js';
import { maxOverlap } from '../helpers/job-overlap.js';

const env = { SX_VC_PW: 'vcpass', SX_ESX_PW: 'esxpass' };
const uuid = (g: number, i: number) => `4c4c4544-0031-3510-807${g}-${i.toString(16).padStart(12, '0')}`;
const HOSTS = 12;
/** One cluster per test (a test's hosts are new to vCenter). */
const clusterOf = (g: number) =>
  desiredCluster({
    name: `shared${g}`,
    portgroups: [{ name: 'vMotion', vswitch: 'vSwitch0', vlanId: 20 }],
    hosts: Array.from({ length: HOSTS }, (_, i) => ({ fqdn: `s${g}-${i}.lab`, uuid: uuid(g, i), addresses: {} })),
  });
const clusters = [clusterOf(1), clusterOf(2)];

const fresh = useStores();
let sim: Vcsim;
beforeAll(async () => {
  sim = await startVcsim([
    '-method-delay',
    'AddHost_Task:1200',
    ...clusters.flatMap((c) => c.hosts).flatMap((h) => ['-host-uuid', `${h.fqdn}=${h.uuid}`]),
  ]);
}, 200_000);
afterAll(async () => {
  await sim?.stop();
});

function runner(sql: Sql, owner: string, leaseMs = 2000): JobRunner {
  const cfg = configSchema.parse({
    ...vcenterConfigFor(sim, { vcenter: { 'timeout-ms': 20_000, 'max-sessions': 8 } }),
    engine: { 'concurrency-per-vcenter': 3 },
  });
  return new JobRunner({
    jobs: new JobRepo(sql),
    config: cfg,
    clusters: clusterLookups(fixedClusterFiles(clusters)).engine,
    log: silentLogger,
    retryBaseMs: 100,
    env,
    connect: vcenterConnector(cfg.vcenters, silentLogger, env),
    shared: { owner, leaseMs, pickupMs: 100 },
  });
}

describe.each(STORE_DIALECTS)('engine lease on %s', (dialect) => {
  it('one holder at a time; it lapses and another takes it', async () => {
    const sql = await fresh(dialect);
    const jobs = new JobRepo(sql);
    expect(await jobs.coordination.acquireLease('engine', 'a', 1000, 500)).toBe(true);
    expect(await jobs.coordination.acquireLease('engine', 'b', 1200, 500)).toBe(false);
    expect(await jobs.coordination.acquireLease('engine', 'a', 1400, 500)).toBe(true);
    expect(await jobs.coordination.acquireLease('engine', 'b', 1899, 500)).toBe(false);
    expect(await jobs.coordination.acquireLease('engine', 'b', 1900, 500)).toBe(true);
    expect(await jobs.coordination.leaseHolder('engine')).toEqual({ owner: 'b', expiresAt: 2400 });
    expect(await jobs.coordination.releaseLease('engine', 'a')).toBe(false);
    expect(await jobs.coordination.releaseLease('engine', 'b')).toBe(true);
  });
});

describe('two servers, one PostgreSQL, one vCenter', () => {
  it('joins split across both run once each, on the lease holder, within the vCenter limit', async () => {
    const sql = await fresh('postgres');
    const a = runner(sql, 'server-a');
    const b = runner(fresh.peer(sql), 'server-b');
    await a.start();
    await b.start();
    try {
      const refs = await Promise.all(
        clusters[0]!.hosts.map((h, i) => (i % 2 ? b : a).enqueueConfigureHost(h.uuid, { source: 'test' })),
      );
      const done = await Promise.all(refs.map((r) => (Number(r.id.charCodeAt(0)) % 2 ? a : b).wait(r.id)));
      for (const j of done) expect(j.state, j.error ?? '').toBe('succeeded');
      expect(maxOverlap(done)).toBeLessThanOrEqual(3);
      // Every AddHost_Task was sent once, by the holder (server A started first); B never connected.
      expect((await a.calls('vc1'))?.byMethod['AddHost_Task']).toBe(HOSTS);
      expect(await b.calls('vc1')).toBeUndefined();
      const steps = await Promise.all(done.map((j) => new JobRepo(sql).steps(j.id)));
      for (const s of steps) expect(s.filter((x) => x.name === 'AddHost_Task' && x.state === 'done')).toHaveLength(1);
    } finally {
      await b.close();
      await a.close();
    }
  }, 120_000);

  it('a cancel asked on the other server ends a queued job; the holder stops and the other finishes its jobs', async () => {
    const sql = await fresh('postgres');
    const a = runner(sql, 'server-a');
    const b = runner(fresh.peer(sql), 'server-b');
    await a.start();
    await b.start();
    try {
      const refs = await Promise.all(clusters[1]!.hosts.map((h) => a.enqueueConfigureHost(h.uuid, { source: 'test' })));
      // The last one waits behind the vCenter limit: cancelled from B, ended by A.
      const last = refs.at(-1)!.id;
      expect((await b.cancel(last, 'bob')).outcome).toBe('cancelling');
      expect((await b.wait(last)).state).toBe('cancelled');
      // A stops while jobs run (they stop after their step); B takes the lease and finishes them.
      await new Promise((r) => setTimeout(r, 1500));
      await a.close();
      const rest = await Promise.all(refs.slice(0, -1).map((r) => b.wait(r.id)));
      for (const j of rest) expect(j.state, j.error ?? '').toBe('succeeded');
      // B added the hosts A had not (each once: a host A added is found, not added again).
      expect((await b.calls('vc1'))?.byMethod['AddHost_Task'] ?? 0).toBeGreaterThan(0);
      expect((await b.calls('vc1'))?.byMethod['AddHost_Task']).toBeLessThanOrEqual(HOSTS - 1);
    } finally {
      await b.close();
      await a.close();
    }
  }, 120_000);
});
