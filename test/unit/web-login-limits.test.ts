/**
 * Login-like routes under hostile input (issue 16, findings 3 and 12): small bodies, JSON depth,
 * the rate limit before the body is read, and a back-off per account as well as per address.
 */
import { describe, it, expect, afterEach } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import { LOGIN_BODY_LIMIT, MAX_JSON_DEPTH, jsonTooDeep } from '../../src/web/limits.js';
import { FREE_FAILURES } from '../../src/web/auth/backoff.js';
import { cookiesOf, makeApp, PASSWORD } from '../helpers/web.js';

let open: { app: FastifyInstance; store: Store } | undefined;
afterEach(async () => {
  await open?.app.close();
  open?.store.close();
  open = undefined;
});

/** A pre-login session (cookie + CSRF header) for one client address. */
async function prelogin(app: FastifyInstance, remoteAddress: string) {
  const pre = await app.inject({ url: '/api/v1/session', remoteAddress });
  return { cookies: cookiesOf(pre), headers: { 'x-csrf-token': pre.json<{ csrfToken: string }>().csrfToken } };
}

describe('login-like routes: body size and JSON depth', () => {
  it(`refuses bodies over ${LOGIN_BODY_LIMIT} bytes on POST /api/v1/session, /api/v1/setup, /login and /setup (413)`, async () => {
    open = await makeApp({ loginRateLimit: { max: 100, timeWindowMs: 60_000 } });
    const { app } = open;
    const c = await prelogin(app, '127.0.0.40');
    const big = 'x'.repeat(LOGIN_BODY_LIMIT + 1);
    for (const url of ['/api/v1/session', '/api/v1/setup']) {
      const r = await app.inject({
        method: 'POST',
        url,
        ...c,
        remoteAddress: '127.0.0.40',
        payload: { username: big },
      });
      expect(r.statusCode, url).toBe(413);
    }
    for (const url of ['/login', '/setup']) {
      const r = await app.inject({
        method: 'POST',
        url,
        cookies: c.cookies,
        remoteAddress: '127.0.0.40',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `username=${big}`,
      });
      expect(r.statusCode, url).toBe(413);
    }
  });

  it(`refuses JSON nested deeper than ${MAX_JSON_DEPTH} levels before parsing it (400)`, async () => {
    open = await makeApp({ loginRateLimit: { max: 100, timeWindowMs: 60_000 } });
    const { app } = open;
    const c = await prelogin(app, '127.0.0.41');
    const deep = '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1);
    const r = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      ...c,
      remoteAddress: '127.0.0.41',
      headers: { ...c.headers, 'content-type': 'application/json' },
      payload: deep,
    });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ detail: `JSON body nested deeper than ${MAX_JSON_DEPTH} levels` });
    expect(jsonTooDeep('{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')).toBe(false);
    expect(jsonTooDeep('[{"a":"\\\\"}]', 1)).toBe(true);
  });

  it('runs the rate limit before reading the body: a limited client is answered 429 even with a body over the limit', async () => {
    open = await makeApp({ loginRateLimit: { max: 1, timeWindowMs: 60_000 } });
    const { app } = open;
    const c = await prelogin(app, '127.0.0.42');
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const first = await app.inject({
      method: 'POST',
      url: '/login',
      cookies: c.cookies,
      remoteAddress: '127.0.0.42',
      headers: form,
      payload: `_csrf=${encodeURIComponent(c.headers['x-csrf-token'])}&username=admin&password=wrong+password`,
    });
    expect(first.statusCode).toBe(401);
    const huge = await app.inject({
      method: 'POST',
      url: '/login',
      cookies: c.cookies,
      remoteAddress: '127.0.0.42',
      headers: form,
      payload: `username=${'x'.repeat(1024 * 1024)}`,
    });
    expect(huge.statusCode).toBe(429);
  });
});

describe('login back-off per account', () => {
  it(`after ${FREE_FAILURES} failed logins for one account from many addresses, that account waits (429), others do not`, async () => {
    open = await makeApp({ loginRateLimit: { max: 100, timeWindowMs: 60_000 } });
    const { app } = open;
    const attempt = async (username: string, password: string, addr: number) => {
      const remoteAddress = `127.0.1.${addr}`;
      const c = await prelogin(app, remoteAddress);
      return app.inject({
        method: 'POST',
        url: '/api/v1/session',
        ...c,
        remoteAddress,
        payload: { username, password },
      });
    };
    const codes: number[] = [];
    for (let i = 0; i < FREE_FAILURES; i++) codes.push((await attempt('admin', `guess-${i}`, i + 1)).statusCode);
    expect(codes).toEqual(Array(FREE_FAILURES).fill(401));
    // A new address, the right password: the account backs off all the same.
    const right = await attempt('admin', PASSWORD, 200);
    expect(right.statusCode).toBe(429);
    expect(right.json<{ detail: string }>().detail).toMatch(
      /^too many failed logins for this account; retry in \d+ s$/,
    );
    expect(right.headers['retry-after']).toBeDefined();
    expect((await attempt('op', PASSWORD, 201)).statusCode).toBe(200);
  });
});
