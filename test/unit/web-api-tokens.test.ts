/**
 * API bearer tokens through the API with a real store: created by an admin and shown once, stored
 * as a keyed hash, roles enforced, expiry, revocation effective at the next request, no CSRF token
 * needed with a bearer (a cookie session still needs one), the audit entry naming the token, the
 * token absent from the pino output of its requests, and a clear 401 for wrong or garbled
 * Authorization headers.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { createLogger } from '../../src/log.js';
import { openStore, type Store } from '../../src/store/index.js';
import { sqliteOf } from '../../src/store/inspect.js';
import { makeApp, loginAs, call, type Client } from '../helpers/web.js';
import type { ProblemBody } from '../helpers/api-bodies.js';

interface Created {
  id: number;
  name: string;
  role: string;
  token: string;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

describe('API bearer tokens', () => {
  let app: FastifyInstance;
  let store: Store;
  let admin: Client;
  let clock = Date.parse('2026-12-07T12:00:00Z');
  const logLines: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString());
        cb();
      },
    });
    store = await openStore(':memory:');
    ({ app } = await makeApp({ store, log: createLogger('info', sink), now: () => clock }));
    admin = await loginAs(app, 'admin');
  });
  afterAll(async () => {
    await app.close();
    store.close();
  });

  const bearer = (token: string, method: string, url: string, payload?: unknown) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload !== undefined ? { payload: payload as string } : {}),
    });
  const create = async (body: Record<string, unknown>): Promise<Created> => {
    const res = await call(app, admin, 'POST', '/api/v1/tokens', body);
    expect(res.statusCode, res.body).toBe(201);
    return res.json<Created>();
  };

  it('creates a token shown once and stores only a keyed hash of it', async () => {
    const t = await create({ name: 'ci-pipeline', role: 'operator' });
    expect(t.token).toMatch(/^sxt_[A-Za-z0-9_-]{43}$/);
    expect(t).toMatchObject({ name: 'ci-pipeline', role: 'operator', expiresAt: null, lastUsedAt: null });
    const listed = (await call(app, admin, 'GET', '/api/v1/tokens')).json<Array<Record<string, unknown>>>();
    expect(listed).toEqual([expect.objectContaining({ name: 'ci-pipeline', createdBy: 'admin' })]);
    expect(JSON.stringify(listed)).not.toContain(t.token);
    const row = sqliteOf(store).prepare('SELECT * FROM api_tokens WHERE name = ?').get('ci-pipeline') as Record<
      string,
      unknown
    >;
    expect(JSON.stringify(row)).not.toContain(t.token);
    expect(row['token_hash']).toMatch(/^[0-9a-f]{64}$/);
    // A second token of the same name is refused.
    expect((await call(app, admin, 'POST', '/api/v1/tokens', { name: 'ci-pipeline', role: 'viewer' })).statusCode).toBe(
      409,
    );
  });

  it("enforces the token's role, and needs no CSRF token with a bearer while a cookie session still does", async () => {
    const viewer = await create({ name: 'dashboard', role: 'viewer' });
    const op = await create({ name: 'pins', role: 'operator' });
    expect((await bearer(viewer.token, 'GET', '/api/v1/hosts')).statusCode).toBe(200);
    const denied = await bearer(viewer.token, 'POST', '/api/v1/tokens', { name: 'x', role: 'admin' });
    expect(denied.statusCode).toBe(403);
    expect(denied.json<ProblemBody>().detail).toMatch(/role viewer may not POST \/api\/v1\/tokens/);
    expect((await bearer(op.token, 'GET', '/api/v1/tokens')).statusCode).toBe(403);
    const adminToken = await create({ name: 'terraform', role: 'admin' });
    // A state-changing request with the bearer and no x-csrf-token: accepted.
    const made = await bearer(adminToken.token, 'POST', '/api/v1/tokens', { name: 'made-by-token', role: 'viewer' });
    expect(made.statusCode, made.body).toBe(201);
    expect(made.json<Record<string, unknown>>()['createdBy']).toBe('token:terraform');
    // The same request on a cookie session without its CSRF token: refused.
    const noCsrf = await app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      cookies: admin.cookies,
      payload: { name: 'no-csrf', role: 'viewer' },
    });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json<ProblemBody>().detail).toMatch(/CSRF token missing or wrong/);
  });

  it('audits changes made with a token under its name, and records its last use', async () => {
    const t = await create({ name: 'audited', role: 'admin' });
    const other = await create({ name: 'to-revoke', role: 'viewer' });
    expect((await bearer(t.token, 'DELETE', `/api/v1/tokens/${other.id}`)).statusCode).toBe(204);
    expect((await store.audit.list(5))[0]).toMatchObject({
      actor: 'token:audited',
      action: 'api-token.revoke',
      target: 'to-revoke',
    });
    expect((await store.apiTokens.getByName('audited'))!.lastUsedAt).toBe(clock);
    // Within a minute another request does not write; after it, it does.
    clock += 30_000;
    await bearer(t.token, 'GET', '/api/v1/hosts');
    expect((await store.apiTokens.getByName('audited'))!.lastUsedAt).toBe(clock - 30_000);
    clock += 31_000;
    await bearer(t.token, 'GET', '/api/v1/hosts');
    expect((await store.apiTokens.getByName('audited'))!.lastUsedAt).toBe(clock);
  });

  it('refuses a token once it has expired, saying so', async () => {
    const t = await create({
      name: 'short-lived',
      role: 'viewer',
      expiresAt: new Date(clock + 3600_000).toISOString(),
    });
    expect((await bearer(t.token, 'GET', '/api/v1/hosts')).statusCode).toBe(200);
    clock += 3600_000;
    const res = await bearer(t.token, 'GET', '/api/v1/hosts');
    expect(res.statusCode).toBe(401);
    expect(res.json<ProblemBody>().detail).toMatch(/^API token short-lived expired at /);
    const past = await call(app, admin, 'POST', '/api/v1/tokens', {
      name: 'already-expired',
      role: 'viewer',
      expiresAt: new Date(clock - 1000).toISOString(),
    });
    expect(past.statusCode).toBe(422);
    expect(past.json<ProblemBody>().errors?.[0]?.path).toBe('/body/expiresAt');
  });

  it('revocation takes effect at the next request', async () => {
    const t = await create({ name: 'revoked-soon', role: 'admin' });
    expect((await bearer(t.token, 'GET', '/api/v1/tokens')).statusCode).toBe(200);
    expect((await call(app, admin, 'DELETE', `/api/v1/tokens/${t.id}`)).statusCode).toBe(204);
    const res = await bearer(t.token, 'GET', '/api/v1/tokens');
    expect(res.statusCode).toBe(401);
    expect(res.json<ProblemBody>().detail).toBe('unknown or revoked API token');
    expect((await store.audit.list(1))[0]).toMatchObject({
      actor: 'admin',
      action: 'api-token.revoke',
      target: 'revoked-soon',
    });
  });

  it.each([
    ['Basic YWRtaW46cGFzcw==', /scheme "Basic" is not supported: send "Authorization: Bearer <API token>"/],
    ['Bearer', /Authorization header is malformed/],
    ['Bearer  ', /Authorization header is malformed/],
    ['Bearer not-a-token', /not a statelesx API token/],
    [`Bearer sxt_${'A'.repeat(43)}`, /^unknown or revoked API token$/],
    ['', /Authorization header is malformed/],
  ])('answers 401 with a clear message to Authorization: %j', async (header, message) => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/hosts', headers: { authorization: header } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(res.json<ProblemBody>().detail).toMatch(message);
  });

  it('a garbled Authorization header is refused even beside a valid session cookie', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/hosts',
      cookies: admin.cookies,
      headers: { authorization: 'Bearer garbage' },
    });
    expect(res.statusCode).toBe(401);
  });

  it('never writes a token to the log', async () => {
    const t = await create({ name: 'logged', role: 'admin' });
    logLines.length = 0;
    await bearer(t.token, 'GET', '/api/v1/hosts');
    await bearer(t.token, 'POST', '/api/v1/tokens', { name: 'logged-2', role: 'viewer' });
    await bearer(`${t.token}x`, 'GET', '/api/v1/hosts');
    const out = logLines.join('');
    expect(out).toContain('incoming request');
    expect(out).toContain('bearer token refused');
    expect(out).toContain('"action":"api-token.create"');
    expect(out).not.toContain(t.token);
    expect(out).not.toContain(t.token.slice(4));
  });
});
