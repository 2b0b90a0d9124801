/**
 * Several servers on one PostgreSQL (issue 18), end to end: two real `statelesx serve` processes
 * (the built CLI) on one private PostgreSQL cluster and the vCenter simulator, every setting at
 * its default but the store, the vCenter and classic (tokenless) phone-homes.
 * - 200 members phone home over TCP 1974, half to each server → 200 hosts joined, each job run
 *   once (one AddHost_Task step done per job, every member's job succeeded);
 * - PostgreSQL stopped and started while both run → both answer /readyz again without a restart;
 * - `kill -9` of the server running jobs in the middle of joins → the other takes the engine
 *   lease and finishes them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startVcsim, type Vcsim } from '../helpers/vcsim.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { killServe, login, spawnServe, stopServe, type ApiSession, type ServeProcess } from '../helpers/serve.js';
import { openStore } from '../../src/store/index.js';
import { hashPassword } from '../../src/web/auth/passwords.js';

const N = 200;
const SLOW = 12;
const uuid = (g: number, i: number) => `4c4c4544-00${g}1-3510-8052-${i.toString(16).padStart(12, '0')}`;
const fqdn = (g: number, i: number) => `esx${g}-${i}.lab.example.com`;

function clusterXml(name: string, g: number, n: number): string {
  const members = Array.from({ length: n }, (_, i) => `    <host fqdn="${fqdn(g, i)}" uuid="${uuid(g, i)}"/>`);
  return `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="${name}">
  <datacenter>Lab</datacenter>
  <vcenter>vc-lab</vcenter>
  <credentials>esxi-root</credentials>
  <members>
${members.join('\n')}
  </members>
</cluster>
`;
}

/** The 2008 form `<hostname>:<uuid>` over TCP to `port`; resolves to the reply line. */
function phoneHome(port: number, g: number, i: number): Promise<string> {
  return new Promise((res, rej) => {
    const s = connect(port, '127.0.0.1', () => s.write(`${fqdn(g, i)}:${uuid(g, i)}\n`));
    let reply = '';
    s.on('data', (d: Buffer) => (reply += d.toString()));
    s.on('end', () => res(reply.trim()));
    s.on('error', rej);
    s.setTimeout(20_000, () => s.destroy(new Error('phone-home timed out')));
  });
}

/** The initiator port a server logged. */
function initiatorPort(s: ServeProcess): number {
  const m = /"subsystem":"initiator","address":"127\.0\.0\.1","port":(\d+)/.exec(s.output());
  if (!m) throw new Error(`no initiator port in:\n${s.output()}`);
  return Number(m[1]);
}

/** Sends every phone-home, `width` at a time, half to each port. */
async function phoneHomeAll(ports: number[], g: number, n: number, width = 8): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const r = await phoneHome(ports[i % ports.length]!, g, i);
      if (!/^OK/.test(r)) throw new Error(`phone-home of ${fqdn(g, i)}: ${r}`);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

interface JobView {
  id: string;
  target: string;
  state: string;
  steps?: Array<{ name: string; state: string }>;
}

/** Waits until every member of cluster group `g` has a succeeded job (read through `api`). */
async function allJoined(api: ApiSession, g: number, n: number, ms: number): Promise<JobView[]> {
  const want = new Set(Array.from({ length: n }, (_, i) => uuid(g, i)));
  const until = Date.now() + ms;
  for (;;) {
    const jobs = (await (await api.call('GET', '/api/v1/jobs?limit=1000')).json()) as JobView[];
    const mine = jobs.filter((j) => want.has(j.target));
    const failed = mine.filter((j) => ['failed', 'blocked', 'cancelled'].includes(j.state));
    if (failed.length) throw new Error(`jobs failed: ${JSON.stringify(failed.slice(0, 3))}`);
    const ok = mine.filter((j) => j.state === 'succeeded');
    if (new Set(ok.map((j) => j.target)).size === n) return ok;
    if (Date.now() > until) throw new Error(`${ok.length}/${n} joined after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

let pg: PgCluster;
let sim: Vcsim;
let root: string;
let a: ServeProcess;
let b: ServeProcess;
let apiB: ApiSession;

function serverDirs(name: string): string {
  const dir = join(root, name);
  for (const d of ['data', 'images', 'tftp', 'clusters']) mkdirSync(join(dir, d), { recursive: true });
  return dir;
}

beforeAll(async () => {
  pg = await startPostgres();
  sim = await startVcsim([
    '-method-delay',
    'AddHost_Task:1500',
    ...Array.from({ length: N }, (_, i) => ['-host-uuid', `${fqdn(1, i)}=${uuid(1, i)}`]).flat(),
    ...Array.from({ length: SLOW }, (_, i) => ['-host-uuid', `${fqdn(2, i)}=${uuid(2, i)}`]).flat(),
    '-host-uuid',
    `${fqdn(3, 0)}=${uuid(3, 0)}`,
  ]);
  root = mkdtempSync(join(tmpdir(), 'sx-two-servers-'));
  const config = [
    'engine: { lease-s: 3 }',
    'initiator: { require-token: false, new-hosts-per-source-per-minute: 100000, max-connections-per-source: 64 }',
    'vcenters:',
    `  - { name: vc-lab, url: "${sim.sdkUrl}", username: "${sim.username}", thumbprint: "${sim.thumbprint}", password-env: SX_2S_VC_PW }`,
    'credentials:',
    '  - { name: esxi-root, username: root, password-env: SX_2S_ESX_PW }',
    '',
  ].join('\n');
  process.env['SX_2S_VC_PW'] = sim.password;
  process.env['SX_2S_ESX_PW'] = 'esxi-secret-not-logged';
  process.env['STATELESX_DATABASE_URL'] = pg.url;
  const dirA = serverDirs('a');
  const dirB = serverDirs('b');
  writeFileSync(join(dirA, 'statelesx.yaml'), config);
  writeFileSync(join(dirB, 'statelesx.yaml'), config);
  // The cluster files go to A only: B takes them from the shared store.
  writeFileSync(join(dirA, 'clusters', 'bulk.xml'), clusterXml('bulk', 1, N));
  writeFileSync(join(dirA, 'clusters', 'slow.xml'), clusterXml('slow', 2, SLOW));
  writeFileSync(join(dirA, 'clusters', 'outage.xml'), clusterXml('outage', 3, 1));
  writeFileSync(join(dirA, 'tftp', 'hello.txt'), 'static boot file\n');
  // One console user, in the shared store.
  const store = await openStore({ dataDir: join(dirA, 'data'), url: pg.url });
  await store.users.create('alice', await hashPassword('correct horse battery'), 'admin');
  await store.end();
  a = await spawnServe(dirA, ['--config', join(dirA, 'statelesx.yaml')]);
  b = await spawnServe(dirB, ['--config', join(dirB, 'statelesx.yaml')]);
  apiB = await login(b.base, 'alice', 'correct horse battery');
}, 240_000);

afterAll(async () => {
  delete process.env['STATELESX_DATABASE_URL'];
  if (a) await stopServe(a);
  if (b) await stopServe(b);
  await sim?.stop();
  await pg?.destroy();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('two statelesx servers on one PostgreSQL', () => {
  it('200 phone-homes split across both: 200 hosts joined, each job run once', async () => {
    await phoneHomeAll([initiatorPort(a), initiatorPort(b)], 1, N);
    const ok = await allJoined(apiB, 1, N, 180_000);
    expect(ok).toHaveLength(N);
    // One AddHost_Task done per job: no job ran twice (vCenter refuses a second AddHost of a host).
    for (const j of ok.slice(0, 40)) {
      const view = (await (await apiB.call('GET', `/api/v1/jobs/${j.id}`)).json()) as JobView;
      expect(view.steps!.filter((s) => s.name === 'AddHost_Task' && s.state === 'done')).toHaveLength(1);
    }
  }, 300_000);

  it('PostgreSQL stopped and started while both run: both answer /readyz again without a restart', async () => {
    await pg.stop();
    for (const s of [a, b]) expect((await fetch(`${s.base}/readyz`)).status).toBe(503);
    // Meanwhile boot files that need no store keep being served, and a phone-home gets a clear
    // refusal (not a hang, not a crash); it succeeds once the database is back.
    const file = await fetch(`${a.bootBase}/boot/hello.txt`);
    expect(file.status).toBe(200);
    expect(await file.text()).toBe('static boot file\n');
    expect(await phoneHome(initiatorPort(a), 3, 0)).toMatch(/^ERR /);
    await pg.start();
    for (const s of [a, b]) {
      let status = 0;
      for (let i = 0; i < 60 && status !== 200; i++) {
        status = (await fetch(`${s.base}/readyz`)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 500));
      }
      expect(status).toBe(200);
    }
    // And they work again: a session on B still reads the jobs; the refused host phones home.
    expect((await apiB.call('GET', '/api/v1/jobs?limit=1')).status).toBe(200);
    expect(await phoneHome(initiatorPort(a), 3, 0)).toMatch(/^OK/);
  }, 60_000);

  it('kill -9 of the server running jobs: the other takes over and finishes them', async () => {
    await phoneHomeAll([initiatorPort(a), initiatorPort(b)], 2, SLOW);
    await new Promise((r) => setTimeout(r, 1000));
    // A started first, so it holds the engine lease and runs the jobs.
    await killServe(a);
    const ok = await allJoined(apiB, 2, SLOW, 120_000);
    expect(ok).toHaveLength(SLOW);
    // Jobs A was running when it died were taken over by B and re-planned from fresh state.
    const logs = await Promise.all(
      ok.map(
        async (j) => (await (await apiB.call('GET', `/api/v1/jobs/${j.id}/log`)).json()) as Array<{ msg: string }>,
      ),
    );
    const takenOver = logs.filter((l) =>
      l.some((x) => /resuming after taken over from a server that stopped/.test(x.msg)),
    );
    expect(takenOver.length).toBeGreaterThan(0);
  }, 180_000);
});
