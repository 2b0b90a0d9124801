/**
 * Plan and drift through the API and the console: the vCenter session each call opens is logged
 * out again (or, with the job runner's shared connection, reused), the drift endpoint returns the
 * engine's drift report, and an unreachable vCenter or an impossible plan answers problem+json.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import type { ClusterRepository } from '../../src/clusters/repository.js';
import { engineService, type VcenterSource } from '../../src/app/web-adapters.js';
import type { VcenterApi } from '../../src/engine/vcenter.js';
import type { CurrentState } from '../../src/engine/state.js';
import { defaultHostState } from '../../src/engine/state.js';
import type { HostBoot } from '../../src/engine/lifecycle.js';
import { desiredClusterConfig } from '../../src/engine/plan.js';
import type { DesiredCluster } from '../../src/clusters/types.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { InvalidLogin, VsphereNetworkError } from '../../src/vsphere/faults.js';
import { makeApp, loginAs, call, clusterRepo, clusterXml, type Client } from '../helpers/web.js';
import type { DriftView, OpenApiDoc, PlanBody, ProblemBody } from '../helpers/api-bodies.js';

const U1 = '4c4c4544-0031-3510-8052-b1c04f303031';
const U2 = '4c4c4544-0031-3510-8052-b1c04f303032';

/** The drift report of cluster `lab` as the engine service answers it, for the CLI's line format. */
async function engineReport(engine: ReturnType<typeof engineService>) {
  const r = await engine.drift('lab');
  return { warnings: (r.warnings ?? []).map((w) => ({ ...w })) };
}

type Mode = 'ok' | 'cluster-in-sync' | 'lifecycle' | 'unreachable' | 'bad-login' | 'read-fails' | 'plan-error';

/** A vCenter that counts SessionManager.Login / Logout; `readState` answers per `mode`. */
function fakeVcenter(desired?: () => DesiredCluster) {
  const f = {
    mode: 'ok' as Mode,
    logins: 0,
    logouts: 0,
    // eslint-disable-next-line @typescript-eslint/require-await -- a fake of an async VcenterConnector: it answers at once, and its throws must reject
    connect: async (name: string): Promise<VcenterApi> => {
      if (f.mode === 'unreachable')
        throw new VsphereNetworkError(
          'RetrieveServiceContent',
          'https://127.0.0.1:1/sdk',
          'ECONNREFUSED',
          'connect ECONNREFUSED 127.0.0.1:1',
        );
      if (f.mode === 'bad-login')
        throw new InvalidLogin(
          'InvalidLogin',
          'Cannot complete login due to an incorrect user name or password.',
          {},
          'Login',
        );
      expect(name).toBe('vc-test');
      f.logins++;
      let open = true;
      const api: Partial<VcenterApi> = {
        // eslint-disable-next-line @typescript-eslint/require-await -- VcenterApi.readState is async; the fake answers at once and its throws must reject
        readState: async (): Promise<CurrentState> => {
          if (f.mode === 'read-fails')
            throw new VsphereNetworkError(
              'RetrievePropertiesEx',
              'https://127.0.0.1:1/sdk',
              'ECONNRESET',
              'socket hang up',
            );
          if (f.mode === 'plan-error') {
            // U1 exists but in another cluster: the planner refuses to move hosts (PlanError).
            return {
              cluster: { datacenterRef: 'datacenter-1', hostFolderRef: 'group-h1', clusterRef: 'domain-c1' },
              hosts: { [U1]: { ...defaultHostState('esx1.lab.example', U1), parentRef: 'domain-c99' } },
            };
          }
          if (f.mode === 'lifecycle') {
            // The cluster as the file says; U1 rebooted (not responding), U2 not in vCenter.
            return {
              cluster: {
                datacenterRef: 'datacenter-1',
                hostFolderRef: 'group-h1',
                clusterRef: 'domain-c1',
                config: desiredClusterConfig(desired!()),
              },
              hosts: {
                [U1]: {
                  ...defaultHostState('esx1.lab.example', U1),
                  parentRef: 'domain-c1',
                  refs: { host: 'host-1' },
                  connectionState: 'notResponding',
                },
              },
            };
          }
          if (f.mode === 'cluster-in-sync') {
            // The cluster exists as the file says; no member is in vCenter yet.
            return {
              cluster: {
                datacenterRef: 'datacenter-1',
                hostFolderRef: 'group-h1',
                clusterRef: 'domain-c1',
                config: desiredClusterConfig(desired!()),
              },
              hosts: {},
            };
          }
          return { cluster: {}, hosts: {} };
        },
        close: () => {
          if (open) f.logouts++;
          open = false;
          return Promise.resolve();
        },
      };
      return api as VcenterApi;
    },
  };
  return f;
}

describe('web plan and drift: vCenter sessions and errors', () => {
  let app: FastifyInstance;
  let store: Store;
  let repo: ClusterRepository;
  let cleanup: () => void;
  let view: Client;
  const vc = fakeVcenter(() => repo.get('lab')!);

  beforeAll(async () => {
    ({ repo, cleanup } = await clusterRepo({
      'lab.xml': clusterXml('lab', [
        { fqdn: 'esx1.lab.example', uuid: U1 },
        { fqdn: 'esx2.lab.example', uuid: U2 },
      ]),
    }));
    const source: VcenterSource = { connect: vc.connect, shared: false };
    ({ app, store } = await makeApp({ engine: engineService(repo, source, () => 1_700_000_000_000) }));
    view = await loginAs(app, 'view');
  });
  afterAll(async () => {
    await app.close();
    store.close();
    cleanup();
  });

  it('logs out of vCenter after every plan and drift (API and console), also when the read fails', async () => {
    vc.mode = 'ok';
    const plan = await call(app, view, 'GET', '/api/v1/clusters/lab/plan');
    expect(plan.statusCode).toBe(200);
    expect(
      plan
        .json<PlanBody>()
        .steps.map((s) => s.name)
        .slice(0, 3),
    ).toEqual(['CreateDatacenter', 'CreateClusterEx', 'AddHost_Task']);
    expect((await call(app, view, 'GET', '/api/v1/clusters/lab/drift')).statusCode).toBe(200);
    expect((await call(app, view, 'GET', '/ui/clusters/lab/plan')).statusCode).toBe(200);
    expect((await call(app, view, 'GET', '/ui/clusters/lab/drift')).statusCode).toBe(200);
    vc.mode = 'read-fails';
    expect((await call(app, view, 'GET', '/api/v1/clusters/lab/drift')).statusCode).toBe(503);
    vc.mode = 'plan-error';
    expect((await call(app, view, 'GET', '/api/v1/clusters/lab/plan')).statusCode).toBe(422);
    expect(vc.logins).toBe(6);
    expect(vc.logouts).toBe(6);
  });

  it('returns the drift report: drifted, drift steps, full steps and the members vCenter does not know', async () => {
    vc.mode = 'ok';
    const res = await call(app, view, 'GET', '/api/v1/clusters/lab/drift');
    const r = res.json<DriftView>();
    expect(r).toMatchObject({ cluster: 'lab', at: 1_700_000_000_000, drifted: true, missingHosts: [U1, U2] });
    // No datacenter or cluster yet: that is drift; the members' AddHost_Task is only in the full plan.
    expect(r.driftSteps.map((s) => s.name)).toEqual(['CreateDatacenter', 'CreateClusterEx']);
    expect(r.steps.filter((s) => s.name === 'AddHost_Task')).toHaveLength(2);
    const plan = (await call(app, view, 'GET', '/api/v1/clusters/lab/plan')).json<PlanBody>();
    expect(plan).toEqual({ cluster: 'lab', steps: r.steps, held: r.held, rejoins: r.rejoins });
    const page = await call(app, view, 'GET', '/ui/clusters/lab/drift');
    expect(page.body).toContain('Not in vCenter yet');
    expect(page.body).toContain(U2);
    expect(page.body).toContain('CreateClusterEx');
    expect(page.body).not.toContain('AddHost_Task');
    const doc = (await call(app, view, 'GET', '/api/docs/json')).json<OpenApiDoc>();
    const schema =
      doc.paths['/api/v1/clusters/{name}/drift']?.['get']?.responses['200']?.content?.['application/json']?.schema;
    expect(schema?.required).toEqual(expect.arrayContaining(['drifted', 'driftSteps', 'missingHosts', 'steps']));
  });

  it('reports no drift when only members are missing, while the plan still adds them', async () => {
    vc.mode = 'cluster-in-sync';
    const r = (await call(app, view, 'GET', '/api/v1/clusters/lab/drift')).json<DriftView>();
    expect(r).toMatchObject({ drifted: false, driftSteps: [], missingHosts: [U1, U2] });
    expect(r.steps.map((s) => s.name)).toContain('AddHost_Task');
    expect((await call(app, view, 'GET', '/ui/clusters/lab/drift')).body).toContain('No drift.');
  });

  it('shows held members and due rejoins with why, in the plan and the drift report (API and console)', async () => {
    vc.mode = 'lifecycle';
    // U1 phoned home on this boot (its job failed for it); U2 only seen by PXE
    const boots = new Map<string, HostBoot>([
      [U1, { phonedHomeAt: 20, pxeBootAt: 10, convergedAt: 5, failedAt: 30, failedJob: 'job-1' }],
      [U2, { pxeBootAt: 10 }],
    ]);
    const source: VcenterSource = { connect: vc.connect, shared: false };
    const { app: a2, store: s2 } = await makeApp({
      engine: engineService(
        repo,
        source,
        () => 1,
        undefined,
        () => Promise.resolve((u: string) => boots.get(u)),
      ),
    });
    const c = await loginAs(a2, 'view');
    const plan = (await call(a2, c, 'GET', '/api/v1/clusters/lab/plan')).json<PlanBody>();
    expect(plan.held).toEqual([
      {
        uuid: U2,
        fqdn: 'esx2.lab.example',
        reason: 'waiting-for-phone-home',
        detail: expect.stringContaining('seen by PXE, no phone-home from this boot yet') as string,
      },
    ]);
    expect(plan.rejoins).toEqual([{ uuid: U1, fqdn: 'esx1.lab.example', phonedHomeAt: 20, failedJob: 'job-1' }]);
    expect(plan.steps.map((s) => s.name)).toContain('ReconnectHost_Task');
    expect(plan.steps.map((s) => s.name)).not.toContain('AddHost_Task');
    const drift = (await call(a2, c, 'GET', '/api/v1/clusters/lab/drift')).json<DriftView>();
    expect([drift.held, drift.rejoins]).toEqual([plan.held, plan.rejoins]);
    const planPage = (await call(a2, c, 'GET', '/ui/clusters/lab/plan')).body;
    expect(planPage).toMatch(
      /<code>esx2\.lab\.example<\/code> <strong>waiting for phone-home<\/strong>: .*seen by PXE/,
    );
    expect(planPage).toContain('Rejoin due');
    expect(planPage).toMatch(
      /<code>esx1\.lab\.example<\/code> phoned home .*<a href="\/jobs\/job-1">job-1<\/a> failed/,
    );
    // U1 booted again and stays in its firmware; U2 was never seen at all
    boots.set(U1, { phonedHomeAt: 20, pxeBootAt: 40, convergedAt: 5 });
    boots.delete(U2);
    const down = (await call(a2, c, 'GET', '/api/v1/clusters/lab/drift')).json<DriftView>();
    expect(down.held.map((h) => [h.uuid, h.reason])).toEqual([
      [U1, 'waiting-for-boot'],
      [U2, 'waiting-for-phone-home'],
    ]);
    expect(down.rejoins).toEqual([]);
    expect(down.drifted).toBe(false);
    const driftPage = (await call(a2, c, 'GET', '/ui/clusters/lab/drift')).body;
    expect(driftPage).toMatch(
      /<code>esx1\.lab\.example<\/code> <strong>waiting for boot<\/strong>: esx1\.lab\.example is notResponding/,
    );
    expect(driftPage).toContain('has not phoned home yet (no boot recorded)');
    expect(driftPage).not.toContain('Rejoin due');
    await a2.close();
    s2.close();
  });

  it('warns when a member phoned home with another FQDN than the file declares (API, console, CLI); the plan is unchanged', async () => {
    vc.mode = 'lifecycle';
    // Both phoned home on this boot: U1 with another domain, U2 with a short name that is not its first label.
    const boots = new Map<string, HostBoot>([
      [U1, { phonedHomeAt: 20, pxeBootAt: 10, hostname: 'esx1.other.example' }],
      [U2, { phonedHomeAt: 20, pxeBootAt: 10, hostname: 'esx9' }],
    ]);
    const source: VcenterSource = { connect: vc.connect, shared: false };
    const engine = engineService(
      repo,
      source,
      () => 1,
      undefined,
      () => Promise.resolve((u: string) => boots.get(u)),
    );
    const { app: a2, store: s2 } = await makeApp({ engine });
    const c = await loginAs(a2, 'view');
    const plan = (await call(a2, c, 'GET', '/api/v1/clusters/lab/plan')).json<PlanBody & { warnings?: unknown }>();
    expect(plan.warnings).toEqual([
      {
        uuid: U1,
        fqdn: 'esx1.lab.example',
        reason: 'fqdn-mismatch',
        reported: 'esx1.other.example',
        detail: 'the host phoned home as "esx1.other.example"; the cluster file declares "esx1.lab.example"',
      },
      {
        uuid: U2,
        fqdn: 'esx2.lab.example',
        reason: 'fqdn-mismatch',
        reported: 'esx9',
        detail: 'the host phoned home as "esx9", not "esx2" (the first label of the declared FQDN)',
      },
    ]);
    const drift = (await call(a2, c, 'GET', '/api/v1/clusters/lab/drift')).json<DriftView & { warnings?: unknown }>();
    expect(drift.warnings).toEqual(plan.warnings);
    const page = (await call(a2, c, 'GET', '/ui/clusters/lab/plan')).body;
    expect(page).toContain('Warning — the name a host phoned home with is not the FQDN the cluster file declares');
    expect(page).toContain('<code>esx1.lab.example</code> phoned home as <code>esx1.other.example</code>');
    const { lifecycleLines } = await import('../../src/cli/cluster-engine.js');
    expect(lifecycleLines([], [], (await engineReport(engine)).warnings)).toBe(
      'warning: esx1.lab.example phoned home as esx1.other.example — the host phoned home as "esx1.other.example"; the cluster file declares "esx1.lab.example"\n' +
        'warning: esx2.lab.example phoned home as esx9 — the host phoned home as "esx9", not "esx2" (the first label of the declared FQDN)\n',
    );
    // the same names as the file (FQDN in other case with a trailing dot; a short name = the first label): no warning
    boots.set(U1, { phonedHomeAt: 20, pxeBootAt: 10, hostname: 'ESX1.Lab.Example.' });
    boots.set(U2, { phonedHomeAt: 20, pxeBootAt: 10, hostname: 'esx2' });
    const quiet = (await call(a2, c, 'GET', '/api/v1/clusters/lab/plan')).json<PlanBody & { warnings?: unknown }>();
    expect(quiet.warnings).toBeUndefined();
    expect(quiet.steps).toEqual(plan.steps);
    expect((await call(a2, c, 'GET', '/ui/clusters/lab/plan')).body).not.toContain('Warning —');
    await a2.close();
    s2.close();
  });

  it('answers an unreachable vCenter with 503 problem+json naming it, a refused login with 503, a PlanError with 422', async () => {
    vc.mode = 'unreachable';
    const res = await call(app, view, 'GET', '/api/v1/clusters/lab/plan');
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 503, title: 'Service Unavailable', vcenter: 'vc-test' });
    expect(res.json<ProblemBody>().detail).toMatch(/^vCenter not reachable: vc-test: .*ECONNREFUSED/);
    vc.mode = 'bad-login';
    const login = await call(app, view, 'GET', '/api/v1/clusters/lab/drift');
    expect(login.statusCode).toBe(503);
    expect(login.json<ProblemBody>().detail).toMatch(/^vCenter not reachable: vc-test: Login: InvalidLogin/);
    vc.mode = 'plan-error';
    const pe = await call(app, view, 'GET', '/api/v1/clusters/lab/drift');
    expect(pe.statusCode).toBe(422);
    expect(pe.json<ProblemBody>().detail).toMatch(
      /cluster lab cannot be planned: host esx1\.lab\.example .* is in another compute resource/,
    );
    // The console renders the same reason in its alert fragment.
    vc.mode = 'unreachable';
    const ui = await call(app, view, 'GET', '/ui/clusters/lab/drift');
    expect(ui.statusCode).toBe(503);
    expect(ui.body).toMatch(/vCenter not reachable: vc-test/);
    expect((await call(app, view, 'GET', '/api/v1/clusters/nope/plan')).statusCode).toBe(404);
  });

  it("with the job runner's shared connection logs in once for many calls and leaves the logout to the runner", async () => {
    const shared = fakeVcenter();
    const config = configSchema.parse({
      vcenters: [{ name: 'vc-test', url: 'https://127.0.0.1:1/sdk', username: 'u', 'password-env': 'SX_UNUSED' }],
    });
    const runner = new JobRunner({
      jobs: store.jobs,
      config,
      clusters: { get: (n) => repo.get(n), findByHost: () => undefined },
      connect: shared.connect,
      log: silentLogger,
    });
    const { app: a2, store: s2 } = await makeApp({
      engine: engineService(repo, { connect: runner.vcenter.bind(runner), shared: true }),
    });
    const c = await loginAs(a2, 'view');
    for (let i = 0; i < 3; i++) expect((await call(a2, c, 'GET', '/api/v1/clusters/lab/plan')).statusCode).toBe(200);
    expect((await call(a2, c, 'GET', '/api/v1/clusters/lab/drift')).statusCode).toBe(200);
    expect([shared.logins, shared.logouts]).toEqual([1, 0]);
    await runner.close();
    expect([shared.logins, shared.logouts]).toEqual([1, 1]);
    await a2.close();
    s2.close();
  });
});
