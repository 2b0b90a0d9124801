/**
 * The HTTP phone-home routes in a real fastify app (inject), plus one request over a real socket
 * with curl, the way iPXE's `chain` fetches the URL.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { exchange, startFixture, type Fixture } from '../helpers/initiator-fixture.js';
import { phoneHomePlugin } from '../../src/phonehome/http.js';
import { silentLogger } from '../../src/log.js';

const U = '4c4c4544-0042-4610-8053-b3c04f345433';

let fx: Fixture;
let app: FastifyInstance;
beforeEach(async () => {
  fx = await startFixture();
  app = Fastify();
  await app.register(phoneHomePlugin({ handler: fx.registry, log: silentLogger }), { prefix: '/api/v1' });
  await app.ready();
});
afterEach(async () => {
  await app.close();
  await fx.close();
});

describe('HTTP phone-home', () => {
  it('POST JSON: unregistered host recorded with its evidence', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/v1/phone-home',
      payload: {
        uuid: U,
        hostname: 'esx20',
        mac: ['00:50:56:aa:bb:01', '00-50-56-AA-BB-02'],
        serial: 'S1',
        vendor: 'Dell Inc.',
        model: 'R750',
        version: 'py/1',
      },
    });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ result: 'unregistered' });
    expect(await fx.store.hosts.get(U)).toMatchObject({
      hostname: 'esx20',
      serial: 'S1',
      vendor: 'Dell Inc.',
      model: 'R750',
    });
    expect((await fx.store.hosts.get(U))!.evidence).toMatchObject({
      claimedMacs: ['00:50:56:aa:bb:01', '00:50:56:aa:bb:02'],
      phoneHome: { transport: 'http', form: 'http' },
    });
    expect((await fx.store.phoneHomes.list())[0]).toMatchObject({
      transport: 'http',
      result: 'unregistered',
      address: '127.0.0.1',
    });
  });

  it('POST JSON: known host with token → job; without → 403 problem+json; bad body → 400, nothing stored', async () => {
    fx.declared.set(U, { cluster: 'prod', fqdn: 'esx01.lab' });
    const ok = await app.inject({
      method: 'POST',
      url: '/api/v1/phone-home',
      payload: { uuid: U, token: await fx.tokens.issue(U) },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ result: 'ok', jobId: 'job-1', existingJob: false });
    const refused = await app.inject({ method: 'POST', url: '/api/v1/phone-home', payload: { uuid: U } });
    expect(refused.statusCode).toBe(403);
    expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
    // the declared response schema (problem+json) serializes every member, the extension `reason` included
    expect(refused.json()).toEqual({
      type: 'forbidden',
      title: 'Phone-home refused',
      status: 403,
      detail: 'refused: token-missing',
      reason: 'token-missing',
    });
    const n = await fx.store.phoneHomes.count();
    for (const payload of [
      { hostname: 'x' },
      { uuid: U, colour: 'blue' },
      { uuid: 'nope' },
      { uuid: U, mac: 'zz' },
      { uuid: 42 },
    ]) {
      const bad = await app.inject({ method: 'POST', url: '/api/v1/phone-home', payload });
      expect(bad.statusCode, JSON.stringify(payload)).toBe(400);
      expect(bad.json<{ reason: string }>().reason, JSON.stringify(payload)).toMatch(/schema|bad-uuid|bad-mac/);
      expect(bad.json(), JSON.stringify(payload)).toMatchObject({
        type: 'validation-error',
        title: 'Invalid phone-home',
        status: 400,
        detail: expect.any(String) as unknown,
      });
    }
    expect(await fx.store.phoneHomes.count()).toBe(n);
  });

  it('GET query string: plain text, empty iPXE settings ignored, and an #!ipxe script when asked', async () => {
    const plain = await app.inject({
      method: 'GET',
      url: `/api/v1/phone-home?uuid=${U}&hostname=&mac=52:54:00:12:34:56&token=`,
    });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['content-type']).toMatch(/^text\/plain/);
    expect(plain.body).toBe('UNREGISTERED\n');
    fx.declared.set(U, { cluster: 'prod', fqdn: 'esx01.lab' });
    const refused = await app.inject({ method: 'GET', url: `/api/v1/phone-home?uuid=${U}` });
    expect([refused.statusCode, refused.body]).toEqual([403, 'ERR token-missing\n']);
    const script = await app.inject({ method: 'GET', url: `/api/v1/phone-home?uuid=${U}&format=ipxe` });
    expect([script.statusCode, script.body]).toEqual([
      200,
      '#!ipxe\necho statelesx phone-home: ERR token-missing\nexit 1\n',
    ]);
    const good = await app.inject({
      method: 'GET',
      url: `/api/v1/phone-home?uuid=${U}&token=${await fx.tokens.issue(U)}&format=ipxe`,
    });
    expect(good.body).toBe('#!ipxe\necho statelesx phone-home: OK job-1\nexit 0\n');
    const bad = await app.inject({
      method: 'GET',
      url: '/api/v1/phone-home?uuid=00000000-0000-0000-0000-000000000000',
    });
    expect([bad.statusCode, bad.body]).toEqual([400, 'ERR nil-uuid\n']);
  });

  it('answers curl over a real socket on 127.0.0.1', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    let out: string;
    try {
      // async: the server answers from this same event loop
      out = (
        await promisify(execFile)(
          'curl',
          ['-sS', '--max-time', '5', `http://127.0.0.1:${port}/api/v1/phone-home?uuid=${U}&mac=52:54:00:12:34:56`],
          { encoding: 'utf8' },
        )
      ).stdout;
    } catch (e) {
      throw new Error(`curl failed (${(e as Error).message}); run scripts/install-test-deps`, { cause: e });
    }
    expect(out).toBe('UNREGISTERED\n');
    expect((await fx.store.hosts.get(U))!.evidence['claimedMacs']).toEqual(['52:54:00:12:34:56']);
  });
});

describe('new unregistered hosts per source (issue 16, finding 8)', () => {
  it('a source adds at most initiator.new-hosts-per-source-per-minute new hosts, over HTTP and TCP together; the rest is 429 and not stored', async () => {
    await fx.close();
    fx = await startFixture({ newHostsPerMinute: 2 });
    await app.close();
    app = Fastify();
    await app.register(phoneHomePlugin({ handler: fx.registry, log: silentLogger }), { prefix: '/api/v1' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const uuid = (n: number) => `4c4c4544-0042-4610-8053-b3c04f3454${String(n).padStart(2, '0')}`;
    const curl = async (u: string) =>
      (
        await promisify(execFile)(
          'curl',
          ['-sS', '-w', ' %{http_code}', '--max-time', '5', `http://127.0.0.1:${port}/api/v1/phone-home?uuid=${u}`],
          { encoding: 'utf8' },
        )
      ).stdout;
    expect(await curl(uuid(1))).toBe('UNREGISTERED\n 200');
    expect(await exchange(fx.port, `${uuid(2)}\n`)).toBe('UNREGISTERED\n');
    expect(await curl(uuid(3))).toBe('ERR rate-limited\n 429');
    expect(await exchange(fx.port, `${uuid(4)}\n`)).toBe('ERR rate-limited\n');
    const post = await app.inject({ method: 'POST', url: '/api/v1/phone-home', payload: { uuid: uuid(5) } });
    expect([post.statusCode, post.json<{ reason: string }>().reason]).toEqual([429, 'rate-limited']);
    // a host already listed, and a known host, are never limited
    expect(await curl(uuid(1))).toBe('UNREGISTERED\n 200');
    fx.declared.set(U, { cluster: 'prod', fqdn: 'esx01.lab' });
    expect(await curl(`${U}&token=${await fx.tokens.issue(U)}`)).toBe('OK job-1\n 200');
    expect((await fx.store.hosts.list('unregistered')).map((h) => h.uuid).sort()).toEqual([uuid(1), uuid(2)]);
    expect(await fx.store.phoneHomes.count()).toBe(4); // the refused new hosts left no row
  });
});

describe('HTTP phone-home inside the real web app (buildApp)', () => {
  it('is reachable without a session or CSRF token, and unknown keys are refused', async () => {
    const { buildApp } = await import('../../src/web/app.js');
    const web = await buildApp({
      store: fx.store,
      log: silentLogger,
      phoneHomePlugin: phoneHomePlugin({ handler: fx.registry, log: silentLogger }),
    });
    try {
      const post = await web.inject({
        method: 'POST',
        url: '/api/v1/phone-home',
        payload: { uuid: U, hostname: 'esx30' },
      });
      expect([post.statusCode, post.json()]).toEqual([200, { result: 'unregistered' }]);
      const get = await web.inject({ method: 'GET', url: `/api/v1/phone-home?uuid=${U}&format=ipxe` });
      expect(get.body).toBe('#!ipxe\necho statelesx phone-home: UNREGISTERED\nexit 0\n');
      const extra = await web.inject({
        method: 'POST',
        url: '/api/v1/phone-home',
        payload: { uuid: U, colour: 'blue' },
      });
      expect(extra.statusCode).toBe(400);
      expect(extra.json()).toMatchObject({ reason: 'schema', detail: expect.stringContaining('colour') as unknown });
      expect(await fx.store.hosts.get(U)).toMatchObject({ hostname: 'esx30' });
    } finally {
      await web.close();
    }
  });
});
