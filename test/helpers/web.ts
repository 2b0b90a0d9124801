/** Shared set-up for the web tests: an app over an in-memory store, users, and logged-in clients. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { ClusterRepository } from '../../src/clusters/repository.js';
import { openStore, type Store } from '../../src/store/index.js';
import { silentLogger } from '../../src/log.js';
import { buildApp } from '../../src/web/app.js';
import type { AppDeps } from '../../src/web/deps.js';
import argon2 from 'argon2';
import type { Role } from '../../src/store/users.js';
import type { JobOrigin, JobQueue, JobRef } from '../../src/engine/queue.js';
import type { SessionBody } from './api-bodies.js';

export const PASSWORD = 'correct horse battery';

let passwordHash: Promise<string> | undefined;
/**
 * {@link PASSWORD} hashed as the fixture users' stored hash: argon2id like the product's
 * `hashPassword`, but at the smallest cost (m=1 MiB, t=1, p=1) instead of the library default
 * (64 MiB, t=3, p=4, 0.1–0.2 s a hash or a verify on a 2-core machine), made once per process.
 * A login verifies with the parameters the PHC string carries, so every login of these tests runs
 * the product's own verify path without its deliberate cost. Users created through the API or
 * `statelesx user` still get the product's hash (web-api checks it).
 */
export function fixturePasswordHash(): Promise<string> {
  passwordHash ??= argon2.hash(PASSWORD, { type: argon2.argon2id, memoryCost: 1024, timeCost: 1, parallelism: 1 });
  return passwordHash;
}

/** A queue that records what was enqueued (the engine is not under test here). */
export class RecordingQueue implements JobQueue {
  calls: Array<{ kind: string; target: string; origin: JobOrigin }> = [];
  enqueueConfigureHost(hostUuid: string, origin: JobOrigin): Promise<JobRef> {
    this.calls.push({ kind: 'configure-host', target: hostUuid, origin });
    return Promise.resolve({ id: `job-${this.calls.length}`, existing: false });
  }
  enqueueApplyCluster(cluster: string, origin: JobOrigin): Promise<JobRef> {
    this.calls.push({ kind: 'apply-cluster', target: cluster, origin });
    return Promise.resolve({ id: `job-${this.calls.length}`, existing: false });
  }
}

export async function makeApp(
  extra: Partial<Omit<AppDeps, 'store'>> & { store?: Store } = {},
  users: Array<[string, Role]> = [
    ['admin', 'admin'],
    ['op', 'operator'],
    ['view', 'viewer'],
  ],
  beforeReady?: (app: FastifyInstance) => void,
): Promise<{ app: FastifyInstance; store: Store }> {
  const store = extra.store ?? (await openStore(':memory:'));
  const hash = await fixturePasswordHash();
  for (const [name, role] of users) await store.users.create(name, hash, role);
  const app = await buildApp({ store, log: silentLogger, ...extra });
  beforeReady?.(app);
  await app.ready();
  return { app, store };
}

/** Cookie header value from a response's set-cookie list merged over `prev`. */
export function cookiesOf(res: LightMyRequestResponse, prev: Record<string, string> = {}): Record<string, string> {
  const out = { ...prev };
  for (const c of res.cookies as Array<{ name: string; value: string; maxAge?: number; expires?: Date }>) {
    if (c.value === '' || c.maxAge === 0 || (c.expires && c.expires.getTime() < Date.now())) delete out[c.name];
    else out[c.name] = c.value;
  }
  return out;
}

export interface Client {
  cookies: Record<string, string>;
  csrf: string;
}

/** Logs in through the API the way a client must: GET session (pre-login cookie + token), POST session. */
export async function loginAs(app: FastifyInstance, username: string, password = PASSWORD): Promise<Client> {
  const pre = await app.inject({ method: 'GET', url: '/api/v1/session' });
  let cookies = cookiesOf(pre);
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/session',
    cookies,
    headers: { 'x-csrf-token': pre.json<SessionBody>().csrfToken },
    payload: { username, password },
  });
  if (res.statusCode !== 200) throw new Error(`login ${username}: ${res.statusCode} ${res.body}`);
  cookies = cookiesOf(res, cookies);
  return { cookies, csrf: res.json<SessionBody>().csrfToken };
}

/** An authenticated request with the CSRF header. */
export function call(
  app: FastifyInstance,
  c: Client,
  method: string,
  url: string,
  payload?: unknown,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: method as 'GET',
    url,
    cookies: c.cookies,
    headers: { 'x-csrf-token': c.csrf, ...headers },
    ...(payload !== undefined ? { payload: payload as string } : {}),
  });
}

/** A cluster file text in the schema of test/fixtures/clusters/minimal.xml, with these members. */
export function clusterXml(
  name: string,
  members: Array<{ fqdn: string; uuid: string }> = [],
  vcenter = 'vc-test',
): string {
  const hosts = members.length
    ? `<members>\n${members.map((m) => `    <host fqdn="${m.fqdn}" uuid="${m.uuid}"/>`).join('\n')}\n  </members>`
    : '<members/>';
  return `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="${name}">
  <datacenter>DC0</datacenter>
  <vcenter>${vcenter}</vcenter>
  <credentials>esxi-root</credentials>
  ${hosts}
</cluster>
`;
}

/** A real ClusterRepository over a fresh temporary directory holding `files` (file name → text). */
export async function clusterRepo(
  files: Record<string, string>,
  vcenters = ['vc-test'],
): Promise<{ dir: string; repo: ClusterRepository; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'sx-web-clusters-'));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  const repo = new ClusterRepository({ dir, context: { vcenters, credentials: ['esxi-root'] } });
  await repo.reload();
  return { dir, repo, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
