/**
 * Cluster files and joins through the API over a real ClusterRepository in a temporary directory:
 * PUT of the XML (422 with element path, line and column, nothing written; 200 and written), the
 * batch join of two unregistered hosts, and who may save files or test a vCenter (role table).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import { clusterService, vcenterTester } from '../../src/app/web-adapters.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { posOf } from '../fixtures/clusters/helpers.js';
import { makeApp, loginAs, call, clusterRepo, clusterXml, RecordingQueue, type Client } from '../helpers/web.js';
import type { ProblemBody } from '../helpers/api-bodies.js';
import type { JoinResult } from '../../src/web/services.js';
import type { ClusterSummary } from '../../src/web/deps.js';

const U1 = '4c4c4544-0031-3510-8052-b1c04f303031';
const U2 = '4c4c4544-0031-3510-8052-b1c04f303032';
const XML = { 'content-type': 'application/xml' };
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('web cluster files, joins and roles', () => {
  let app: FastifyInstance;
  let store: Store;
  let dir: string;
  let cleanup: () => void;
  let admin: Client;
  let op: Client;
  let view: Client;
  const queue = new RecordingQueue();
  const fileText = () => readFileSync(join(dir, 'lab.xml'), 'utf8');

  beforeAll(async () => {
    process.env['SX_WEB_CLUSTERS_VC_PASSWORD'] = 'not-used-by-any-vcenter';
    const r = await clusterRepo({ 'lab.xml': clusterXml('lab') });
    ({ dir, cleanup } = r);
    const config = configSchema.parse({
      vcenters: [
        {
          name: 'vc-test',
          url: 'https://127.0.0.1:1/sdk',
          username: 'svc@vsphere.local',
          'password-env': 'SX_WEB_CLUSTERS_VC_PASSWORD',
          'timeout-ms': 2000,
        },
      ],
    });
    ({ app, store } = await makeApp({
      config,
      queue,
      clusters: clusterService(r.repo),
      vcenters: vcenterTester(config.vcenters, silentLogger),
    }));
    [admin, op, view] = [await loginAs(app, 'admin'), await loginAs(app, 'op'), await loginAs(app, 'view')];
  });
  afterAll(async () => {
    await app.close();
    store.close();
    cleanup();
    delete process.env['SX_WEB_CLUSTERS_VC_PASSWORD'];
  });

  it("PUT of an invalid file: 422 with each issue's element path, line and column; the file is unchanged", async () => {
    const before = fileText();
    const bad = clusterXml('lab')
      .replace('<credentials>esxi-root</credentials>', '<credentials>esxi-root</credentials>\n  <bogus/>')
      .replace('vc-test', 'vc-nope');
    const res = await call(app, admin, 'PUT', '/api/v1/clusters/lab/xml', bad, XML);
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const p = res.json<ProblemBody>();
    expect(p.detail).toMatch(/cluster lab does not validate .*nothing was saved/);
    const at = (needle: string) => posOf(bad, needle);
    expect(p.errors).toEqual(
      expect.arrayContaining([
        { path: '/cluster/bogus', message: expect.stringMatching(/bogus.*not expected/) as unknown, ...at('<bogus/>') },
      ]),
    );
    for (const e of p.errors) {
      expect(e).toEqual({
        path: expect.stringMatching(/^\/cluster/) as unknown,
        message: expect.any(String) as unknown,
        line: expect.any(Number) as unknown,
        column: expect.any(Number) as unknown,
      });
    }
    const malformed = await call(app, admin, 'PUT', '/api/v1/clusters/lab/xml', {
      xml: clusterXml('lab').replace('<members/>', '<members>'),
    });
    expect(malformed.statusCode).toBe(422);
    expect(malformed.json<ProblemBody>().errors[0]).toMatchObject({
      message: expect.stringMatching(/not well-formed/) as unknown,
      line: 7,
      column: 1,
    });
    expect(fileText()).toBe(before);
    expect((await store.audit.list(10)).some((e) => e.action.startsWith('cluster.'))).toBe(false);
  });

  it('PUT of a valid file: 200, written to disk as sent, audited, served back', async () => {
    const text = clusterXml('lab').replace('<members/>', '<!-- kept as written -->\n  <members/>');
    const res = await call(app, admin, 'PUT', '/api/v1/clusters/lab/xml', text, XML);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ saved: true });
    expect(fileText()).toBe(text);
    expect((await call(app, view, 'GET', '/api/v1/clusters/lab/xml')).body).toBe(text);
    expect((await store.audit.list(5)).find((e) => e.action === 'cluster.update')).toMatchObject({
      actor: 'admin',
      target: 'lab',
      after: { xml: text },
    });
  });

  it('joins two unregistered hosts in one request: both written into the file, both registered, two configure jobs queued', async () => {
    await store.hosts.upsertSighting({ uuid: U1, at: 1, mac: '52:54:00:00:00:01' });
    await store.hosts.upsertSighting({ uuid: U2, at: 2, mac: '52:54:00:00:00:02' });
    const res = await call(app, op, 'POST', '/api/v1/unregistered/join', {
      cluster: 'lab',
      hosts: [
        { uuid: U1, fqdn: 'esx1.lab.example' },
        { uuid: U2.toUpperCase(), fqdn: 'esx2.lab.example' },
      ],
    });
    expect(res.statusCode).toBe(202);
    expect(res.json<{ results: JoinResult[] }>().results).toEqual([
      { uuid: U1, ok: true, cluster: 'lab', job: { id: 'job-1', existing: false } },
      { uuid: U2, ok: true, cluster: 'lab', job: { id: 'job-2', existing: false } },
    ]);
    const text = fileText();
    expect(text).toMatch(new RegExp(`<host[^>]*fqdn="esx1\\.lab\\.example"[^>]*uuid="${U1}"`));
    expect(text).toMatch(new RegExp(`<host[^>]*fqdn="esx2\\.lab\\.example"[^>]*uuid="${U2}"`));
    expect(text).toContain('<!-- kept as written -->');
    expect(queue.calls).toEqual([
      { kind: 'configure-host', target: U1, origin: { source: 'api', actor: 'op' } },
      { kind: 'configure-host', target: U2, origin: { source: 'api', actor: 'op' } },
    ]);
    expect([(await store.hosts.get(U1))?.state, (await store.hosts.get(U2))?.state]).toEqual([
      'registered',
      'registered',
    ]);
    expect((await call(app, view, 'GET', '/api/v1/clusters')).json<ClusterSummary[]>()[0]).toMatchObject({
      name: 'lab',
      hosts: 2,
      errors: [],
    });
    // Joining again: each host says why not, nothing is queued.
    const again = await call(app, op, 'POST', '/api/v1/unregistered/join', {
      cluster: 'lab',
      hosts: [{ uuid: U1, fqdn: 'esx1.lab.example' }],
    });
    expect(again.json<{ results: JoinResult[] }>().results[0]).toMatchObject({
      ok: false,
      error: expect.stringMatching(/is registered in cluster lab, not unregistered/) as unknown,
    });
    expect(queue.calls).toHaveLength(2);
  });

  it('the unregistered list tells a phone-home from a PXE-only sighting; joining a PXE-only host says it will wait', async () => {
    const P = '4c4c4544-0031-3510-8052-b1c04f303033';
    const Q = '4c4c4544-0031-3510-8052-b1c04f303034';
    const now = Date.now();
    // P: our DHCP answered it, nothing else (still in its firmware)
    await store.hosts.upsertSighting({ uuid: P, at: now, mac: '52:54:00:00:00:03' }, 'unregistered');
    await store.hosts.addBootEvent({
      at: now,
      hostUuid: P,
      mac: '52:54:00:00:00:03',
      address: null,
      protocol: 'dhcp',
      file: null,
      image: null,
      firmware: 'bios',
    });
    // Q: booted, then ESXi phoned home
    await store.hosts.upsertSighting({ uuid: Q, at: now, mac: '52:54:00:00:00:04' }, 'unregistered');
    await store.hosts.addBootEvent({
      at: now - 1000,
      hostUuid: Q,
      mac: '52:54:00:00:00:04',
      address: null,
      protocol: 'dhcp',
      file: null,
      image: null,
      firmware: 'bios',
    });
    await store.hostBoots.recordPhoneHome(Q, { at: now, verifiedBy: 'none' });
    const list = (await call(app, view, 'GET', '/api/v1/unregistered')).json<
      Array<{
        uuid: string;
        currentBoot?: string;
      }>
    >();
    expect(list.find((h) => h.uuid === P)?.currentBoot).toBe('pxe-only');
    expect(list.find((h) => h.uuid === Q)?.currentBoot).toBe('phoned-home');
    const res = await call(app, op, 'POST', '/api/v1/unregistered/join', {
      cluster: 'lab',
      hosts: [
        { uuid: P, fqdn: 'esx3.lab.example' },
        { uuid: Q, fqdn: 'esx4.lab.example' },
      ],
    });
    const [p, q] = res.json<{ results: Array<{ ok: boolean; waitsForPhoneHome?: boolean }> }>().results;
    expect(p).toMatchObject({ ok: true, waitsForPhoneHome: true });
    expect(q).toMatchObject({ ok: true });
    expect(q!.waitsForPhoneHome).toBeUndefined();
  });

  it('role table: saving cluster files is admin only (API and console); testing a vCenter needs operator', async () => {
    const before = fileText();
    const put = await call(app, op, 'PUT', '/api/v1/clusters/lab/xml', clusterXml('lab'), XML);
    expect(put.statusCode).toBe(403);
    expect(put.json<ProblemBody>().detail).toMatch(
      /role operator may not PUT \/api\/v1\/clusters\/:name\/xml \(needs admin\)/,
    );
    const ui = await call(
      app,
      op,
      'POST',
      '/ui/clusters/lab/save',
      `xml=${encodeURIComponent(clusterXml('lab'))}`,
      FORM,
    );
    expect(ui.statusCode).toBe(403);
    expect(fileText()).toBe(before);
    const uiAdmin = await call(app, admin, 'POST', '/ui/clusters/lab/save', `xml=${encodeURIComponent(before)}`, FORM);
    expect(uiAdmin.statusCode).toBe(200);

    expect((await call(app, view, 'POST', '/api/v1/vcenters/vc-test/test')).statusCode).toBe(403);
    const tested = await call(app, op, 'POST', '/api/v1/vcenters/vc-test/test');
    expect(tested.statusCode).toBe(200);
    expect(tested.json()).toMatchObject({
      name: 'vc-test',
      ok: false,
      message: expect.stringMatching(/127\.0\.0\.1:1/) as unknown,
    });
    expect(tested.body).not.toContain('not-used-by-any-vcenter');
    expect((await store.audit.list(5)).find((e) => e.action === 'vcenter.test')).toMatchObject({
      actor: 'op',
      target: 'vc-test',
      after: { ok: false },
    });
    expect((await call(app, admin, 'POST', '/api/v1/vcenters/vc-nope/test')).statusCode).toBe(404);
  });
});
