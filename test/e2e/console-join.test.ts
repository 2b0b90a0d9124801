/**
 * Browser test of the console in real Chromium (playwright-core, /usr/bin/chromium) against the
 * app listening on 127.0.0.1: first admin through the one-time setup link, log out, log in again
 * with the /login form; real TCP phone-homes to the initiator listener create two unregistered
 * hosts, they appear in the console, "Add to cluster" (an image chosen, a VMkernel address per
 * host) writes both into the cluster file and queues their configure jobs, which run against the
 * vCenter simulator (strict mode) and succeed; the job page updates live (state and steps) and
 * both hosts show as configured; with `<network prune="true">` the cluster page plan lists the
 * removal of a port group dropped from the file. Screenshots go to test-artifacts/screenshots/ (docs/screenshots/
 * with UPDATE_SCREENSHOTS=1).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
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
import { bootLookup } from '../../src/engine/job-lifecycle.js';
import { createPhoneHome, type PhoneHome } from '../../src/phonehome/index.js';
import { createHttpService, type HttpService } from '../../src/web/app.js';
import { clusterService, engineService, imageService } from '../../src/app/web-adapters.js';
import { storeJobReader } from '../../src/web/job-reader.js';
import { startVcsim, type Vcsim } from '../helpers/vcsim.js';
import { waitFor } from '../helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
// Screenshots are test artifacts (test-artifacts/, ignored by git); UPDATE_SCREENSHOTS=1 refreshes the README's.
const SHOTS = join(
  process.cwd(),
  process.env['UPDATE_SCREENSHOTS'] === '1' ? 'docs/screenshots' : 'test-artifacts/screenshots',
);
const UUID = '4c4c4544-0042-5310-8036-c7c04f4a3132';
const UUID2 = '4c4c4544-0042-5310-8036-c7c04f4a3133';
/** The image the join chooses: a Linux image directory imported into the library in beforeAll. */
const IMAGE = 'lab-image';

/** Sends one phone-home line over TCP and returns the server's one-line answer. */
function phoneHome(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write(line));
    let got = '';
    s.setTimeout(10_000, () => {
      s.destroy();
      reject(new Error('phone-home timed out'));
    });
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\n')) s.end();
    });
    s.on('close', () => resolve(got.trim()));
    s.on('error', reject);
  });
}

describe('console: unregistered host → Add to cluster (Chromium)', () => {
  let dir: string;
  let store: Store;
  let http: HttpService;
  let initiator: PhoneHome;
  let browser: Browser;
  let page: Page;
  let setupUrl = '';
  let vcsim: Vcsim;
  let runner: JobRunner;
  let repo: ClusterRepository;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-test-deps`);
    dir = mkdtempSync(join(tmpdir(), 'sx-web-e2e-'));
    mkdirSync(join(dir, 'clusters'));
    // The lab example plus a static VMkernel NIC (vmk2, storage), so each joined host needs its own address.
    writeFileSync(
      join(dir, 'clusters', 'lab-cluster.xml'),
      readFileSync('examples/clusters/lab-cluster.xml', 'utf8')
        .replace(
          '    <portgroup name="VM Network"',
          '    <portgroup name="Storage" vswitch="vSwitch0" vlan="43"/>\n    <portgroup name="VM Network"',
        )
        .replace(
          '    <addressPool ',
          '    <vmknic device="vmk2" portgroup="Storage">\n      <static netmask="255.255.255.0"/>\n    </vmknic>\n    <addressPool ',
        )
        .replace(
          /(<host fqdn="esx-lab(\d)\.lab\.example\.com" uuid="[^"]+")([^>]*?)\/>/g,
          '$1$3>\n      <address vmk="vmk2">10.43.0.1$2</address>\n    </host>',
        ),
    );
    vcsim = await startVcsim([
      '-host-uuid',
      `esx-new.lab.example.com=${UUID}`,
      '-host-uuid',
      `esx-new2.lab.example.com=${UUID2}`,
    ]);
    process.env['SX_WEB_E2E_VC_PW'] = vcsim.password;
    process.env['SX_WEB_E2E_ESX_PW'] = 'esxi-root-password';
    const config = configSchema.parse({
      'data-dir': join(dir, 'data'),
      'clusters-dir': join(dir, 'clusters'),
      'listen-address': '127.0.0.1',
      http: { port: 0 },
      initiator: { port: 0, 'require-token': false },
      vcenters: [
        {
          name: 'vc-lab',
          url: vcsim.sdkUrl,
          username: vcsim.username,
          thumbprint: vcsim.thumbprint,
          'password-env': 'SX_WEB_E2E_VC_PW',
        },
      ],
      credentials: [{ name: 'esxi-root', username: 'root', 'password-env': 'SX_WEB_E2E_ESX_PW' }],
    });
    store = await openStore(config['data-dir']);
    repo = new ClusterRepository({
      dir: config['clusters-dir'],
      context: { vcenters: ['vc-lab'], credentials: ['esxi-root'] },
    });
    await repo.reload();
    runner = new JobRunner({
      jobs: store.jobs,
      config,
      clusters: { get: (n) => repo.get(n), findByHost: (u) => repo.findHostByUuid(u)?.cluster },
      connect: vcenterConnector(config.vcenters, silentLogger),
      log: silentLogger,
      onHostResult: async (uuid, ok, cluster) =>
        void (await store.hosts.setState(uuid, ok ? 'configured' : 'failed', cluster)),
    });
    await runner.start();
    initiator = createPhoneHome(config, {
      store,
      queue: runner,
      log: silentLogger,
      declared: (u) => {
        const f = repo.findHostByUuid(u);
        return f ? { cluster: f.cluster.name, fqdn: f.host.fqdn } : undefined;
      },
    });
    await initiator.listener.start();
    const src = join(dir, 'image-src');
    mkdirSync(src);
    writeFileSync(join(src, 'vmlinuz'), 'kernel');
    writeFileSync(join(src, 'initrd.gz'), 'initrd');
    writeFileSync(
      join(src, 'image.json'),
      JSON.stringify({ kind: 'linux', linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0' } }),
    );
    const images = imageService(join(dir, 'images'), (i) => store.hosts.pinnedTo(i));
    await images.import(src, { name: IMAGE });
    http = createHttpService(
      config,
      {
        store,
        log: silentLogger,
        queue: runner,
        clusters: clusterService(repo),
        engine: engineService(
          repo,
          { connect: (n) => runner.vcenter(n), shared: true },
          Date.now,
          store.jobs.pools,
          bootLookup(store.hostBoots),
        ),
        jobs: storeJobReader(store.jobs),
        images,
        phoneHomePlugin: initiator.httpPlugin,
      },
      (line) => {
        setupUrl = /(http:\/\/\S+)/.exec(line)?.[1] ?? '';
      },
    );
    await http.start();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
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

  it('creates the first admin, logs in with the form, joins two phoned-home hosts with an image and per-host addresses, and both jobs succeed', async () => {
    const base = `http://127.0.0.1:${http.address()!.port}`;
    expect(setupUrl).toMatch(new RegExp(`^${base}/setup\\?token=[A-Za-z0-9_-]{43}$`));

    await page.goto(setupUrl);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel(/^Password/).fill('a-long-admin-password');
    await page.getByRole('button', { name: 'Create admin' }).click();
    await page.waitForURL(`${base}/`);
    await expect(page.getByRole('heading', { name: 'Dashboard' }).isVisible()).resolves.toBe(true);
    // Log out, then in again through the /login form (POST /login → POST /api/v1/session).
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${base}/login`);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').getByText('wrong user name or password').waitFor();
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('a-long-admin-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${base}/`);
    await expect(page.getByText('admin (admin)').isVisible()).resolves.toBe(true);
    expect((await store.audit.list(10)).map((e) => e.action)).toEqual(
      expect.arrayContaining(['session.login', 'user.create']),
    );

    // Real TCP phone-homes (1.1 form `hostname:uuid` plus extension keys) to the initiator listener.
    const port = initiator.listener.address().port;
    expect(await phoneHome(port, `esx-new:${UUID} mac=52:54:00:aa:bb:01 vendor=Dell model=R650\n`)).toBe(
      'UNREGISTERED',
    );
    expect(await phoneHome(port, `esx-new2:${UUID2} mac=52:54:00:aa:bb:02 vendor=Dell model=R650\n`)).toBe(
      'UNREGISTERED',
    );

    await page.getByRole('navigation').getByRole('link', { name: 'Unregistered' }).click();
    const row = page.locator(`tr[data-uuid="${UUID}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('52:54:00:aa:bb:01');
    await page.locator(`tr[data-uuid="${UUID2}"]`).waitFor();
    await page.screenshot({ path: join(SHOTS, 'console-unregistered.png') });

    const hosts = [
      { uuid: UUID, fqdn: 'esx-new.lab.example.com', addr: '10.43.0.21' },
      { uuid: UUID2, fqdn: 'esx-new2.lab.example.com', addr: '10.43.0.22' },
    ];
    for (const h of hosts) {
      await page.locator(`#sel-${h.uuid}`).check();
      await page.getByLabel(`FQDN for ${h.uuid}`).fill(h.fqdn);
      await page.getByLabel(`VMkernel addresses for ${h.uuid}`).fill(`vmk2=${h.addr}`);
    }
    await page.getByLabel('Cluster', { exact: true }).selectOption('lab-cluster');
    await page.getByLabel(/^Image/).selectOption(IMAGE);
    await page.getByRole('button', { name: 'Add to cluster' }).click();
    const result = page.locator('#join-result');
    await result.locator('li').nth(1).waitFor();
    expect(await result.textContent()).not.toContain('not added');
    expect(await result.locator('li.bad').count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'console-join-queued.png') });

    // Both hosts in the file, each with its address and the chosen image; comments kept.
    const xml = readFileSync(join(dir, 'clusters', 'lab-cluster.xml'), 'utf8');
    expect(xml).toContain('<!-- Nested ESXi for upgrade tests: pinned to the next image. -->');
    for (const h of hosts) {
      const el =
        new RegExp(`<host fqdn="${h.fqdn.replace(/\./g, '\\.')}" uuid="${h.uuid}"[^>]*>[\\s\\S]*?</host>`).exec(
          xml,
        )?.[0] ?? '';
      expect(el, `${h.uuid} in the cluster file`).toMatch(new RegExp(`image="${IMAGE}"`));
      expect(el).toContain(`<address vmk="vmk2">${h.addr}</address>`);
      expect(await store.hosts.get(h.uuid)).toMatchObject({ cluster: 'lab-cluster' });
    }
    const jobs = await Promise.all(hosts.map((h) => store.jobs.list({ target: h.uuid })));
    expect(jobs.map((j) => j.length)).toEqual([1, 1]);

    // The job page follows the job live (Server-Sent Events): state and steps, until it succeeds.
    await result.getByRole('link', { name: jobs[0]![0]!.id }).click();
    await page.locator('#job-state').waitFor();
    await page.locator('#job-state', { hasText: /^succeeded$/ }).waitFor({ timeout: 60_000 });
    await page.locator('#job-steps .s-done').first().waitFor();
    expect(await page.locator('#job-steps .s-pending, #job-steps .s-running').count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'console-job.png') });
    await waitFor(
      `the job of ${UUID2} to succeed`,
      async () => (await store.jobs.list({ target: UUID2 }))[0]!.state === 'succeeded',
      60_000,
      100,
    ).catch(() => undefined); // the assertion below names the host and the state it reached
    for (const h of hosts)
      expect((await store.jobs.list({ target: h.uuid }))[0], h.uuid).toMatchObject({ state: 'succeeded' });

    // Both hosts show as configured, and are no longer listed as unregistered.
    await page.goto(`${base}/hosts`);
    for (const h of hosts) {
      const hostRow = page.locator('tr', { hasText: h.uuid });
      await hostRow.waitFor();
      expect(await hostRow.textContent()).toContain('configured');
    }
    await page.goto(`${base}/unregistered`);
    expect(await page.locator('tr[data-uuid]').count()).toBe(0);

    // The cluster editor validates as you type (hx-trigger) and marks the offending line in its gutter.
    await page.goto(`${base}/clusters/lab-cluster`);
    await page.locator('#xml-gutter .ln').first().waitFor();
    expect(await page.locator('#xml-gutter .ln.err').count()).toBe(0);
    const text = await page.locator('#xml').inputValue();
    await page
      .locator('#xml')
      .fill(text.replace('  <datacenter>Lab</datacenter>', '  <datacenter>Lab</datacenter>\n  <bogus/>'));
    const marked = page.locator('#xml-gutter .ln.err');
    await marked.first().waitFor();
    const line = text.split('\n').findIndex((l) => l.includes('<datacenter>')) + 2;
    expect(await marked.first().textContent()).toBe(String(line));
    expect(await page.locator(`#xml-marks .row.err[data-line="${line}"] .msg`).textContent()).toMatch(/bogus/);
    expect(await page.locator('#issues').textContent()).toMatch(new RegExp(`line ${line}`));
    // The callback runs in the browser; tsconfig has no DOM lib, so the element's members are declared here.
    await page.locator('#xml').evaluate((e: { scrollTop: number; dispatchEvent(ev: Event): boolean }) => {
      e.scrollTop = 0;
      e.dispatchEvent(new Event('scroll'));
    });
    await page.screenshot({ path: join(SHOTS, 'console-cluster-editor.png') });
    expect(readFileSync(join(dir, 'clusters', 'lab-cluster.xml'), 'utf8')).not.toContain('<bogus/>');

    // <network prune="true"> without "VM Network": the cluster page's plan lists its removal on
    // each member as a deletion (before, no after), before anything is applied.
    const file = join(dir, 'clusters', 'lab-cluster.xml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .replace(/ *<portgroup name="VM Network"[^>]*\/>\n/, '')
        .replace('<network>', '<network prune="true">'),
    );
    await repo.reload();
    await page.goto(`${base}/clusters/lab-cluster`);
    await page.getByRole('button', { name: 'Plan' }).click();
    const removals = page.locator('#changes ol.plan li', { hasText: 'RemovePortGroup' });
    await removals.first().waitFor({ timeout: 30_000 });
    expect(await removals.count()).toBe(2);
    for (const h of hosts) {
      const li = page.locator('#changes ol.plan li', { hasText: `host:${h.fqdn} portgroup:VM Network` });
      expect(await li.locator('strong').textContent()).toBe('RemovePortGroup');
      expect(await li.locator('.del').textContent()).toContain('"name":"VM Network"');
      expect(await li.locator('.add').count()).toBe(0);
    }
    expect(await page.locator('#changes ol.plan li', { hasText: 'Management Network' }).count()).toBe(0);
    await page.locator('#changes').screenshot({ path: join(SHOTS, 'console-plan-prune.png') });
  }, 120_000);
});
