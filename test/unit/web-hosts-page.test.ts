/**
 * Host lists a page at a time (issue 16, finding 8: the console's hosts page made one boot-history
 * request, and store query, per host, and `GET /api/v1/hosts` returned every host at once).
 * The store here holds more hosts than a page; every SQL statement the store runs is counted (the
 * better-sqlite3 handle's statements are wrapped before the repositories prepare theirs), and the
 * count per request must not depend on how many hosts the page shows.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openStore, type Store } from '../../src/store/index.js';
import { sqliteOf } from '../../src/store/inspect.js';
import { HOST_PAGE_DEFAULT, HOST_PAGE_MAX } from '../../src/web/api/hosts.js';
import { CONSOLE_HOST_PAGE } from '../../src/web/console/hosts.js';
import { makeApp, loginAs, call, type Client } from '../helpers/web.js';

const HOSTS = 250;
const uuidOf = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const macOf = (i: number) =>
  `52:54:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

/** Counts every execution of a statement prepared on the store's database from now on. */
function countQueries(store: Store): { n: number } {
  const counter = { n: 0 };
  const db = sqliteOf(store);
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    const st = prepare(source);
    for (const m of ['run', 'get', 'all', 'iterate'] as const) {
      const orig = st[m].bind(st) as (...a: unknown[]) => unknown;
      (st as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
        counter.n++;
        return orig(...a);
      };
    }
    return st;
  }) as unknown as typeof db.prepare;
  return counter;
}

describe('paginated host lists', () => {
  let app: FastifyInstance;
  let store: Store;
  let view: Client;
  let queries: { n: number };

  beforeAll(async () => {
    store = await openStore(':memory:');
    queries = countQueries(store);
    for (let i = 1; i <= HOSTS; i++) {
      await store.hosts.upsertSighting({ uuid: uuidOf(i), at: 1_000_000 + i, mac: macOf(i), hostname: `esx${i}` });
      // Half boot by UUID, half were only seen by MAC before their UUID was known.
      await store.hosts.addBootEvent({
        at: 2_000_000 + i,
        hostUuid: i % 2 ? uuidOf(i) : null,
        mac: macOf(i),
        address: '10.0.0.9',
        protocol: 'http',
        file: 'boot.cfg',
        image: `img-${i % 7}`,
        firmware: 'uefi',
      });
    }
    ({ app } = await makeApp({ store }));
    view = await loginAs(app, 'view');
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    store?.close();
  });

  const measure = async (url: string) => {
    const before = queries.n;
    const res = await call(app, view, 'GET', url);
    return { res, queries: queries.n - before };
  };

  it(`GET /api/v1/hosts returns ${HOST_PAGE_DEFAULT} by default, newest first, with lastImage, and links the next page`, async () => {
    const { res } = await measure('/api/v1/hosts');
    expect(res.statusCode).toBe(200);
    const hosts = res.json<Array<{ uuid: string; lastSeen: number; lastImage: string | null }>>();
    expect(hosts).toHaveLength(HOST_PAGE_DEFAULT);
    expect(hosts[0]!.uuid).toBe(uuidOf(HOSTS));
    expect(hosts.map((h) => h.lastImage)).toEqual(
      hosts.map((h) => `img-${Number.parseInt(h.uuid.slice(-12), 16) % 7}`),
    );
    const last = hosts[hosts.length - 1]!;
    expect(res.headers['link']).toBe(
      `</api/v1/hosts?limit=${HOST_PAGE_DEFAULT}&after=${last.lastSeen}.${last.uuid}>; rel="next"`,
    );
  });

  it('walks every host exactly once through the Link header, and the last page has none', async () => {
    const seen: string[] = [];
    let url: string | undefined = '/api/v1/hosts?limit=60';
    while (url) {
      const res = await call(app, view, 'GET', url);
      expect(res.statusCode, url).toBe(200);
      seen.push(...res.json<Array<{ uuid: string }>>().map((h) => h.uuid));
      url = /^<([^>]+)>; rel="next"$/.exec(String(res.headers['link'] ?? ''))?.[1];
    }
    expect(seen).toHaveLength(HOSTS);
    expect(new Set(seen).size).toBe(HOSTS);
  });

  it('refuses a limit above the maximum and a malformed after', async () => {
    expect((await call(app, view, 'GET', `/api/v1/hosts?limit=${HOST_PAGE_MAX + 1}`)).statusCode).toBe(400);
    expect((await call(app, view, 'GET', '/api/v1/hosts?after=x')).statusCode).toBe(400);
  });

  it('one page costs the same store queries whatever its size (no query per host)', async () => {
    const small = await measure('/api/v1/hosts?limit=2');
    const large = await measure(`/api/v1/hosts?limit=${HOST_PAGE_MAX}`);
    expect(small.res.json<unknown[]>()).toHaveLength(2);
    expect(large.res.json<unknown[]>()).toHaveLength(HOSTS);
    expect(large.queries).toBe(small.queries);
  });

  it(`the console's /hosts shows ${CONSOLE_HOST_PAGE} hosts with their booted image and a next link, at a constant query count`, async () => {
    const first = await measure('/hosts');
    expect(first.res.statusCode).toBe(200);
    const rows = first.res.body.match(/<tr><td><a href="\/hosts\//g) ?? [];
    expect(rows).toHaveLength(CONSOLE_HOST_PAGE);
    expect(first.res.body).toContain(`booted: img-${HOSTS % 7}`);
    const next = /<a href="([^"]+)" rel="next">/.exec(first.res.body)?.[1]?.replace(/&amp;/g, '&');
    expect(next).toMatch(/^\/hosts\?after=/);
    // The last page holds 50 hosts: the same queries as the page of 100.
    const second = await measure(next!);
    const third = await measure(/<a href="([^"]+)" rel="next">/.exec(second.res.body)![1]!.replace(/&amp;/g, '&'));
    expect(third.res.body.match(/<tr><td><a href="\/hosts\//g) ?? []).toHaveLength(HOSTS - 2 * CONSOLE_HOST_PAGE);
    expect(third.res.body).not.toContain('rel="next"');
    expect(third.queries).toBe(first.queries);
  });

  it('GET /api/v1/unregistered pages the same way, its currentBoot read for the page at once', async () => {
    // One host phoned home on its current boot: its currentBoot says so; the others were seen by PXE.
    await store.hostBoots.recordPhoneHome(uuidOf(HOSTS), { at: 3_000_000, verifiedBy: 'token' });
    const small = await measure('/api/v1/unregistered?limit=2');
    const large = await measure(`/api/v1/unregistered?limit=${HOST_PAGE_MAX}`);
    const first = small.res.json<Array<{ uuid: string; currentBoot?: string }>>();
    expect(first.map((h) => [h.uuid, h.currentBoot])).toEqual([
      [uuidOf(HOSTS), 'phoned-home'],
      [uuidOf(HOSTS - 1), 'pxe-only'],
    ]);
    expect(small.res.headers['link']).toMatch(
      /^<\/api\/v1\/unregistered\?limit=2&after=\d+\.[0-9a-f-]{36}>; rel="next"$/,
    );
    expect(large.res.json<unknown[]>()).toHaveLength(HOSTS);
    expect(large.res.headers['link']).toBeUndefined();
    expect(large.queries).toBe(small.queries);
    const page1 = await measure('/unregistered');
    const next = /<a href="([^"]+)" rel="next">/.exec(page1.res.body)![1]!.replace(/&amp;/g, '&');
    const page2 = await measure(next);
    expect(page1.res.body.match(/<tr data-uuid=/g) ?? []).toHaveLength(CONSOLE_HOST_PAGE);
    const page3 = await measure(/<a href="([^"]+)" rel="next">/.exec(page2.res.body)![1]!.replace(/&amp;/g, '&'));
    expect(page2.res.body.match(/<tr data-uuid=/g) ?? []).toHaveLength(CONSOLE_HOST_PAGE);
    expect(page3.res.body.match(/<tr data-uuid=/g) ?? []).toHaveLength(HOSTS - 2 * CONSOLE_HOST_PAGE);
    expect(page3.queries).toBe(page1.queries);
  });

  it("the dashboard's counts come from one count, not from listing every host", async () => {
    const counts = await call(app, view, 'GET', '/api/v1/hosts/counts');
    expect(counts.json()).toEqual({
      total: HOSTS,
      unregistered: HOSTS,
      registered: 0,
      configuring: 0,
      configured: 0,
      failed: 0,
    });
    const dash = await measure('/');
    expect(dash.res.statusCode).toBe(200);
    expect(dash.res.body).toMatch(new RegExp(`<span class="n">${HOSTS}</span> total`));
  });
});
