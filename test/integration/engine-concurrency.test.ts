/**
 * engine.concurrency-per-vcenter against the vCenter simulator: with AddHost_Task slowed down
 * (`-method-delay`) so that jobs overlap, the number of host jobs running at once against one
 * vCenter reaches the limit and never exceeds it — for the default (8) and for a lower setting.
 */
import { desiredCluster } from '../helpers/desired-cluster.js';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { openStore } from '../../src/store/index.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { clusterLookups, fixedClusterFiles } from '../../src/app/cluster-lookups.js';
import { vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { DesiredCluster } from '../../src/clusters/types.js';
import type { JobRecord } from '../../src/store/jobs.js';
import { maxOverlap } from '../helpers/job-overlap.js';

const env = { SX_VC_PW: 'vcpass', SX_ESX_PW: 'esxpass' };
const uuid = (group: number, i: number) =>
  `4c4c4544-0031-3510-80${String(group).padStart(2, '0')}-${i.toString(16).padStart(12, '0')}`;

function cluster(name: string, group: number, n: number): DesiredCluster {
  return desiredCluster({
    name,
    portgroups: [{ name: 'vMotion', vswitch: 'vSwitch0', vlanId: 20 }],
    hosts: Array.from({ length: n }, (_, i) => ({ fqdn: `c${group}h${i}.lab`, uuid: uuid(group, i), addresses: {} })),
  });
}

async function runAll(
  sim: Vcsim,
  c: DesiredCluster,
  engine: Record<string, unknown>,
): Promise<{ jobs: JobRecord[]; limit: number }> {
  const cfg = configSchema.parse({
    ...vcenterConfigFor(sim, { vcenter: { 'timeout-ms': 20_000, 'max-sessions': 8 } }),
    engine,
  });
  const store = await openStore(':memory:');
  const r = new JobRunner({
    jobs: store.jobs,
    config: cfg,
    clusters: clusterLookups(fixedClusterFiles([c])).engine,
    log: silentLogger,
    retryBaseMs: 100,
    env,
    connect: vcenterConnector(cfg.vcenters, silentLogger, env),
  });
  await r.start();
  const ids = (await Promise.all(c.hosts.map((h) => r.enqueueConfigureHost(h.uuid, { source: 'test' })))).map(
    (ref) => ref.id,
  );
  const jobs = await Promise.all(ids.map((id) => r.wait(id)));
  await r.close();
  store.close();
  return { jobs, limit: cfg.engine['concurrency-per-vcenter'] };
}

describe('engine: concurrency per vCenter (vcsim, slow AddHost_Task)', () => {
  let sim: Vcsim;
  beforeAll(async () => {
    const hosts = [...cluster('eight', 1, 10).hosts, ...cluster('three', 2, 6).hosts];
    sim = await startVcsim([
      '-method-delay',
      'AddHost_Task:1500',
      ...hosts.flatMap((h) => ['-host-uuid', `${h.fqdn}=${h.uuid}`]),
    ]);
  }, 200_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('default limit: 10 host jobs queued at once, at most 8 run at a time and 8 do', async () => {
    const { jobs, limit } = await runAll(sim, cluster('eight', 1, 10), {});
    expect(limit).toBe(8);
    for (const j of jobs) expect(j.error).toBeNull();
    expect(maxOverlap(jobs)).toBe(limit);
  }, 120_000);

  it('engine.concurrency-per-vcenter: 3 → at most 3 at a time, and 3 do', async () => {
    const { jobs, limit } = await runAll(sim, cluster('three', 2, 6), { 'concurrency-per-vcenter': 3 });
    expect(limit).toBe(3);
    for (const j of jobs) expect(j.state).toBe('succeeded');
    expect(maxOverlap(jobs)).toBe(3);
  }, 120_000);
});
