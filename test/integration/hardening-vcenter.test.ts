/**
 * vCenter faults at job level, from the simulator (engine JobRunner + real SOAP client):
 * - wrong vCenter certificate (pinned thumbprint does not match): the job fails with the
 *   mismatch recorded, without retry storms;
 * - the simulator killed (SIGKILL) in the middle of a job: the job ends failed after the retry
 *   policy, its steps intact and the fault recorded;
 * - the session logged out behind the client's back: before the job's first call the client logs
 *   in again and the job completes; during AddHost_Task the job ends terminal with the fault on
 *   its step (the simulator scopes Task objects to their session).
 * Already covered elsewhere and not repeated: a slow AddHost_Task past the call timeout (recorded,
 * retried, completes) and wrong vCenter credentials — test/integration/engine-vcsim.test.ts; the
 * SOAP-level thumbprint refusal, NotAuthenticated re-login and call timeout —
 * test/integration/vsphere-session.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { openStore, type Store } from '../../src/store/index.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { vcenterConnector, type VsphereVcenter } from '../../src/engine/vsphere-adapter.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { loadClusterText } from '../../src/clusters/load.js';
import { silentLogger } from '../../src/log.js';
import type { DesiredCluster } from '../../src/clusters/types.js';
import { waitFor } from '../helpers/wait.js';

const U1 = '4c4c4544-0031-3510-8052-b1c04f309931';
const env = { SXV_VC_PW: 'vcpass', SXV_ESX_PW: 'esxpass' };
const WRONG_TP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01';

async function cluster(): Promise<DesiredCluster> {
  const r = await loadClusterText(
    `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="faults">
  <datacenter>DC0</datacenter>
  <vcenter>vc1</vcenter>
  <credentials>esx</credentials>
  <members>
    <host fqdn="esx1.lab.example" uuid="${U1}"/>
  </members>
</cluster>
`,
    '/clusters/faults.xml',
    { context: { vcenters: ['vc1'], credentials: ['esx'] } },
  );
  if (!r.cluster) throw new Error(JSON.stringify(r.diagnostics));
  return r.cluster;
}

function config(sim: Vcsim, vc: Record<string, unknown> = {}, engine: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    ...vcenterConfigFor(sim, {
      passwordEnv: 'SXV_VC_PW',
      esxPasswordEnv: 'SXV_ESX_PW',
      vcenter: { 'timeout-ms': 5000, 'max-sessions': 1, ...vc },
    }),
    engine: { 'max-attempts': 2, ...engine },
  });
}

let sim: Vcsim | undefined;
let store: Store | undefined;
let runner: JobRunner | undefined;
afterEach(async () => {
  await runner?.close();
  store?.close();
  await sim?.stop();
  runner = undefined;
  store = undefined;
  sim = undefined;
});

describe('vCenter faults at job level (simulator)', () => {
  it('wrong vCenter certificate: the job fails with the thumbprint mismatch recorded', async () => {
    sim = await startVcsim(['-host-uuid', `esx1.lab.example=${U1}`]);
    store = await openStore(':memory:');
    const cfg = config(sim, { thumbprint: WRONG_TP });
    const c = await cluster();
    runner = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: { get: (n) => (n === c.name ? c : undefined), findByHost: (u) => (u === U1 ? c : undefined) },
      log: silentLogger,
      retryBaseMs: 100,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
    });
    await runner.start();
    const job = await runner.wait((await runner.enqueueConfigureHost(U1, { source: 'test' })).id);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/thumbprint/i);
    expect(job.error).toContain(WRONG_TP);
    expect(job.attempts).toBeLessThanOrEqual(cfg.engine['max-attempts']);
    expect((await store.jobs.logs(job.id)).map((l) => l.msg).join('\n')).toMatch(/thumbprint/i);
  }, 200_000);

  it('the simulator killed mid-job: the job ends failed per the retry policy, steps intact, fault recorded', async () => {
    sim = await startVcsim(['-host-uuid', `esx1.lab.example=${U1}`, '-method-delay', 'AddHost_Task:3000']);
    store = await openStore(':memory:');
    const cfg = config(sim, {}, { 'max-attempts': 2 });
    const c = await cluster();
    runner = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: { get: (n) => (n === c.name ? c : undefined), findByHost: (u) => (u === U1 ? c : undefined) },
      log: silentLogger,
      retryBaseMs: 200,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
    });
    await runner.start();
    const id = (await runner.enqueueConfigureHost(U1, { source: 'test' })).id;
    const s = store;
    await waitFor(
      'AddHost_Task to start',
      async () => (await s.jobs.steps(id)).some((x) => x.name === 'AddHost_Task' && x.state === 'running'),
      60_000,
      50,
    );
    process.kill(sim.pid, 'SIGKILL');
    const job = await runner.wait(id);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/ECONNREFUSED|ECONNRESET|socket|not reachable|network|closed/i);
    expect(job.error).toMatch(/gave up after 2 attempt\(s\)/);
    const steps = await store.jobs.steps(id);
    const add = steps.filter((x) => x.name === 'AddHost_Task');
    expect(add.length).toBeGreaterThanOrEqual(1);
    // the AddHost_Task fault (the connection dropped under it) is in the job log
    expect((await store.jobs.logs(id)).map((l) => l.msg).join('\n')).toMatch(
      /AddHost_Task host:esx1\.lab\.example: .*(socket hang up|ECONNRESET|ECONNREFUSED)/,
    );
    expect(
      steps.every((x) => ['done', 'succeeded', 'failed', 'skipped'].includes(x.state)),
      JSON.stringify(steps.map((x) => [x.name, x.state])),
    ).toBe(true);
    expect((await store.jobs.logs(id)).map((l) => l.msg).join('\n')).toMatch(/attempt 2 of 2/);
  }, 200_000);

  it("the session logged out behind the client's back (idle session expired): it logs in again and the job completes", async () => {
    sim = await startVcsim(['-host-uuid', `esx1.lab.example=${U1}`]);
    store = await openStore(':memory:');
    const cfg = config(sim);
    const c = await cluster();
    const real = vcenterConnector(cfg.vcenters, silentLogger, env);
    let captured: VsphereVcenter | undefined;
    runner = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: { get: (n) => (n === c.name ? c : undefined), findByHost: (u) => (u === U1 ? c : undefined) },
      log: silentLogger,
      retryBaseMs: 200,
      env,
      connect: async (name) => {
        const v = (await real(name)) as VsphereVcenter;
        // the session the engine is handed is already dead on the vCenter side
        await v.client.ops.Logout();
        captured = v;
        return v;
      },
    });
    await runner.start();
    const job = await runner.wait((await runner.enqueueConfigureHost(U1, { source: 'test' })).id);
    expect(job.state, job.error ?? '').toBe('succeeded');
    expect(captured!.client.callCounts()['Login']).toBeGreaterThanOrEqual(2);
  }, 200_000);

  it('the session logged out while AddHost_Task runs: the job ends in a clear state with the fault recorded', async () => {
    sim = await startVcsim(['-host-uuid', `esx1.lab.example=${U1}`, '-method-delay', 'AddHost_Task:1500']);
    store = await openStore(':memory:');
    const cfg = config(sim);
    const c = await cluster();
    const real = vcenterConnector(cfg.vcenters, silentLogger, env);
    let captured: VsphereVcenter | undefined;
    runner = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters: { get: (n) => (n === c.name ? c : undefined), findByHost: (u) => (u === U1 ? c : undefined) },
      log: silentLogger,
      retryBaseMs: 200,
      env,
      connect: async (name) => {
        const v = (await real(name)) as VsphereVcenter;
        captured ??= v; // the connection whose session is logged out below
        return v;
      },
    });
    await runner.start();
    const id = (await runner.enqueueConfigureHost(U1, { source: 'test' })).id;
    const s = store;
    await waitFor(
      'AddHost_Task to start',
      async () => (await s.jobs.steps(id)).some((x) => x.name === 'AddHost_Task' && x.state === 'running'),
      60_000,
      50,
    );
    await captured!.client.ops.Logout();
    const job = await runner.wait(id);
    // The simulator keeps Task objects in the session that created them: once that session is
    // gone, reading the task answers ManagedObjectNotFound (not NotAuthenticated), which the
    // engine treats as permanent. Either way the job is terminal and, when it failed, the fault
    // is on its AddHost_Task step and in its error.
    const detail = `${job.state} ${job.error} ${JSON.stringify(captured!.client.callCounts())} ${(await s.jobs.logs(id))
      .map((l) => l.msg)
      .join(' | ')}`;
    expect(['succeeded', 'failed'], detail).toContain(job.state);
    expect(captured!.client.callCounts()['Logout'], detail).toBe(1);
    if (job.state === 'failed') {
      const add = (await s.jobs.steps(id)).filter((x) => x.name === 'AddHost_Task' && x.state === 'failed');
      expect(add.length, detail).toBeGreaterThanOrEqual(1);
      expect(add.at(-1)!.fault).toMatch(/ManagedObjectNotFound|NotAuthenticated/);
      expect(job.error).toContain('AddHost_Task');
    }
    expect((await s.jobs.steps(id)).every((x) => ['done', 'succeeded', 'failed', 'skipped'].includes(x.state))).toBe(
      true,
    );
  }, 200_000);
});
