/**
 * Browser test of the console in real Chromium (playwright-core, /usr/bin/chromium) against the
 * app listening on 127.0.0.1: first admin through the one-time setup link, a real TCP phone-home to
 * the initiator listener creates an unregistered host, it appears in the console, "Add to
 * cluster" writes it into the cluster file and queues its configure job, which runs against the
 * vCenter simulator (strict mode) and succeeds; the job page updates live and the host shows as
 * configured. Screenshots go to docs/screenshots/.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, copyFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { configSchema } from '../../src/config/schema.js';
import { openStore, type Store } from '../../src/store/index.js';
import { silentLogger } from '../../src/log.js';
import { ClusterRepository } from '../../src/clusters/repository.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { createInitiator, type Initiator } from '../../src/initiator/index.js';
import { createHttpService, type HttpService } from '../../src/web/app.js';
import { clusterService, storeJobReader } from '../../src/web/adapters.js';
import { startVcsim, type Vcsim } from '../helpers/vcsim.js';

const CHROMIUM = '/usr/bin/chromium';
// Screenshots are test artifacts (test-artifacts/, ignored by git); UPDATE_SCREENSHOTS=1 refreshes the README's.
const SHOTS = join(process.cwd(), process.env['UPDATE_SCREENSHOTS'] === '1' ? 'docs/screenshots' : 'test-artifacts/screenshots');
const UUID = '4c4c4544-0042-5310-8036-c7c04f4a3132';

/** Sends one phone-home line over TCP and returns the server's one-line answer. */
function phoneHome(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write(line));
    let got = '';
    s.setTimeout(10_000, () => { s.destroy(); reject(new Error('phone-home timed out')); });
    s.on('data', (d) => { got += d.toString(); if (got.includes('\n')) s.end(); });
    s.on('close', () => resolve(got.trim()));
    s.on('error', reject);
  });
}

describe('console: unregistered host → Add to cluster (Chromium)', () => {
  let dir: string;
  let store: Store;
  let http: HttpService;
  let initiator: Initiator;
  let browser: Browser;
  let page: Page;
  let setupUrl = '';
  let vcsim: Vcsim;
  let runner: JobRunner;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-test-deps`);
    dir = mkdtempSync(join(tmpdir(), 'sx-web-e2e-'));
    mkdirSync(join(dir, 'clusters'));
    copyFileSync('examples/clusters/lab-cluster.xml', join(dir, 'clusters', 'lab-cluster.xml'));
    vcsim = await startVcsim(['-host-uuid', `esx-new.lab.example.com=${UUID}`]);
    process.env['SX_WEB_E2E_VC_PW'] = vcsim.password;
    process.env['SX_WEB_E2E_ESX_PW'] = 'esxi-root-password';
    const config = configSchema.parse({
      'data-dir': join(dir, 'data'), 'clusters-dir': join(dir, 'clusters'), 'listen-address': '127.0.0.1',
      http: { port: 0 }, initiator: { port: 0, 'require-token': false },
      vcenters: [{ name: 'vc-lab', url: vcsim.sdkUrl, username: vcsim.username, thumbprint: vcsim.thumbprint, 'password-env': 'SX_WEB_E2E_VC_PW' }],
      credentials: [{ name: 'esxi-root', username: 'root', 'password-env': 'SX_WEB_E2E_ESX_PW' }],
    });
    store = await openStore(config['data-dir']);
    const repo = new ClusterRepository({ dir: config['clusters-dir'], context: { vcenters: ['vc-lab'], credentials: ['esxi-root'] } });
    await repo.reload();
    runner = new JobRunner({
      jobs: store.jobs, config, clusters: { get: (n) => repo.get(n), findByHost: (u) => repo.findHostByUuid(u)?.cluster },
      connect: vcenterConnector(config.vcenters, silentLogger), log: silentLogger,
      onHostResult: (uuid, ok, cluster) => store.hosts.setState(uuid, ok ? 'configured' : 'failed', cluster),
    });
    runner.start();
    initiator = createInitiator(config, {
      store, queue: runner, log: silentLogger,
      declared: (u) => { const f = repo.findHostByUuid(u); return f ? { cluster: f.cluster.name, fqdn: f.host.fqdn } : undefined; },
    });
    await initiator.listener.start();
    http = createHttpService(config, {
      store, log: silentLogger, queue: runner, clusters: clusterService(repo), jobs: storeJobReader(store), phoneHomePlugin: initiator.httpPlugin,
    }, (line) => { setupUrl = /(http:\/\/\S+)/.exec(line)?.[1] ?? ''; });
    await http.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    mkdirSync(SHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await http?.close();
    await initiator?.listener.close();
    await runner?.close();
    await vcsim?.stop();
    store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates the first admin, sees a phoned-home host, adds it to a cluster, and the join runs to success', async () => {
    const base = `http://127.0.0.1:${http.address()!.port}`;
    expect(setupUrl).toMatch(new RegExp(`^${base}/setup\\?token=[A-Za-z0-9_-]{43}$`));

    await page.goto(setupUrl);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel(/^Password/).fill('a-long-admin-password');
    await page.getByRole('button', { name: 'Create admin' }).click();
    await page.waitForURL(`${base}/`);
    await expect(page.getByRole('heading', { name: 'Dashboard' }).isVisible()).resolves.toBe(true);

    // A real TCP phone-home (1.1 form `hostname:uuid` plus extension keys) to the initiator listener.
    const answer = await phoneHome(initiator.listener.address().port, `esx-new:${UUID} mac=52:54:00:aa:bb:01 vendor=Dell model=R650\n`);
    expect(answer).toBe('UNREGISTERED');

    await page.getByRole('navigation').getByRole('link', { name: 'Unregistered' }).click();
    const row = page.locator(`tr[data-uuid="${UUID}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('52:54:00:aa:bb:01');
    await page.screenshot({ path: join(SHOTS, 'console-unregistered.png') });

    await page.getByLabel('Select host esx-new').check();
    await page.getByLabel(`FQDN for ${UUID}`).fill('esx-new.lab.example.com');
    await page.getByLabel('Cluster', { exact: true }).selectOption('lab-cluster');
    await page.getByRole('button', { name: 'Add to cluster' }).click();
    const result = page.locator('#join-result');
    await result.getByText(/queued/).waitFor();
    await page.screenshot({ path: join(SHOTS, 'console-join-queued.png') });

    const xml = readFileSync(join(dir, 'clusters', 'lab-cluster.xml'), 'utf8');
    expect(xml).toContain(`<host fqdn="esx-new.lab.example.com" uuid="${UUID}"`);
    expect(xml).toContain('<!-- Nested ESXi for upgrade tests: pinned to the next image. -->');
    // Registered to the cluster; the running engine may already be configuring it.
    expect(store.hosts.get(UUID)).toMatchObject({ state: expect.stringMatching(/^(registered|configuring|configured)$/), cluster: 'lab-cluster' });
    const jobs = store.jobs.list({ target: UUID });
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ kind: 'configure-host' });

    // The job page follows the job live (Server-Sent Events) until it succeeds against the simulator.
    await result.getByRole('link', { name: jobs[0]!.id }).click();
    const state = page.locator('#job-state');
    await state.waitFor();
    await page.locator('#job-state', { hasText: /^succeeded$/ }).waitFor({ timeout: 60_000 });
    expect(store.jobs.list({ target: UUID })[0]).toMatchObject({ state: 'succeeded' });
    await page.screenshot({ path: join(SHOTS, 'console-job.png') });

    // The host shows as configured, and is no longer listed as unregistered.
    await page.goto(`${base}/hosts`);
    const hostRow = page.locator('tr', { hasText: UUID });
    await hostRow.waitFor();
    expect(await hostRow.textContent()).toContain('configured');
    await page.goto(`${base}/unregistered`);
    expect(await page.locator(`tr[data-uuid="${UUID}"]`).count()).toBe(0);
  }, 120_000);
});
