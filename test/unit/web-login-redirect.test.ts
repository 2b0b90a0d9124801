/**
 * After login the console follows `next` only to a path of this server (issue 16, finding 10):
 * `/login?next=/%09/evil.example/x` used to answer `Location: /\t/evil.example/x`, which browsers
 * read as `//evil.example/x` (they strip tabs and newlines from URLs).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import { safeNext as sameOriginPath } from '../../src/web/console/forms.js';
import { cookiesOf, makeApp, PASSWORD } from '../helpers/web.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** `next` values a browser would follow to another host, as they arrive (decoded). */
const HOSTILE = [
  '/\t/evil.example/x',
  '/\n/evil.example/x',
  '/\r\n/evil.example',
  '//evil.example/x',
  '/\\evil.example/x',
  '/\\/evil.example',
  '/.//evil.example/x',
  '/./\t/evil.example',
  'https://evil.example/',
  'http:evil.example',
  'javascript:alert(1)',
  ' //evil.example',
  '',
];

describe('sameOriginPath', () => {
  it('refuses everything a browser would take to another origin', () => {
    for (const next of HOSTILE) expect(sameOriginPath(next), JSON.stringify(next)).toBe('/');
    expect(sameOriginPath(undefined)).toBe('/');
  });
  it('keeps paths of this server, with query and fragment', () => {
    expect(sameOriginPath('/hosts')).toBe('/hosts');
    expect(sameOriginPath('/clusters/lab?tab=xml#l3')).toBe('/clusters/lab?tab=xml#l3');
    expect(sameOriginPath('/a/../jobs')).toBe('/jobs');
  });
});

describe('console login: next', () => {
  let app: FastifyInstance;
  let store: Store;
  beforeAll(async () => {
    ({ app, store } = await makeApp({ loginRateLimit: { max: 1000, timeWindowMs: 60_000 } }));
  });
  afterAll(async () => {
    await app.close();
    store.close();
  });

  async function loginWith(next: string): Promise<string | undefined> {
    const pre = await app.inject({ url: `/login?next=${encodeURIComponent(next)}` });
    const cookies = cookiesOf(pre);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(pre.body)![1]!;
    const shown = /name="next" value="([^"]*)"/.exec(pre.body)?.[1];
    const res = await app.inject({
      method: 'POST',
      url: '/login',
      cookies,
      headers: FORM,
      payload: `_csrf=${encodeURIComponent(csrf)}&username=op&password=${encodeURIComponent(PASSWORD)}&next=${encodeURIComponent(next)}`,
    });
    expect(res.statusCode).toBe(303);
    expect(shown === undefined || shown === '/' || !/evil/.test(shown)).toBe(true);
    return res.headers.location;
  }

  it('redirects to / for /login?next=/%09/evil.example/x and every other off-site next', async () => {
    // Each login costs an argon2 verification: the parser's cases are all covered above.
    for (const next of ['/\t/evil.example/x', '/.//evil.example/x', '/\\evil.example/x'])
      expect(await loginWith(next), JSON.stringify(next)).toBe('/');
  });

  it('still follows a same-origin path', async () => {
    expect(await loginWith('/hosts?state=unregistered')).toBe('/hosts?state=unregistered');
  });
});
