/**
 * API tokens end to end: an admin creates one in the console page under Users in real Chromium
 * (playwright-core, /usr/bin/chromium), the token is shown once; curl uses it as
 * `Authorization: Bearer` against the listening app (its role is enforced, no CSRF token needed);
 * `statelesx token create|list|revoke` runs as a real process on the same data directory while
 * the server runs (local data-dir mode); revoking in the console refuses the token's next request.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { openStore, type Store } from '../../src/store/index.js';
import { silentLogger } from '../../src/log.js';
import { buildApp } from '../../src/web/app.js';
import { fixturePasswordHash, PASSWORD } from '../helpers/web.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(import.meta.dirname, '..', '..');
const run = promisify(execFile);

/** `statelesx ARGS --data-dir DIR` as a process (node + tsx on src/cli/main.ts). */
async function cli(dataDir: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const tsx = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  return run(process.execPath, ['--import', tsx, join(ROOT, 'src/cli/main.ts'), ...args, '--data-dir', dataDir], {
    cwd: dataDir,
    timeout: 60_000,
    env: { ...process.env, STATELESX_CONFIG: '' },
  });
}

/** curl with a bearer token; returns the HTTP status and body. */
async function curl(base: string, token: string, method: string, path: string, body?: unknown) {
  const args = ['-s', '-o', '-', '-w', '\n%{http_code}', '-X', method, '-H', `Authorization: Bearer ${token}`];
  if (body !== undefined) args.push('-H', 'content-type: application/json', '--data', JSON.stringify(body));
  const { stdout } = await run('curl', [...args, `${base}${path}`], { timeout: 30_000 });
  const nl = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(nl + 1)), body: stdout.slice(0, nl) };
}

describe('API tokens: console page (Chromium), curl with a bearer, statelesx token', () => {
  let dir: string;
  let store: Store;
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-test-deps`);
    dir = mkdtempSync(join(tmpdir(), 'sx-api-tokens-'));
    store = await openStore(dir);
    await store.users.create('admin', await fixturePasswordHash(), 'admin');
    app = await buildApp({ store, log: silentLogger });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates a token in the console, shown once; curl uses it; the CLI lists, creates and revokes; console revoke is immediate', async () => {
    await page.goto(`${base}/login`);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('admin (admin)').waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Users' }).click();
    await page.getByRole('link', { name: 'API tokens' }).click();
    await page.getByRole('heading', { name: 'API tokens' }).waitFor();
    await page.getByLabel('Name').fill('ci-pipeline');
    await page.getByLabel('Role').selectOption('operator');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.locator('#new-token').textContent())!.trim();
    expect(token).toMatch(/^sxt_[A-Za-z0-9_-]{43}$/);
    await expect(page.locator('tr[data-token="ci-pipeline"]').textContent()).resolves.toContain('operator');
    // Shown once: a reload lists the token without it.
    await page.goto(`${base}/users/tokens`);
    expect(await page.content()).not.toContain(token);

    // curl with the bearer: reads work, admin-only routes are refused by role.
    expect((await curl(base, token, 'GET', '/api/v1/hosts')).status).toBe(200);
    const forbidden = await curl(base, token, 'POST', '/api/v1/tokens', { name: 'x', role: 'viewer' });
    expect(forbidden.status).toBe(403);
    expect((JSON.parse(forbidden.body) as { detail: string }).detail).toMatch(/role operator may not/);

    // The CLI on the same data directory while the server runs: an admin token made there works at
    // once with a POST and no CSRF token; the change is audited under the token's name.
    const made = await cli(dir, 'token', 'create', 'cli-admin', '--role', 'admin', '--expires-in-days', '7');
    const adminToken = made.stdout.trim();
    expect(made.stderr).toContain('shown this once');
    const viaCli = await curl(base, adminToken, 'POST', '/api/v1/tokens', {
      name: 'made-by-cli-token',
      role: 'viewer',
    });
    expect(viaCli.status, viaCli.body).toBe(201);
    expect((await store.audit.list(1))[0]).toMatchObject({ actor: 'token:cli-admin', action: 'api-token.create' });
    const listed = JSON.parse((await cli(dir, 'token', 'list', '--json')).stdout) as Array<{
      name: string;
      lastUsedAt: number | null;
      expiresAt: number | null;
    }>;
    expect(listed.map((t) => t.name)).toEqual(['ci-pipeline', 'cli-admin', 'made-by-cli-token']);
    expect(listed.find((t) => t.name === 'ci-pipeline')!.lastUsedAt).not.toBeNull();
    expect(listed.find((t) => t.name === 'cli-admin')!.expiresAt).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    expect(JSON.stringify(listed)).not.toContain('sxt_');
    await cli(dir, 'token', 'revoke', 'cli-admin');
    expect((await curl(base, adminToken, 'GET', '/api/v1/hosts')).status).toBe(401);

    // Revoke in the console: the next request with the token is refused.
    await page.goto(`${base}/users/tokens`);
    await page.getByRole('button', { name: 'Revoke ci-pipeline' }).click();
    await page.getByRole('heading', { name: 'API tokens' }).waitFor();
    expect(await page.locator('tr[data-token="ci-pipeline"]').count()).toBe(0);
    const refused = await curl(base, token, 'GET', '/api/v1/hosts');
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({ detail: 'unknown or revoked API token' });
    await page.goto(`${base}/audit`);
    await page.getByRole('cell', { name: 'api-token.revoke' }).first().waitFor();
  });
});
