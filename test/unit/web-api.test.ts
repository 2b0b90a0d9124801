import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import { configSchema } from '../../src/config/schema.js';
import { sqliteOf } from '../../src/store/inspect.js';
import { makeApp, loginAs, call, type Client } from '../helpers/web.js';
import type { OpenApiDoc, ProblemBody } from '../helpers/api-bodies.js';
import type { AuditEntry } from '../../src/store/audit.js';

const SECRET = 'vc-Secret-Value-9f3a1c';
const UUID = '4c4c4544-0033-4810-8052-b4c04f4e3432';

describe('web API: problem details, secrets, health, OpenAPI', () => {
  let app: FastifyInstance;
  let store: Store;
  let admin: Client;
  let op: Client;
  const bodies: string[] = [];

  beforeAll(async () => {
    process.env['SX_WEB_TEST_VC_PASSWORD'] = SECRET;
    const config = configSchema.parse({
      vcenters: [
        {
          name: 'vc1',
          url: 'https://127.0.0.1:1/sdk',
          username: 'svc@vsphere.local',
          'password-env': 'SX_WEB_TEST_VC_PASSWORD',
        },
      ],
    });
    ({ app, store } = await makeApp(
      { config, vcenters: { test: (n) => Promise.resolve({ ok: false, message: `cannot reach ${n}` }) } },
      undefined,
      (a) => {
        a.addHook('onSend', async (_req, _reply, payload) => {
          if (typeof payload === 'string') bodies.push(payload);
          return payload;
        });
      },
    ));
    admin = await loginAs(app, 'admin');
    op = await loginAs(app, 'op');
  });
  afterAll(async () => {
    await app.close();
    store.close();
    delete process.env['SX_WEB_TEST_VC_PASSWORD'];
  });

  it('answers invalid input with RFC 9457 problem+json naming the field path', async () => {
    await store.hosts.upsertSighting({ uuid: UUID, at: 1, mac: '52:54:00:00:00:01' });
    const res = await call(app, op, 'POST', '/api/v1/unregistered/join', {
      hosts: [{ uuid: UUID, fqdn: 'bad_name!' }],
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const p = res.json<ProblemBody>();
    expect(p).toMatchObject({
      type: '/api/docs#problem-validation-error',
      title: 'Bad Request',
      status: 400,
      instance: '/api/v1/unregistered/join',
    });
    const paths = p.errors.map((e) => e.path).sort();
    expect(paths).toEqual(['/body/cluster', '/body/hosts/0/fqdn']);
    const badParam = await call(app, op, 'GET', '/api/v1/hosts/not-a-uuid');
    expect(badParam.statusCode).toBe(400);
    expect(badParam.json<ProblemBody>().errors[0]?.path).toBe('/params/uuid');
    const q = await call(app, op, 'GET', '/api/v1/jobs?limit=0');
    expect(q.json<ProblemBody>().errors[0]?.path).toBe('/querystring/limit');
  });

  it('answers 503 not available when a dependency is absent, 404 for unknown things', async () => {
    const res = await call(app, op, 'GET', '/api/v1/clusters');
    expect(res.statusCode).toBe(503);
    expect(res.json<ProblemBody>().detail).toMatch(/cluster files is not available/);
    const j = await call(app, op, 'POST', `/api/v1/unregistered/${UUID}/join`, {
      cluster: 'lab',
      fqdn: 'esx1.example.com',
    });
    expect(j.statusCode).toBe(503);
    expect((await store.hosts.get(UUID))?.state).toBe('unregistered');
    expect((await call(app, op, 'GET', '/api/v1/hosts/00000000-0000-0000-0000-000000000001')).statusCode).toBe(404);
    expect((await call(app, op, 'GET', '/api/v1/nothing-here')).json()).toMatchObject({ status: 404 });
  });

  it('answers 404 for the jobs of an unknown host, and validates import ids', async () => {
    const unknown = await call(app, op, 'GET', '/api/v1/hosts/00000000-0000-0000-0000-00000000abcd/jobs');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json<ProblemBody>().detail).toBe('host 00000000-0000-0000-0000-00000000abcd not found');
    await store.hosts.upsertSighting({ uuid: UUID, at: 1, mac: '52:54:00:00:00:01' });
    const known = await call(app, op, 'GET', `/api/v1/hosts/${UUID.toUpperCase()}/jobs`);
    expect(known.statusCode).toBe(200);
    expect(known.json()).toEqual([]);
    const badId = await call(app, op, 'GET', '/api/v1/images/imports/not-an-id');
    expect(badId.statusCode).toBe(400);
    expect(badId.json<ProblemBody>().errors).toEqual([
      { path: '/params/id', message: expect.stringMatching(/must match pattern/) as unknown },
    ]);
    expect((await call(app, op, 'GET', '/api/v1/images/imports/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b')).statusCode).toBe(
      404,
    );
  });

  it('pins and unpins a host image (operator), audited with before/after', async () => {
    const put = await call(app, op, 'PUT', `/api/v1/boot-assignments/${UUID}`, { image: 'esxi-8.0u2' });
    expect(put.statusCode).toBe(200);
    expect((await store.hosts.get(UUID))?.imagePin).toBe('esxi-8.0u2');
    expect((await call(app, op, 'GET', '/api/v1/boot-assignments')).json()).toEqual([
      { uuid: UUID, hostname: null, image: 'esxi-8.0u2' },
    ]);
    expect((await call(app, op, 'DELETE', `/api/v1/boot-assignments/${UUID}`)).statusCode).toBe(204);
    expect((await store.hosts.get(UUID))?.imagePin).toBeNull();
    const entries = (await store.audit.list(5)).filter((e) => e.action.startsWith('pin.'));
    expect(entries.map((e) => [e.action, e.before, e.after])).toEqual([
      ['pin.clear', { image: 'esxi-8.0u2' }, { image: null }],
      ['pin.set', { image: null }, { image: 'esxi-8.0u2' }],
    ]);
  });

  it("resets a host's recorded thumbprints (admin only), audited", async () => {
    await store.hostBoots.recordPhoneHome(UUID, {
      at: 1,
      verifiedBy: 'token',
      thumbprint: 'AA:BB',
      thumbprintSha1: 'CC',
    });
    await store.hostBoots.setJoinedThumbprint(UUID, 'AA:BB');
    expect((await call(app, op, 'DELETE', `/api/v1/hosts/${UUID}/thumbprint`)).statusCode).toBe(403);
    const r = await call(app, admin, 'DELETE', `/api/v1/hosts/${UUID}/thumbprint`);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ uuid: UUID, changed: true });
    expect(await store.hostBoots.get(UUID)).toMatchObject({ thumbprint: undefined, joinedThumbprint: undefined });
    expect((await call(app, admin, 'DELETE', `/api/v1/hosts/${UUID}/thumbprint`)).json()).toMatchObject({
      changed: false,
    });
    expect((await store.audit.list(5)).filter((e) => e.action === 'host.thumbprint.reset')).toHaveLength(2);
    expect((await call(app, admin, 'DELETE', '/api/v1/hosts/bad%20id/thumbprint')).statusCode).toBe(400);
  });

  it('never returns secrets: vCenter passwords, password hashes, session values', async () => {
    const vcs = await call(app, admin, 'GET', '/api/v1/vcenters');
    expect(vcs.json()).toEqual([
      { name: 'vc1', url: 'https://127.0.0.1:1/sdk', username: 'svc@vsphere.local', hasCaFile: false },
    ]);
    expect((await call(app, op, 'POST', '/api/v1/vcenters/vc1/test')).json()).toMatchObject({ name: 'vc1', ok: false });
    await call(app, admin, 'POST', '/api/v1/users', {
      username: 'erin',
      password: 'erin-password-1',
      role: 'operator',
    });
    const erin = (await store.users.getByName('erin'))!;
    await call(app, admin, 'PUT', `/api/v1/users/${erin.id}/password`, { password: 'erin-password-2' });
    await call(app, admin, 'GET', '/api/v1/users');
    const audit = await call(app, admin, 'GET', '/api/v1/audit');
    expect(audit.json<AuditEntry[]>().some((e) => e.action === 'user.password')).toBe(true);
    await call(app, admin, 'GET', '/api/docs/json');
    await call(app, admin, 'GET', '/audit');
    const all = bodies.join('\n');
    expect(all).toContain('svc@vsphere.local');
    for (const secret of [
      SECRET,
      'SX_WEB_TEST_VC_PASSWORD',
      'erin-password-1',
      'erin-password-2',
      '$argon2',
      admin.cookies['sx_session']!,
    ]) {
      expect(all).not.toContain(secret);
    }
    expect(JSON.stringify(sqliteOf(store).prepare('SELECT * FROM audit_log').all())).not.toMatch(
      /erin-password|argon2/,
    );
  });

  it('serves /healthz, /readyz and /metrics without a session, with HTTP counters', async () => {
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ url: '/readyz' })).json()).toMatchObject({
      status: 'ready',
      checks: { store: 'ok', services: 'ok' },
    });
    const m = await app.inject({ url: '/metrics' });
    expect(m.statusCode).toBe(200);
    expect(m.body).toMatch(/statelesx_http_requests_total\{method="GET",route="\/healthz",status="2xx"\} \d+/);
    expect(m.body).toMatch(/statelesx_http_response_bytes_total\{route="\/api\/v1\/session"\} \d+/);
  });

  it('reports not ready while services start', async () => {
    let ready = false;
    const { app: a2, store: s2 } = await makeApp({ ready: () => ready }, []);
    expect((await a2.inject({ url: '/readyz' })).statusCode).toBe(503);
    ready = true;
    expect((await a2.inject({ url: '/readyz' })).statusCode).toBe(200);
    await a2.close();
    s2.close();
  });

  it('reports not ready while a pinned image of the shared catalog is not served here', async () => {
    let images = 'pinned image(s) not served here: esxi-8.0u3 (not in images-dir)';
    const { app: a2, store: s2 } = await makeApp({ imagesReadiness: () => images }, []);
    const r = await a2.inject({ url: '/readyz' });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ status: 'not ready', checks: { images } });
    images = 'ok';
    expect((await a2.inject({ url: '/readyz' })).statusCode).toBe(200);
    await a2.close();
    s2.close();
  });

  it('publishes the OpenAPI document with every /api/v1 route and the shared schemas', async () => {
    const doc = (await call(app, op, 'GET', '/api/docs/json')).json<OpenApiDoc>();
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of [
      '/api/v1/hosts',
      '/api/v1/unregistered/{uuid}/join',
      '/api/v1/clusters/{name}/xml',
      '/api/v1/jobs/{id}/events',
      '/api/v1/images/import',
      '/api/v1/boot-assignments/{uuid}',
      '/api/v1/users',
      '/api/v1/audit',
      '/api/v1/vcenters/{name}/test',
    ]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['Problem', 'Host', 'Job', 'ClusterIssue']),
    );
    const ui = await call(app, op, 'GET', '/api/docs/');
    expect(ui.statusCode).toBe(200);
  });
});
