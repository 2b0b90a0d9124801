/**
 * Route schemas compiled on first use (src/web/lazy-schemas.ts, issue 20 idle RSS): every schema
 * of the whole app still compiles, and a route's first request validates (ajv's errors reach the
 * problem document), coerces the query string and serializes its response as before.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import { pendingSchemas } from '../../src/web/app.js';
import { makeApp, loginAs, call, type Client } from '../helpers/web.js';
import type { ProblemBody } from '../helpers/api-bodies.js';

describe('route schemas compiled on first use', () => {
  let app: FastifyInstance;
  let store: Store;
  let admin: Client;

  beforeAll(async () => {
    ({ app, store } = await makeApp());
    admin = await loginAs(app, 'admin');
  });
  afterAll(async () => {
    await app.close();
    store.close();
  });

  it("rejects a route's first invalid body with ajv's field errors", async () => {
    const res = await call(app, admin, 'POST', '/api/v1/users', { username: { first: 'a' }, role: 'root' });
    expect(res.statusCode).toBe(400);
    const body = res.json<ProblemBody>();
    expect(body.errors?.map((e) => e.path).sort()).toEqual(['/body/password', '/body/role', '/body/username']);
  });

  it('coerces and checks the query string on first use', async () => {
    const bad = await call(app, admin, 'GET', '/api/v1/jobs/no-such-job/log?after=-1');
    expect(bad.statusCode).toBe(400);
    expect(bad.json<ProblemBody>().errors?.[0]?.path).toBe('/querystring/after');
    // `after=0` coerced to an integer: the route runs and answers for the unknown job.
    const ok = await call(app, admin, 'GET', '/api/v1/jobs/no-such-job/log?after=0');
    expect(ok.statusCode).toBe(404);
  });

  it('serializes a first response by its schema (no field outside it)', async () => {
    const res = await call(app, admin, 'GET', '/api/v1/users');
    expect(res.statusCode).toBe(200);
    const users = res.json<Array<Record<string, unknown>>>();
    expect(users.map((u) => u['username']).sort()).toEqual(['admin', 'op', 'view']);
    for (const u of users) expect(Object.keys(u).some((k) => /hash|password/i.test(k))).toBe(false);
  });

  it('compiles every remaining schema of the app without error', () => {
    const pending = pendingSchemas(app);
    expect(pending.compileAll()).toBeGreaterThan(100);
    expect(pending.compileAll()).toBe(0);
  });
});
