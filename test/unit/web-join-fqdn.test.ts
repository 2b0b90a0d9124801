/**
 * Issue 19 item 7: the FQDN a host phoned home with. The unregistered list (API and console)
 * shows it as `fqdn` when it is a fully qualified RFC 1123 name, the join form is filled in with
 * it, and a join through the API without `fqdn` writes it into the cluster file; a host that sent
 * a short name (or none, or one with `_`) needs the FQDN given, with a 422 naming the field.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import { clusterService } from '../../src/app/web-adapters.js';
import { makeApp, loginAs, call, clusterRepo, clusterXml, RecordingQueue, type Client } from '../helpers/web.js';
import type { ProblemBody } from '../helpers/api-bodies.js';

const A = '4c4c4544-0033-4810-8052-b4c04f4e3a01'; // phoned home esx-a.lab.example
const B = '4c4c4544-0033-4810-8052-b4c04f4e3a02'; // phoned home the short name esx-b
const C = '4c4c4544-0033-4810-8052-b4c04f4e3a03'; // phoned home esx_c.lab.example (tolerated, not RFC 1123)

describe('the phoned-home FQDN: unregistered list, join form, join API default', () => {
  let app: FastifyInstance;
  let store: Store;
  let op: Client;
  let cleanup: () => void;
  let dir: string;
  const queue = new RecordingQueue();

  beforeAll(async () => {
    const r = await clusterRepo({ 'lab.xml': clusterXml('lab') });
    cleanup = r.cleanup;
    dir = r.dir;
    ({ app, store } = await makeApp({ clusters: clusterService(r.repo), queue }));
    op = await loginAs(app, 'op');
    await store.hosts.upsertSighting({ uuid: A, at: 1000, hostname: 'esx-a.lab.example' });
    await store.hosts.upsertSighting({ uuid: B, at: 2000, hostname: 'esx-b' });
    await store.hosts.upsertSighting({ uuid: C, at: 3000, hostname: 'esx_c.lab.example' });
  });
  afterAll(async () => {
    await app.close();
    store.close();
    cleanup();
  });

  it('GET /api/v1/unregistered gives each host its phoned-home fqdn, null when not fully qualified', async () => {
    const res = await call(app, op, 'GET', '/api/v1/unregistered');
    expect(res.statusCode).toBe(200);
    const rows = res.json<Array<{ uuid: string; hostname: string | null; fqdn: string | null }>>();
    expect(Object.fromEntries(rows.map((r) => [r.uuid, [r.hostname, r.fqdn]]))).toEqual({
      [A]: ['esx-a.lab.example', 'esx-a.lab.example'],
      [B]: ['esx-b', null],
      [C]: ['esx_c.lab.example', null],
    });
  });

  it('the console join form is filled in with it', async () => {
    const page = await call(app, op, 'GET', '/unregistered');
    expect(page.statusCode).toBe(200);
    const input = (u: string) => new RegExp(`<input name="fqdn\\.${u}"[^>]*>`).exec(page.body)?.[0] ?? '';
    expect(input(A)).toContain('value="esx-a.lab.example"');
    expect(input(B)).toContain('value=""');
    expect(input(C)).toContain('value=""');
  });

  it('a join without fqdn writes the phoned-home FQDN into the cluster file', async () => {
    const res = await call(app, op, 'POST', `/api/v1/unregistered/${A}/join`, { cluster: 'lab' });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ uuid: A, ok: true, cluster: 'lab', fqdn: 'esx-a.lab.example' });
    expect(readFileSync(join(dir, 'lab.xml'), 'utf8')).toMatch(
      new RegExp(`<host fqdn="esx-a\\.lab\\.example" uuid="${A}"`),
    );
    expect(await store.hosts.get(A)).toMatchObject({ state: 'registered', cluster: 'lab' });
    expect((await store.audit.list(1))[0]).toMatchObject({
      action: 'host.join',
      target: A,
      after: expect.objectContaining({ fqdn: 'esx-a.lab.example' }) as unknown,
    });
  });

  it('without fqdn and no FQDN phoned home: 422 naming the field and what the host sent; nothing written', async () => {
    const before = readFileSync(join(dir, 'lab.xml'), 'utf8');
    const res = await call(app, op, 'POST', `/api/v1/unregistered/${B}/join`, { cluster: 'lab' });
    expect(res.statusCode).toBe(422);
    const p = res.json<ProblemBody>();
    expect(p.detail).toContain(`host ${B} phoned home without a fully qualified name (it sent "esx-b")`);
    expect(p.errors.map((e) => e.path)).toEqual(['/fqdn']);
    expect(readFileSync(join(dir, 'lab.xml'), 'utf8')).toBe(before);
    expect((await store.hosts.get(B))?.state).toBe('unregistered');
  });

  it('the batch join: a given fqdn is used, a host without one is reported, the others still join', async () => {
    const res = await call(app, op, 'POST', '/api/v1/unregistered/join', {
      cluster: 'lab',
      hosts: [{ uuid: C }, { uuid: B, fqdn: 'esx-b.rack2.example' }],
    });
    expect(res.statusCode, res.body).toBe(202);
    const { results } = res.json<{ results: Array<{ uuid: string; ok: boolean; fqdn?: string; error?: string }> }>();
    expect(results[0]).toMatchObject({ uuid: C, ok: false });
    expect(results[0]!.error).toContain('(it sent "esx_c.lab.example")');
    expect(results[1]).toMatchObject({ uuid: B, ok: true });
    expect(results[1]!.fqdn).toBeUndefined(); // given, not defaulted
    expect(readFileSync(join(dir, 'lab.xml'), 'utf8')).toContain(`<host fqdn="esx-b.rack2.example" uuid="${B}"`);
  });
});
