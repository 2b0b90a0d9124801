/**
 * The staged bring-up queue (src/engine/admission.ts) as an operator sees it, in real Chromium
 * (playwright-core, /usr/bin/chromium): a real `statelesx serve` child whose engine drives the
 * vCenter simulator with a slow AddHost_Task (30 s), `engine.concurrency-per-cluster: 1`, and two
 * clusters — `infra` (priority 10) and `compute` (default 50), three members each. Six members
 * phone home over HTTP in an order that is neither priority nor member order; the first infra
 * member to arrive starts, the other five wait. The console's job list shows each queued job's
 * position and wait reason in the admission order (priority, then member order: infra's 2nd and
 * 3rd member for its cluster limit, then compute's 1st, 2nd, 3rd for the priority), with the reason's
 * sentence as the tooltip; the job page shows the same and turns live (event stream) to running
 * with no queue place once the job starts. `statelesx job list` against the server shows the same
 * positions.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startVcsim, type Vcsim } from '../helpers/vcsim.js';
import { CLI, createUsers, login, serveDirs, spawnServe, stopServe, type ServeProcess } from '../helpers/serve.js';
import { waitFor } from '../helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(process.cwd(), 'test-artifacts/screenshots');
const PASSWORD = 'queue-test-admin-password';

const member = (cluster: 'infra' | 'compute', i: number) => ({
  uuid: `564d7a2e-1b3c-4d5e-8f61-${cluster === 'infra' ? '1' : '2'}0000000000${i}`,
  fqdn: `esx-${cluster}${i}.lab.example.com`,
});
const I1 = member('infra', 1);
const I2 = member('infra', 2);
const I3 = member('infra', 3);
const C1 = member('compute', 1);
const C2 = member('compute', 2);
const C3 = member('compute', 3);

/** A cluster file with `hosts` as its members, in this order. */
const clusterXml = (name: string, hosts: Array<{ uuid: string; fqdn: string }>, priority?: number) =>
  `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="${name}"${priority === undefined ? '' : ` priority="${priority}"`}>
  <datacenter>Lab</datacenter>
  <vcenter>vc-lab</vcenter>
  <credentials>esxi-root</credentials>
  <members>
${hosts.map((h) => `    <host fqdn="${h.fqdn}" uuid="${h.uuid}"/>`).join('\n')}
  </members>
</cluster>
`;

/** One queued job as the jobs API answers it. */
interface ApiJob {
  id: string;
  target: string;
  state: string;
  queuePosition?: number;
  waitReason?: string;
  waitDetail?: string;
}

/** Runs the built CLI (without this process's STATELESX_* variables) and collects its output. */
function cli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STATELESX_')));
  const p = spawn(process.execPath, [CLI, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((res) => p.on('close', (status) => res({ status, stdout, stderr })));
}

describe('console: the staged bring-up queue with positions and reasons (Chromium, statelesx serve, vcsim)', () => {
  let sim: Vcsim;
  let root: string;
  let data: string;
  let server: ServeProcess;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-test-deps`);
    mkdirSync(SHOTS, { recursive: true });
    // AddHost_Task takes 30 s: the first join holds its cluster's only slot while the console is read.
    sim = await startVcsim([
      '-method-delay',
      'AddHost_Task:30000',
      ...[I1, I2, I3, C1, C2, C3].flatMap((h) => ['-host-uuid', `${h.fqdn}=${h.uuid}`]),
    ]);
    root = mkdtempSync(join(tmpdir(), 'sx-console-queue-'));
    const d = serveDirs(root);
    data = d.data;
    writeFileSync(join(d.clusters, 'infra.xml'), clusterXml('infra', [I1, I2, I3], 10));
    writeFileSync(join(d.clusters, 'compute.xml'), clusterXml('compute', [C1, C2, C3]));
    writeFileSync(
      join(root, 'server.yaml'),
      [
        // One join per cluster at a time; compute waits for infra (priority 10), and for 60 s after
        // its own phone-home (priority-settle-s) — longer than the test looks at the queue.
        'engine: { max-attempts: 1, concurrency-per-vcenter: 2, concurrency-per-cluster: 1, priority-settle-s: 60 }',
        // The members phone home over HTTP without a PXE boot of this server, so without a boot token.
        'initiator: { require-token: false }',
        'vcenters:',
        `  - { name: vc-lab, url: "${sim.sdkUrl}", username: "${sim.username}", thumbprint: "${sim.thumbprint}", password-env: SX_QUEUE_VC_PW }`,
        'credentials:',
        '  - { name: esxi-root, username: root, password-env: SX_QUEUE_ESX_PW }',
        '',
      ].join('\n'),
    );
    process.env['SX_QUEUE_VC_PW'] = sim.password;
    process.env['SX_QUEUE_ESX_PW'] = 'esxi-secret-not-logged';
    await createUsers(data, [['alice', PASSWORD, 'admin']]);
    server = await spawnServe(root, ['--config', join(root, 'server.yaml')]);
    // The browser is up and signed in before the hosts phone home: the queue is read within the
    // first join's 30 s.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${server.base}/login`);
    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('alice (admin)').waitFor();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    if (server) await stopServe(server);
    await sim?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('shows the queued joins with position and reason in admission order; the job page turns live to running', async () => {
    // Arrival order: compute 3 and 1 first, then infra 1 (starts at once: top priority, a free
    // slot), compute 2, infra 3 before infra 2.
    for (const h of [C3, C1, I1, C2, I3, I2]) {
      const res = await fetch(`${server.bootBase}/api/v1/phone-home`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ uuid: h.uuid, hostname: h.fqdn }),
      });
      expect(res.status, await res.text()).toBe(200);
    }
    // The engine has admitted them (the jobs API, as the console reads it).
    const api = await login(server.base, 'alice', PASSWORD);
    let jobs: ApiJob[] = [];
    await waitFor(
      'five queued joins with a queue position and one running',
      async () => {
        jobs = (await (await api.call('GET', '/api/v1/jobs?limit=50')).json()) as ApiJob[];
        return jobs.filter((j) => j.queuePosition).length === 5 && jobs.some((j) => j.state === 'running');
      },
      20_000,
      200,
    );
    const jobOf = (h: { uuid: string }) => jobs.find((j) => j.target === h.uuid)!;
    expect(jobOf(I1).state).toBe('running');

    await page.getByRole('navigation').getByRole('link', { name: 'Jobs' }).click();
    await page.getByRole('heading', { name: 'Jobs' }).waitFor();
    const head = await page.locator('table thead th').allTextContents();
    const col = (name: string) => {
      const i = head.indexOf(name);
      expect(i, `the job list has a ${name} column: ${head.join(', ')}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    const [target, state, queue] = [col('Target'), col('State'), col('Queue')];
    const rows: Array<{ cells: string[]; title: string | null }> = [];
    for (const tr of await page.locator('table tbody tr').all()) {
      const tip = tr.locator('.queue');
      rows.push({
        cells: (await tr.locator('td').allTextContents()).map((t) => t.trim()),
        title: (await tip.count()) ? await tip.getAttribute('title') : null,
      });
    }
    const rowOf = (h: { uuid: string; fqdn: string }) => {
      const r = rows.find((x) => x.cells[target] === h.uuid);
      expect(r, `a row for ${h.fqdn}`).toBeDefined();
      return r!;
    };
    await page.screenshot({ path: join(SHOTS, 'console-jobs-queue.png'), fullPage: true });
    expect(rowOf(I1).cells[state]).toBe('running');
    expect(rowOf(I1).cells[queue]).toBe('');
    // Admission order: priority, then member order — not arrival order.
    const queued = rows
      .filter((r) => r.cells[queue] !== '')
      .map((r) => ({ target: r.cells[target], queue: r.cells[queue] ?? '', title: r.title }))
      .sort((a, b) => Number(/^#(\d+)/.exec(a.queue)?.[1]) - Number(/^#(\d+)/.exec(b.queue)?.[1]));
    expect(queued.map((r) => [r.target, r.queue])).toEqual([
      [I2.uuid, '#1 · cluster-limit'],
      [I3.uuid, '#2 · cluster-limit'],
      [C1.uuid, '#3 · priority'],
      [C2.uuid, '#4 · priority'],
      [C3.uuid, '#5 · priority'],
    ]);
    // The reason's sentence as the tooltip, as the API says it.
    expect(queued[0]!.title).toBe('cluster infra runs 1 job(s) (engine.concurrency-per-cluster 1)');
    expect(queued[2]!.title).toMatch(
      /^cluster infra \(priority 10\) has 3 join\(s\) queued or running; priority 50 waits/,
    );
    for (const r of queued) expect(r.title).toBe(jobs.find((j) => j.target === r.target)!.waitDetail);

    // `statelesx job list` against the server: the same positions in its QUEUE column.
    const made = await cli(['token', 'create', 'queue-viewer', '--role', 'viewer', '--data-dir', data], {});
    expect(made.status, made.stderr).toBe(0);
    const list = await cli(['job', 'list', '--state', 'queued'], {
      STATELESX_SERVER: server.base,
      STATELESX_TOKEN: made.stdout.trim(),
    });
    expect(list.status, list.stderr).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    const cliHead = lines[0]!.split(/\s{2,}/);
    expect(cliHead).toContain('QUEUE');
    const cliQueue = new Map(
      lines.slice(1).map((l) => {
        const cells = l.split(/\s{2,}/);
        return [cells[cliHead.indexOf('TARGET')], cells[cliHead.indexOf('QUEUE')]];
      }),
    );
    expect([I2, I3, C1, C2, C3].map((h) => cliQueue.get(h.uuid))).toEqual(['1', '2', '3', '4', '5']);

    // The job page of infra's 2nd member: its place and reason, then live (no reload) running
    // once infra 1's join has finished and its slot is free.
    await page.locator(`a[href="/jobs/${jobOf(I2).id}"]`).click();
    await page.waitForURL(`${server.base}/jobs/${jobOf(I2).id}`);
    expect(await page.locator('#job-queue').textContent()).toBe(
      '#1 (cluster-limit): cluster infra runs 1 job(s) (engine.concurrency-per-cluster 1)',
    );
    expect(await page.locator('#job-state').textContent()).toBe('queued');
    await page.locator('#job-state', { hasText: 'running' }).waitFor({ timeout: 90_000 });
    expect(await page.locator('#job-queue').textContent()).toBe('—');
    const i1 = (await (await api.call('GET', `/api/v1/jobs/${jobOf(I1).id}`)).json()) as ApiJob;
    expect(i1.state).toBe('succeeded');
  }, 240_000);
});
