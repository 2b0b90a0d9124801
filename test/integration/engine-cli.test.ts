/**
 * `statelesx cluster plan|apply|drift` as a user runs them (the built CLI, a real process) against
 * the vCenter simulator in strict mode, with the example lab cluster file; `apply` next to a server
 * holding the data-dir (refused) and next to other processes' unfinished jobs (left alone).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, copyFileSync, writeFileSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { hostname } from 'node:os';
import { startVcsim, type Vcsim } from '../helpers/vcsim.js';
import { openStore } from '../../src/store/index.js';
import { lockDataDir } from '../../src/store/datadir-lock.js';
import { phoneHomeInto } from '../helpers/phone-home.js';

async function jobCount(dataDir: string): Promise<number> {
  const s = await openStore(dataDir);
  try {
    return (await s.jobs.list({ limit: 10_000 })).length;
  } finally {
    s.close();
  }
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const p = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(p.stdout);
}

const CLI = resolve('dist/cli/main.js');
const LAB1 = '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e01';
const LAB2 = '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e02';

describe('statelesx cluster plan / apply / drift (CLI against the vCenter simulator)', () => {
  let sim: Vcsim;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, ...args, '--config', join(dir, 'statelesx.yaml')], {
      encoding: 'utf8',
      env,
      timeout: 120_000,
    });

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build`);
    sim = await startVcsim([
      '-host-uuid',
      `esx-lab1.lab.example.com=${LAB1}`,
      '-host-uuid',
      `esx-lab2.lab.example.com=${LAB2}`,
    ]);
    dir = mkdtempSync(join(tmpdir(), 'sx-engine-cli-'));
    mkdirSync(join(dir, 'clusters'));
    mkdirSync(join(dir, 'images', 'ESXi-8.0U3c-24414501-standard'), { recursive: true });
    copyFileSync('examples/clusters/lab-cluster.xml', join(dir, 'clusters', 'lab-cluster.xml'));
    writeFileSync(
      join(dir, 'statelesx.yaml'),
      [
        'data-dir: ./data',
        'images-dir: ./images',
        'clusters-dir: ./clusters',
        'vcenters:',
        `  - { name: vc-lab, url: "${sim.sdkUrl}", username: "${sim.username}", thumbprint: "${sim.thumbprint}", password-env: SX_CLI_VC_PW }`,
        'credentials:',
        '  - { name: esxi-root, username: root, password-env: SX_CLI_ESX_PW }',
        '',
      ].join('\n'),
    );
    env = { ...process.env, SX_CLI_VC_PW: sim.password, SX_CLI_ESX_PW: 'esxi-secret-not-logged' };
  }, 120_000);

  afterAll(async () => {
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds members that have not phoned home; once they have, plans their join, applies it, then plans and drifts nothing', async () => {
    // Before the members booted: nothing is added, each waits for its phone-home (what apply would do).
    const early = run('cluster', 'plan', 'lab-cluster', '--json');
    expect(early.status, early.stderr).toBe(0);
    const held = JSON.parse(early.stdout) as {
      steps: Array<{ name: string }>;
      held: Array<{ uuid: string; reason: string }>;
    };
    expect(held.steps.some((s) => s.name === 'AddHost_Task')).toBe(false);
    expect(held.held.map((h) => [h.uuid, h.reason])).toEqual([
      [LAB1, 'waiting-for-phone-home'],
      [LAB2, 'waiting-for-phone-home'],
    ]);
    expect(run('cluster', 'plan', 'lab-cluster').stdout).toContain(
      'held: esx-lab1.lab.example.com waiting for phone home',
    );
    // Both boot and phone home to the server, which records it in the data-dir's store.
    await phoneHomeInto(join(dir, 'data'), 'lab-cluster', [
      { uuid: LAB1, fqdn: 'esx-lab1.lab.example.com' },
      { uuid: LAB2, fqdn: 'esx-lab2.lab.example.com' },
    ]);
    const plan = run('cluster', 'plan', 'lab-cluster', '--json');
    expect(plan.status, plan.stderr).toBe(0);
    const steps = (JSON.parse(plan.stdout) as { steps: Array<{ name: string; target: string }> }).steps;
    expect(steps.map((s) => s.name)).toEqual(
      expect.arrayContaining(['CreateDatacenter', 'CreateClusterEx', 'AddHost_Task']),
    );
    expect(steps.filter((s) => s.name === 'AddHost_Task')).toHaveLength(2);

    const apply = run('cluster', 'apply', 'lab-cluster');
    expect(apply.status, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/job [0-9a-f-]{36}: succeeded/);
    expect(apply.stdout + apply.stderr).not.toContain('esxi-secret-not-logged');

    const again = run('cluster', 'plan', 'lab-cluster');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain('cluster lab-cluster: vCenter matches the file (0 steps)');

    const drift = run('cluster', 'drift', 'lab-cluster');
    expect(drift.status).toBe(0);
    expect(drift.stdout).toContain('cluster lab-cluster: no drift');
  }, 240_000);

  it('with <network prune="true"> and "VM Network" dropped from the file, plan and drift show its removal on each member; without prune, nothing', () => {
    const file = join(dir, 'clusters', 'lab-cluster.xml');
    const original = readFileSync(file, 'utf8');
    const dropped = original.replace(/ *<portgroup name="VM Network"[^>]*\/>\n/, '');
    expect(dropped).not.toBe(original);
    try {
      writeFileSync(file, dropped);
      expect(run('cluster', 'plan', 'lab-cluster').stdout).toContain(
        'cluster lab-cluster: vCenter matches the file (0 steps)',
      );
      writeFileSync(file, dropped.replace('<network>', '<network prune="true">'));
      const plan = run('cluster', 'plan', 'lab-cluster');
      expect(plan.status, plan.stderr).toBe(0);
      expect(plan.stdout).toContain(
        [1, 2]
          .map(
            (n) =>
              `  ${n}. RemovePortGroup                  host:esx-lab${n}.lab.example.com portgroup:VM Network\n` +
              `       {"name":"VM Network","vswitch":"vSwitch0","vlanId":0,"teaming":{},"security":{}} → -\n`,
          )
          .join('') + '2 step(s)\n',
      );
      expect(plan.stdout).not.toMatch(/Remove\w+ +host:\S+ (portgroup:Management Network|vmknic|vswitch)/);
      const drift = run('cluster', 'drift', 'lab-cluster', '--json');
      const report = JSON.parse(drift.stdout) as { drifted: boolean; driftSteps: Array<{ name: string }> };
      expect(report.drifted).toBe(true);
      expect(report.driftSteps.map((s) => s.name)).toEqual(['RemovePortGroup', 'RemovePortGroup']);
    } finally {
      writeFileSync(file, original);
    }
  }, 240_000);

  it('apply refuses while a statelesx server holds the data-dir, naming its pid; nothing is queued', async () => {
    const dataDir = join(dir, 'data');
    const before = await jobCount(dataDir);
    const lock = lockDataDir(dataDir, 'server'); // this test process stands in for the server
    try {
      const r = run('cluster', 'apply', 'lab-cluster');
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(
        `a statelesx server (pid ${process.pid}) is using ${dataDir}; use the API / console, or stop it`,
      );
    } finally {
      lock.release();
    }
    expect(await jobCount(dataDir)).toBe(before);
    // a lock left by a killed server (its pid is gone) does not block
    writeFileSync(
      join(dataDir, 'statelesx.lock'),
      JSON.stringify({ pid: deadPid(), role: 'server', hostname: hostname(), startedAt: 1 }),
    );
    const ok = run('cluster', 'apply', 'lab-cluster');
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(existsSync(join(dataDir, 'statelesx.lock'))).toBe(false); // released after the job
  }, 120_000);

  it("apply runs only its own job: another process's unfinished job is left alone; an orphaned apply of the same cluster is resumed", async () => {
    const dataDir = join(dir, 'data');
    let store = await openStore(dataDir);
    await store.jobs.create({
      id: 'other-job',
      kind: 'apply-cluster',
      target: 'other-cluster',
      cluster: 'other-cluster',
      vcenter: 'vc-lab',
      at: 1,
    });
    await store.jobs.markRunning('other-job', 2);
    const [seq] = await store.jobs.appendSteps('other-job', [
      { name: 'AddHost_Task', target: 'host:x', args: {}, before: null, after: null },
    ]);
    await store.jobs.stepStarted('other-job', seq!, 3);
    await store.jobs.create({
      id: 'orphan-job',
      kind: 'apply-cluster',
      target: 'lab-cluster',
      cluster: 'lab-cluster',
      vcenter: 'vc-lab',
      at: 4,
    });
    await store.jobs.markRunning('orphan-job', 5);
    store.close();

    const r = run('cluster', 'apply', 'lab-cluster');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('resuming job orphan-job, left unfinished by an earlier process');
    expect(r.stdout).toContain('job orphan-job: succeeded');

    store = await openStore(dataDir);
    expect((await store.jobs.get('other-job'))?.state).toBe('running');
    expect((await store.jobs.steps('other-job')).map((s) => s.state)).toEqual(['running']);
    expect(await store.jobs.logs('other-job')).toEqual([]);
    await store.jobs.finish('other-job', 'cancelled', 6, 'test cleanup');
    store.close();
  }, 120_000);

  it('host forget --remove-from-vcenter: refused next to a server (pointing at --server), else runs the removal job here', async () => {
    const dataDir = join(dir, 'data');
    const lock = lockDataDir(dataDir, 'server');
    try {
      const r = run('host', 'forget', LAB2, '--remove-from-vcenter');
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`a statelesx server (pid ${process.pid}) is using ${dataDir}`);
      expect(r.stderr).toContain(`statelesx --server URL host forget ${LAB2} --remove-from-vcenter`);
    } finally {
      lock.release();
    }
    let store = await openStore(dataDir);
    expect(await store.hosts.get(LAB2)).toBeDefined();
    store.close();

    const r = run('host', 'forget', LAB2, '--remove-from-vcenter');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('ok   EnterMaintenanceMode_Task host:esx-lab2.lab.example.com');
    expect(r.stdout).toContain('ok   Destroy_Task host:esx-lab2.lab.example.com');
    expect(r.stdout).toMatch(/job [0-9a-f-]{36}: succeeded/);
    store = await openStore(dataDir);
    try {
      expect(await store.hosts.get(LAB2)).toBeUndefined();
      expect((await store.audit.list(2)).map((e) => [e.actor.replace(/^job:.*/, 'job'), e.action, e.target])).toEqual([
        ['job', 'host.forget', LAB2],
        ['system:cli', 'host.forget', LAB2],
      ]);
    } finally {
      store.close();
    }
    // Read back from vCenter: the host is no longer there, so the plan (still declaring it) holds it
    // until it phones home again (its boot record went with the forget); the other member is untouched.
    const plan = run('cluster', 'plan', 'lab-cluster', '--json');
    const p = JSON.parse(plan.stdout) as { steps: unknown[]; held: Array<{ uuid: string; reason: string }> };
    expect(p.held.map((h) => [h.uuid, h.reason])).toEqual([[LAB2, 'waiting-for-phone-home']]);
    expect(p.steps).toEqual([]);
    expect(run('host', 'forget', LAB2, '--remove-from-vcenter').stderr).toContain(`the store knows no host ${LAB2}`);
  }, 120_000);

  it('names the cluster and the files that did not load when asked for an unknown cluster', () => {
    const r = run('cluster', 'plan', 'no-such-cluster');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/cluster no-such-cluster is not defined in .*clusters/);
  });
});
