/**
 * `statelesx_jobs{kind,state}` is exact at scrape time: computed from the live runner (queued and
 * running jobs), not counted at the end. Two configure-host jobs against one vCenter with
 * `engine.concurrency-per-vcenter: 1` and a connector held open: one running, one queued; after
 * the vCenter answers (unreachable: the jobs fail) both gauges are 0 and `jobs_finished_total`
 * grew by 2.
 */
import { desiredCluster } from '../helpers/desired-cluster.js';
import { describe, it, expect } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { clusterLookups, fixedClusterFiles } from '../../src/app/cluster-lookups.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { metricsRegistry } from '../../src/metrics.js';
import type { DesiredCluster } from '../../src/clusters/types.js';
import type { VcenterApi } from '../../src/engine/vcenter.js';

const U = ['4c4c4544-0031-3510-8099-000000000001', '4c4c4544-0031-3510-8099-000000000002'];

const cluster: DesiredCluster = desiredCluster({
  name: 'mx',
  hosts: U.map((uuid, i) => ({ fqdn: `mx${i}.lab`, uuid, addresses: {} })),
});

/** The value of `statelesx_<name>` with exactly these labels (0 when the series is absent). */
async function value(name: string, labels: Record<string, string>): Promise<number> {
  const m = (await metricsRegistry.getMetricsAsJSON()).find((x) => x.name === `statelesx_${name}`);
  if (!m) throw new Error(`metric statelesx_${name} is not registered`);
  const v = m.values.find(
    (x) =>
      Object.entries(labels).every(([k, l]) => String((x.labels as Record<string, unknown>)[k]) === l) &&
      Object.keys(x.labels).length === Object.keys(labels).length,
  );
  return v?.value ?? 0;
}

describe('metrics: statelesx_jobs by kind and state', () => {
  it('counts the queued and running jobs of the live runner at scrape time, 0 once they finished', async () => {
    const cfg = configSchema.parse({
      vcenters: [
        {
          name: 'vc1',
          url: 'https://127.0.0.1:9/sdk',
          username: 'u',
          'password-env': 'SX_VC_PW',
          thumbprint: Array(20).fill('AB').join(':'),
        },
      ],
      credentials: [{ name: 'esx', username: 'root', 'password-env': 'SX_ESX_PW' }],
      engine: { 'concurrency-per-vcenter': 1, 'max-attempts': 1 },
    });
    const store = await openStore(':memory:');
    let answer!: (e: Error) => void;
    const held = new Promise<VcenterApi>((_res, rej) => {
      answer = rej;
    });
    const r = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: clusterLookups(fixedClusterFiles([cluster])).engine,
      log: silentLogger,
      retryBaseMs: 10,
      env: { SX_VC_PW: 'x', SX_ESX_PW: 'y' },
      connect: () => held,
    });
    const finishedBefore = await value('jobs_finished_total', { kind: 'configure-host', state: 'failed' });
    await r.start();
    const ids = (await Promise.all(U.map((u) => r.enqueueConfigureHost(u, { source: 'test' })))).map((ref) => ref.id);
    await new Promise((res) => setTimeout(res, 50));
    expect(await value('jobs', { kind: 'configure-host', state: 'running' })).toBe(1);
    expect(await value('jobs', { kind: 'configure-host', state: 'queued' })).toBe(1);
    expect(await metricsRegistry.metrics()).toMatch(/^statelesx_jobs\{kind="configure-host",state="running"\} 1$/m);

    answer(new Error('connect ECONNREFUSED 127.0.0.1:9'));
    const done = await Promise.all(ids.map((id) => r.wait(id)));
    expect(done.map((j) => j.state)).toEqual(['failed', 'failed']);
    await new Promise((res) => setTimeout(res, 20));
    expect(await value('jobs', { kind: 'configure-host', state: 'running' })).toBe(0);
    expect(await value('jobs', { kind: 'configure-host', state: 'queued' })).toBe(0);
    expect(await value('jobs_finished_total', { kind: 'configure-host', state: 'failed' })).toBe(finishedBefore + 2);
    await r.close();
    store.close();
  });
});
