/**
 * Cluster-file history with a real git repository (issue 19 item 4): saves through the API by a
 * console user and by an API token (curl with a bearer) are commits `git log` (the git command)
 * shows with their authors; a hand edit on disk becomes a commit by statelesx at load, audited;
 * diff between two versions; revert writes the old version as a new commit; revert of a version
 * that does not validate is refused and nothing changes; delete is a commit; an administrator's
 * own repository is used as it is; loading an unchanged directory does not load git (issue 20's idle
 * RSS). The console's history page is tested in Chromium.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { openStore, type Store } from '../../src/store/index.js';
import { silentLogger } from '../../src/log.js';
import { buildApp } from '../../src/web/app.js';
import { ClusterRepository } from '../../src/clusters/repository.js';
import { clusterService } from '../../src/app/web-adapters.js';
import { auditDiskChanges } from '../../src/app/cluster-history-adapter.js';
import { call, clusterXml, fixturePasswordHash, loginAs, PASSWORD, type Client } from '../helpers/web.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(import.meta.dirname, '..', '..');
const run = promisify(execFile);
const UUID_A = '4c4c4544-0033-4810-8052-b4c04f4e3432';
const UUID_B = '4c4c4544-0033-4810-8052-b4c04f4e3433';

/** `git -C dir ARGS` (the Debian git command). */
async function git(dir: string, ...args: string[]): Promise<string> {
  return (await run('git', ['-C', dir, ...args], { timeout: 30_000 })).stdout;
}

/** Commits as `author|email|subject`, newest first. */
async function gitLog(dir: string, path = 'lab.xml'): Promise<string[]> {
  return (await git(dir, 'log', '--format=%an|%ae|%s', '--', path)).trim().split('\n').filter(Boolean);
}

/** curl with a bearer token; returns the HTTP status and body. */
async function curl(base: string, token: string, method: string, path: string, body?: unknown) {
  const args = ['-s', '-o', '-', '-w', '\n%{http_code}', '-X', method, '-H', `Authorization: Bearer ${token}`];
  if (body !== undefined) args.push('-H', 'content-type: application/json', '--data', JSON.stringify(body));
  const { stdout } = await run('curl', [...args, `${base}${path}`], { timeout: 30_000 });
  const nl = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(nl + 1)), body: stdout.slice(0, nl) };
}

interface Version {
  id: string;
  author: string;
  time: number;
  message: string;
}

describe('cluster-file history: API, git log, hand edits, diff, revert, delete', () => {
  let dir: string;
  let clustersDir: string;
  let store: Store;
  let repo: ClusterRepository;
  let app: FastifyInstance;
  let base: string;
  let admin: Client;
  let view: Client;
  let browser: Browser | undefined;
  const v1 = clusterXml('lab');
  const v2 = clusterXml('lab', [{ fqdn: 'esx1.example.com', uuid: UUID_A }]);
  const v3 = clusterXml('lab', [
    { fqdn: 'esx1.example.com', uuid: UUID_A },
    { fqdn: 'esx2.example.com', uuid: UUID_B },
  ]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sx-cluster-history-'));
    clustersDir = join(dir, 'clusters');
    mkdirSync(clustersDir);
    writeFileSync(join(clustersDir, 'lab.xml'), v1);
    store = await openStore(join(dir, 'data'));
    const hash = await fixturePasswordHash();
    await store.users.create('alice', hash, 'admin');
    await store.users.create('view', hash, 'viewer');
    repo = new ClusterRepository({
      dir: clustersDir,
      context: { vcenters: ['vc-test'], credentials: ['esxi-root'] },
      history: true,
      onDiskChange: auditDiskChanges(store.audit),
    });
    await repo.reload();
    app = await buildApp({ store, log: silentLogger, clusters: clusterService(repo) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    admin = await loginAs(app, 'alice');
    view = await loginAs(app, 'view');
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('does not create a repository at load; saves by a user and a token are commits with their authors', async () => {
    expect(existsSync(join(clustersDir, '.git'))).toBe(false);
    const put = await call(app, admin, 'PUT', '/api/v1/clusters/lab/xml', v2, { 'content-type': 'application/xml' });
    expect(put.statusCode, put.body).toBe(200);
    expect(existsSync(join(clustersDir, '.git'))).toBe(true);
    const made = await call(app, admin, 'POST', '/api/v1/tokens', { name: 'ci', role: 'admin' });
    const token = made.json<{ token: string }>().token;
    const viaToken = await curl(base, token, 'PUT', '/api/v1/clusters/lab/xml', { xml: v3 });
    expect(viaToken.status, viaToken.body).toBe(200);
    expect(await gitLog(clustersDir)).toEqual([
      'token:ci|token-ci@localhost|update lab.xml',
      'alice|alice@localhost|update lab.xml',
      'statelesx|statelesx@localhost|on-disk change detected: lab.xml',
    ]);
    expect(await git(clustersDir, 'show', 'HEAD~1:lab.xml')).toBe(v2);
    expect((await git(clustersDir, 'status', '--porcelain')).trim()).toBe('');
  });

  it('commits a hand edit at load (author statelesx) and audits it', async () => {
    const edited = v3.replace('<datacenter>DC0</datacenter>', '<datacenter>DC1</datacenter>');
    writeFileSync(join(clustersDir, 'lab.xml'), edited);
    await repo.reload();
    expect((await gitLog(clustersDir))[0]).toBe('statelesx|statelesx@localhost|on-disk change detected: lab.xml');
    expect(await git(clustersDir, 'show', 'HEAD:lab.xml')).toBe(edited);
    const head = (await git(clustersDir, 'rev-parse', 'HEAD')).trim();
    expect((await store.audit.list(1))[0]).toMatchObject({
      actor: 'statelesx',
      action: 'cluster.disk-change',
      target: 'lab.xml',
      after: { commit: head, files: ['lab.xml'] },
    });
    // Nothing changed since: a second load commits nothing.
    await repo.reload();
    expect(await gitLog(clustersDir)).toHaveLength(4);
  });

  it('lists the history and diffs two versions (unified text and hunks)', async () => {
    const res = await call(app, view, 'GET', '/api/v1/clusters/lab/history');
    expect(res.statusCode, res.body).toBe(200);
    const versions = res.json<Version[]>();
    expect(versions.map((v) => `${v.author}: ${v.message}`)).toEqual([
      'statelesx: on-disk change detected: lab.xml',
      'token:ci: update lab.xml',
      'alice: update lab.xml',
      'statelesx: on-disk change detected: lab.xml',
    ]);
    expect(versions.map((v) => v.id)).toEqual((await git(clustersDir, 'log', '--format=%H')).trim().split('\n'));
    const [, byToken, byAlice] = versions;
    const diff = await call(
      app,
      view,
      'GET',
      `/api/v1/clusters/lab/diff?from=${byAlice!.id.slice(0, 8)}&to=${byToken!.id}`,
    );
    expect(diff.statusCode, diff.body).toBe(200);
    const d = diff.json<{ from: string; to: string; unified: string; hunks: Array<{ lines: string[] }> }>();
    expect(d.from).toBe(byAlice!.id);
    expect(d.unified).toContain(`+    <host fqdn="esx2.example.com" uuid="${UUID_B}"/>`);
    expect(d.hunks.flatMap((h) => h.lines.filter((l) => /^[-+]/.test(l)))).toEqual([
      `+    <host fqdn="esx2.example.com" uuid="${UUID_B}"/>`,
    ]);
    // Against the file on disk (default `to`): the hand edit of the datacenter.
    const working = (await call(app, view, 'GET', `/api/v1/clusters/lab/diff?from=${byToken!.id}`)).json<{
      to: string;
      unified: string;
    }>();
    expect(working.to).toBe('working');
    expect(working.unified).toContain('-  <datacenter>DC0</datacenter>\n+  <datacenter>DC1</datacenter>');
    const unknown = await call(app, view, 'GET', '/api/v1/clusters/lab/diff?from=deadbeef');
    expect(unknown.statusCode).toBe(404);
  });

  it('reverts to a version as a new commit with that content; a viewer may not', async () => {
    const first = (await git(clustersDir, 'rev-list', '--max-parents=0', 'HEAD')).trim();
    expect((await call(app, view, 'POST', '/api/v1/clusters/lab/revert', { commit: first })).statusCode).toBe(403);
    const res = await call(app, admin, 'POST', '/api/v1/clusters/lab/revert', { commit: first.slice(0, 10) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ saved: true, revertedTo: first });
    expect(readFileSync(join(clustersDir, 'lab.xml'), 'utf8')).toBe(v1);
    expect(await git(clustersDir, 'show', 'HEAD:lab.xml')).toBe(await git(clustersDir, 'show', `${first}:lab.xml`));
    expect((await gitLog(clustersDir))[0]).toBe(`alice|alice@localhost|revert cluster lab to ${first.slice(0, 12)}`);
    expect(await gitLog(clustersDir)).toHaveLength(5);
    expect((await store.audit.list(1))[0]).toMatchObject({ actor: 'alice', action: 'cluster.revert', target: 'lab' });
    expect(repo.get('lab')?.hosts).toEqual([]);
  });

  it('refuses to revert to a version that does not validate: 422 with the issues, nothing written', async () => {
    const invalid = v1.replace('<vcenter>vc-test</vcenter>', '<vcenter>vc-nowhere</vcenter>');
    writeFileSync(join(clustersDir, 'lab.xml'), invalid);
    await repo.reload(); // the hand edit is committed although the file is invalid
    const bad = (await git(clustersDir, 'rev-parse', 'HEAD')).trim();
    expect(repo.get('lab')).toBeUndefined();
    writeFileSync(join(clustersDir, 'lab.xml'), v2);
    await repo.reload();
    const before = (await git(clustersDir, 'rev-parse', 'HEAD')).trim();
    const res = await call(app, admin, 'POST', '/api/v1/clusters/lab/revert', { commit: bad });
    expect(res.statusCode, res.body).toBe(422);
    const p = res.json<{ detail: string; errors: Array<{ path: string; message: string; line: number }> }>();
    expect(p.detail).toMatch(/does not validate .*nothing was saved/);
    expect(p.errors[0]).toMatchObject({ path: '/cluster/vcenter', line: 4 });
    expect(p.errors[0]!.message).toContain('vc-nowhere');
    expect(readFileSync(join(clustersDir, 'lab.xml'), 'utf8')).toBe(v2);
    expect((await git(clustersDir, 'rev-parse', 'HEAD')).trim()).toBe(before);
    expect((await git(clustersDir, 'status', '--porcelain')).trim()).toBe('');
  });

  it('shows the history in the console (Chromium): versions, side-by-side diff, Revert with CSRF', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-test-deps`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const page: Page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${base}/login`);
    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('alice (admin)').waitFor();
    await page.goto(`${base}/clusters/lab`);
    await page.getByRole('link', { name: 'History' }).click();
    await page.getByRole('heading', { name: 'History of lab' }).waitFor();
    const ids = (await git(clustersDir, 'log', '--format=%H')).trim().split('\n');
    expect(await page.locator('#versions tbody tr').count()).toBe(ids.length);
    expect(await page.locator('#versions tbody tr').first().getAttribute('data-commit')).toBe(ids[0]);
    // The default comparison is the previous version against the newest: invalid vcenter → v2.
    const diff = page.locator('#diff');
    await expect(diff.locator('tr.change td.del').allTextContents()).resolves.toEqual([
      '  <vcenter>vc-nowhere</vcenter>',
      '  <members/>',
    ]);
    await expect(diff.locator('tr.change td.add').allTextContents()).resolves.toEqual([
      '  <vcenter>vc-test</vcenter>',
      '  <members>',
    ]);
    await expect(diff.locator('tr.add td.add').allTextContents()).resolves.toEqual([
      `    <host fqdn="esx1.example.com" uuid="${UUID_A}"/>`,
      '  </members>',
    ]);
    // Compare two chosen versions: the oldest against the one the token saved.
    await page.getByLabel('From', { exact: true }).selectOption(ids[ids.length - 1]!);
    await page.getByLabel('To', { exact: true }).selectOption(ids[ids.length - 3]!);
    await page.getByRole('button', { name: 'Compare' }).click();
    await page.locator('#diff').waitFor();
    const added = await page.locator('#diff tr.add td.add, #diff tr.change td.add').allTextContents();
    expect(added.join('\n')).toContain('esx2.example.com');

    // Revert to the oldest version from the console: a new commit by alice, the file is v1.
    await page.getByRole('button', { name: `Revert to ${ids[ids.length - 1]!.slice(0, 12)}` }).click();
    await page.locator('#reverted').waitFor();
    expect(readFileSync(join(clustersDir, 'lab.xml'), 'utf8')).toBe(v1);
    expect((await gitLog(clustersDir))[0]).toMatch(/^alice\|alice@localhost\|revert cluster lab to /);
    // The invalid version is refused with its issues; nothing changes.
    const head = (await git(clustersDir, 'rev-parse', 'HEAD')).trim();
    // The version that introduced the unknown vCenter (the oldest commit whose diff mentions it).
    const badId = (await git(clustersDir, 'log', '--reverse', '--format=%H', '-S', 'vc-nowhere'))
      .trim()
      .split('\n')[0]!;
    await page.getByRole('button', { name: `Revert to ${badId.slice(0, 12)}` }).click();
    await page.locator('#revert-refused').waitFor();
    await expect(page.locator('#revert-refused').textContent()).resolves.toContain('vc-nowhere');
    expect((await git(clustersDir, 'rev-parse', 'HEAD')).trim()).toBe(head);
  });

  it('deletes a file through the API as a commit by the caller', async () => {
    const res = await call(app, admin, 'DELETE', '/api/v1/clusters/lab');
    expect(res.statusCode, res.body).toBe(204);
    expect(existsSync(join(clustersDir, 'lab.xml'))).toBe(false);
    expect((await gitLog(clustersDir))[0]).toBe('alice|alice@localhost|delete lab.xml');
    expect((await git(clustersDir, 'status', '--porcelain')).trim()).toBe('');
    const history = await call(app, view, 'GET', '/api/v1/clusters/lab/history');
    expect(history.json<Version[]>()[0]!.message).toBe('delete lab.xml');
    expect((await call(app, admin, 'DELETE', '/api/v1/clusters/lab')).statusCode).toBe(404);
  });
});

describe("cluster-file history in an administrator's own repository", () => {
  it('uses the repository as it is: its branch and history; commits only the cluster file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sx-cluster-own-repo-'));
    try {
      await git(dir, 'init', '-q', '-b', 'trunk');
      writeFileSync(join(dir, 'notes.txt'), 'mine\n');
      writeFileSync(join(dir, 'lab.xml'), clusterXml('lab'));
      await git(dir, 'add', '.');
      await git(dir, '-c', 'user.name=Admin', '-c', 'user.email=admin@example.com', 'commit', '-qm', 'by hand');
      writeFileSync(join(dir, 'notes.txt'), 'changed, not staged\n');
      const repo = new ClusterRepository({
        dir,
        context: { vcenters: ['vc-test'], credentials: ['esxi-root'] },
        history: true,
      });
      await repo.reload();
      await repo.putText('lab', clusterXml('lab', [{ fqdn: 'esx1.example.com', uuid: UUID_A }]), {
        change: { author: { name: 'alice' } },
      });
      expect(await gitLog(dir)).toEqual(['alice|alice@localhost|update lab.xml', 'Admin|admin@example.com|by hand']);
      expect((await git(dir, 'rev-parse', '--abbrev-ref', 'HEAD')).trim()).toBe('trunk');
      expect((await git(dir, 'show', '--name-only', '--format=', 'HEAD')).trim()).toBe('lab.xml');
      expect((await git(dir, 'status', '--porcelain')).trim()).toBe('M notes.txt');
      expect(await repo.history!.versions('lab.xml')).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never writes to a repository further up (etckeeper, a checkout): the directory gets its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sx-cluster-parent-repo-'));
    try {
      await git(dir, 'init', '-q', '-b', 'trunk');
      mkdirSync(join(dir, 'clusters'));
      writeFileSync(join(dir, 'clusters', 'lab.xml'), clusterXml('lab'));
      await git(dir, 'add', '.');
      await git(dir, '-c', 'user.name=Admin', '-c', 'user.email=admin@example.com', 'commit', '-qm', 'by hand');
      const parentHead = (await git(dir, 'rev-parse', 'HEAD')).trim();
      writeFileSync(join(dir, 'clusters', 'lab.xml'), clusterXml('lab').replace('DC0', 'DC1'));
      const repo = new ClusterRepository({
        dir: join(dir, 'clusters'),
        context: { vcenters: ['vc-test'], credentials: ['esxi-root'] },
        history: true,
      });
      await repo.reload(); // the directory is no repository of its own: nothing recorded yet
      expect(existsSync(join(dir, 'clusters', '.git'))).toBe(false);
      await repo.putText('lab', clusterXml('lab'), { change: { author: { name: 'alice' } } });
      expect((await git(dir, 'rev-parse', 'HEAD')).trim()).toBe(parentHead);
      expect(await gitLog(join(dir, 'clusters'))).toEqual([
        'alice|alice@localhost|update lab.xml',
        'statelesx|statelesx@localhost|on-disk change detected: lab.xml',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cluster-file history and an idle server', () => {
  it('loads no git module at load unless a file changed since the last commit', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sx-cluster-idle-'));
    try {
      const clusters = join(dir, 'clusters');
      mkdirSync(clusters);
      writeFileSync(join(clusters, 'lab.xml'), clusterXml('lab'));
      // A fresh process loads the directory like the server does and lists the git/diff modules it loaded.
      const script = join(dir, 'load.mts');
      const repoUrl = pathToFileURL(join(ROOT, 'src/clusters/repository.ts')).href;
      writeFileSync(
        script,
        [
          "import { createRequire } from 'node:module';",
          `import { ClusterRepository } from '${repoUrl}';`,
          `const repo = new ClusterRepository({ dir: ${JSON.stringify(clusters)}, history: true, context: { vcenters: ['vc-test'], credentials: ['esxi-root'] } });`,
          'await repo.reload();',
          'const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => /isomorphic-git|node_modules\\/diff\\//.test(k));',
          'process.stdout.write(JSON.stringify(loaded));',
        ].join('\n'),
      );
      const tsx = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
      const load = async () =>
        JSON.parse(
          (await run(process.execPath, ['--import', tsx, script], { cwd: dir, timeout: 60_000 })).stdout,
        ) as string[];
      expect(await load()).toEqual([]); // not a repository: nothing to record, nothing created
      expect(existsSync(join(clusters, '.git'))).toBe(false);
      await git(clusters, 'init', '-q');
      expect((await load()).join()).toContain('isomorphic-git'); // the files are new to git: committed
      expect(await gitLog(clusters)).toEqual(['statelesx|statelesx@localhost|on-disk change detected: lab.xml']);
      expect(await load()).toEqual([]); // unchanged since: git is not loaded
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
