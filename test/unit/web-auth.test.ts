import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import { issueSetupToken } from '../../src/web/auth/tokens.js';
import { makeApp, loginAs, call, cookiesOf, PASSWORD, RecordingQueue, type Client } from '../helpers/web.js';
import type { ClusterService, MemberHostInput } from '../../src/web/deps.js';
import { sqliteOf } from '../../src/store/inspect.js';
import type { ProblemBody, SessionBody } from '../helpers/api-bodies.js';

const UUID = '4c4c4544-0033-4810-8052-b4c04f4e3432';

/** In-memory cluster files: enough to exercise the join route's authorization and audit. */
function memoryClusters(): ClusterService & { members: MemberHostInput[] } {
  const members: MemberHostInput[] = [];
  return {
    members,
    list: () => Promise.resolve([{ name: 'lab', file: '/x/lab.xml', hosts: members.length, errors: [] }]),
    get: () => Promise.resolve(undefined),
    readXml: (n) => Promise.resolve(n === 'lab' ? '<cluster/>' : undefined),
    validateXml: () => Promise.resolve([]),
    writeXml: () => Promise.resolve([]),
    addMemberHost: (n, m) => {
      if (n !== 'lab') return Promise.reject(new Error(`cluster ${n} not found`));
      members.push(m);
      return Promise.resolve();
    },
  };
}

describe('web auth: roles, CSRF, sessions', () => {
  let app: FastifyInstance;
  let store: Store;
  let admin: Client;
  let op: Client;
  let view: Client;
  const queue = new RecordingQueue();
  const clusters = memoryClusters();

  beforeAll(async () => {
    ({ app, store } = await makeApp({ queue, clusters, loginRateLimit: { max: 8, timeWindowMs: 60_000 } }));
    [admin, op, view] = [await loginAs(app, 'admin'), await loginAs(app, 'op'), await loginAs(app, 'view')];
  });
  afterAll(async () => {
    await app.close();
    store.close();
  });

  it('refuses the API without a session (401 problem+json) and redirects console pages to /login', async () => {
    const api = await app.inject({ url: '/api/v1/hosts' });
    expect(api.statusCode).toBe(401);
    expect(api.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(api.json()).toMatchObject({ status: 401, title: 'Unauthenticated', instance: '/api/v1/hosts' });
    const page = await app.inject({ url: '/hosts' });
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe('/login?next=%2Fhosts');
  });

  it('sets the session cookie HttpOnly, SameSite=Strict, Path=/, and not Secure without TLS', async () => {
    const pre = await app.inject({ url: '/api/v1/session' });
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      cookies: cookiesOf(pre),
      headers: { 'x-csrf-token': pre.json<SessionBody>().csrfToken },
      payload: { username: 'view', password: PASSWORD },
    });
    const raw = ([] as string[])
      .concat(res.headers['set-cookie'] as string[])
      .find((c) => c.startsWith('sx_session='))!;
    expect(raw).toMatch(/; HttpOnly/);
    expect(raw).toMatch(/; SameSite=Strict/);
    expect(raw).toMatch(/; Path=\//);
    expect(raw).not.toMatch(/; Secure/);
    // The store keeps only the hash of the cookie value.
    const value = raw.split(';')[0]!.split('=')[1]!;
    expect(JSON.stringify(sqliteOf(store).prepare('SELECT * FROM sessions').all())).not.toContain(value);
  });

  it('lets a viewer read but not post, an operator join but not manage users, an admin do both', async () => {
    await store.hosts.upsertSighting({ uuid: UUID, at: Date.now(), mac: '52:54:00:12:34:56', hostname: 'esx-new' });
    expect((await call(app, view, 'GET', '/api/v1/hosts')).statusCode).toBe(200);
    const vj = await call(app, view, 'POST', `/api/v1/unregistered/${UUID}/join`, {
      cluster: 'lab',
      fqdn: 'esx01.lab.example',
    });
    expect(vj.statusCode).toBe(403);
    expect(vj.json<ProblemBody>().detail).toMatch(/role viewer .*needs operator/);
    expect(clusters.members).toHaveLength(0);

    const ou = await call(app, op, 'POST', '/api/v1/users', {
      username: 'mallory',
      password: 'x'.repeat(12),
      role: 'admin',
    });
    expect(ou.statusCode).toBe(403);
    expect(await store.users.getByName('mallory')).toBeUndefined();
    expect((await call(app, op, 'GET', '/api/v1/users')).statusCode).toBe(403);

    const oj = await call(app, op, 'POST', `/api/v1/unregistered/${UUID}/join`, {
      cluster: 'lab',
      fqdn: 'esx01.lab.example',
      addresses: { vmk1: '10.0.1.11' },
    });
    expect(oj.statusCode).toBe(202);
    expect(oj.json()).toMatchObject({ uuid: UUID, ok: true, cluster: 'lab', job: { id: 'job-1', existing: false } });
    expect(clusters.members).toEqual([
      { uuid: UUID, fqdn: 'esx01.lab.example', addresses: { vmk1: '10.0.1.11' }, mac: '52:54:00:12:34:56' },
    ]);
    expect(queue.calls).toEqual([{ kind: 'configure-host', target: UUID, origin: { source: 'api', actor: 'op' } }]);
    expect(await store.hosts.get(UUID)).toMatchObject({ state: 'registered', cluster: 'lab' });
    const audit = (await store.audit.list(10)).find((e) => e.action === 'host.join')!;
    expect(audit).toMatchObject({
      actor: 'op',
      target: UUID,
      before: { state: 'unregistered' },
      after: { cluster: 'lab', job: 'job-1' },
    });

    const au = await call(app, admin, 'POST', '/api/v1/users', {
      username: 'carol',
      password: 'y'.repeat(12),
      role: 'viewer',
    });
    expect(au.statusCode).toBe(201);
    expect(au.json()).toMatchObject({ username: 'carol', role: 'viewer', disabled: false });
  });

  it('refuses state-changing requests with a missing or wrong CSRF token (403) and changes nothing', async () => {
    const before = (await store.users.list()).length;
    const payload = { username: 'dave', password: 'z'.repeat(12), role: 'viewer' };
    const missing = await app.inject({ method: 'POST', url: '/api/v1/users', cookies: admin.cookies, payload });
    expect(missing.statusCode).toBe(403);
    expect(missing.json<ProblemBody>().detail).toMatch(/CSRF/);
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      cookies: admin.cookies,
      headers: { 'x-csrf-token': op.csrf },
      payload,
    });
    expect(wrong.statusCode).toBe(403);
    const del = await app.inject({ method: 'DELETE', url: '/api/v1/session', cookies: admin.cookies });
    expect(del.statusCode).toBe(403);
    expect((await store.users.list()).length).toBe(before);
    // A pre-login token does not work for a logged-in session either.
    const pre = await app.inject({ url: '/api/v1/session' });
    const mixed = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      cookies: { ...admin.cookies, ...cookiesOf(pre) },
      headers: { 'x-csrf-token': pre.json<SessionBody>().csrfToken },
      payload,
    });
    expect(mixed.statusCode).toBe(403);
    const ok = await call(app, admin, 'POST', '/api/v1/users', payload);
    expect(ok.statusCode).toBe(201);
  });

  it('refuses a login without the pre-login CSRF token', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      payload: { username: 'admin', password: PASSWORD },
    });
    expect(res.statusCode).toBe(403);
  });

  it('rate-limits login attempts per client (429 problem+json with Retry-After)', async () => {
    const pre = await app.inject({ url: '/api/v1/session', remoteAddress: '127.0.0.9' });
    const attempt = () =>
      app.inject({
        method: 'POST',
        url: '/api/v1/session',
        remoteAddress: '127.0.0.9',
        cookies: cookiesOf(pre),
        headers: { 'x-csrf-token': pre.json<SessionBody>().csrfToken },
        payload: { username: 'admin', password: 'wrong password' },
      });
    const codes = [];
    for (let i = 0; i < 10; i++) codes.push((await attempt()).statusCode);
    expect(codes).toEqual([...Array<number>(8).fill(401), 429, 429]);
    const last = await attempt();
    expect(last.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(last.headers['retry-after']).toBeDefined();
    // Even the right password is refused while limited.
    const right = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      remoteAddress: '127.0.0.9',
      cookies: cookiesOf(pre),
      headers: { 'x-csrf-token': pre.json<SessionBody>().csrfToken },
      payload: { username: 'admin', password: PASSWORD },
    });
    expect(right.statusCode).toBe(429);
  });

  it('logs out: the session is gone from the store and the cookie stops working', async () => {
    const c = await loginAs(app, 'view');
    expect((await call(app, c, 'GET', '/api/v1/hosts')).statusCode).toBe(200);
    expect((await call(app, c, 'DELETE', '/api/v1/session')).statusCode).toBe(204);
    expect((await call(app, c, 'GET', '/api/v1/hosts')).statusCode).toBe(401);
  });
});

describe('web auth: one-time setup token', () => {
  it('creates the first admin once; the token cannot be used again', async () => {
    const { app, store } = await makeApp({}, []);
    const token = await issueSetupToken(store.settings);
    expect(JSON.stringify(sqliteOf(store).prepare('SELECT * FROM settings').all())).not.toContain(token);
    const pre = await app.inject({ url: '/api/v1/session' });
    expect(pre.json<SessionBody>().setupRequired).toBe(true);
    const headers = { 'x-csrf-token': pre.json<SessionBody>().csrfToken };
    const bad = await app.inject({
      method: 'POST',
      url: '/api/v1/setup',
      cookies: cookiesOf(pre),
      headers,
      payload: { token: 'not-it', username: 'root', password: PASSWORD },
    });
    expect(bad.statusCode).toBe(403);
    const weak = await app.inject({
      method: 'POST',
      url: '/api/v1/setup',
      cookies: cookiesOf(pre),
      headers,
      payload: { token, username: 'root', password: 'short' },
    });
    expect(weak.statusCode).toBe(422);
    expect(weak.json<ProblemBody>().errors).toEqual([
      { path: '/body/password', message: 'must be at least 10 characters' },
    ]);
    const ok = await app.inject({
      method: 'POST',
      url: '/api/v1/setup',
      cookies: cookiesOf(pre),
      headers,
      payload: { token, username: 'root', password: PASSWORD },
    });
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toMatchObject({ authenticated: true, user: { username: 'root', role: 'admin' } });
    const again = await app.inject({
      method: 'POST',
      url: '/api/v1/setup',
      cookies: cookiesOf(pre),
      headers,
      payload: { token, username: 'root2', password: PASSWORD },
    });
    expect(again.statusCode).toBe(403);
    expect((await store.users.list()).map((u) => u.username)).toEqual(['root']);
    const page = await app.inject({ url: `/setup?token=${token}` });
    expect(page.statusCode).toBe(403);
    await app.close();
    store.close();
  });
});

describe('web auth: one login rate limit for every login-like route', () => {
  it('counts POST /api/v1/session, /api/v1/setup, /login and /setup together: the (max+1)th attempt from one address is 429', async () => {
    const { app, store } = await makeApp({ loginRateLimit: { max: 6, timeWindowMs: 60_000 } });
    await issueSetupToken(store.settings);
    const remoteAddress = '127.0.0.23';
    const pre = await app.inject({ url: '/api/v1/session', remoteAddress });
    const cookies = cookiesOf(pre);
    const headers = { 'x-csrf-token': pre.json<SessionBody>().csrfToken };
    const form = { ...headers, 'content-type': 'application/x-www-form-urlencoded' };
    const attempts = [
      () =>
        app.inject({
          method: 'POST',
          url: '/api/v1/session',
          remoteAddress,
          cookies,
          headers,
          payload: { username: 'admin', password: 'wrong password' },
        }),
      () =>
        app.inject({
          method: 'POST',
          url: '/login',
          remoteAddress,
          cookies,
          headers: form,
          payload: 'username=admin&password=wrong+password',
        }),
      () =>
        app.inject({
          method: 'POST',
          url: '/api/v1/setup',
          remoteAddress,
          cookies,
          headers,
          payload: { token: 'guess', username: 'root', password: PASSWORD },
        }),
      () =>
        app.inject({
          method: 'POST',
          url: '/setup',
          remoteAddress,
          cookies,
          headers: form,
          payload: `token=guess&username=root&password=${encodeURIComponent(PASSWORD)}`,
        }),
    ];
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) codes.push((await attempts[i % 4]!()).statusCode);
    expect(codes).toEqual([401, 401, 403, 403, 401, 401, 429, 429]);
    const limited = await attempts[2]!();
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ status: 429, title: 'Too Many Requests' });
    expect(limited.headers['retry-after']).toBeDefined();
    // The console's login form comes back with the reason.
    const page = await attempts[1]!();
    expect(page.statusCode).toBe(429);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toMatch(/too many attempts; retry in \d+ s/);
    // Another address has its own budget.
    const other = await app.inject({
      method: 'POST',
      url: '/login',
      remoteAddress: '127.0.0.24',
      cookies,
      headers: form,
      payload: 'username=admin&password=wrong+password',
    });
    expect(other.statusCode).toBe(401);
    await app.close();
    store.close();
  });
});
