/**
 * `statelesx cluster plan|apply|drift` as a user runs them (the built CLI, a real process) against
 * the vCenter simulator in strict mode, with the example lab cluster file.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, copyFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { startVcsim, type Vcsim } from '../helpers/vcsim.js';

const CLI = resolve('dist/cli/main.js');
const LAB1 = '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e01';
const LAB2 = '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e02';

describe('statelesx cluster plan / apply / drift (CLI against the vCenter simulator)', () => {
  let sim: Vcsim;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args, '--config', join(dir, 'statelesx.yaml')], { encoding: 'utf8', env, timeout: 120_000 });

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build`);
    sim = await startVcsim(['-host-uuid', `esx-lab1.lab.example.com=${LAB1}`, '-host-uuid', `esx-lab2.lab.example.com=${LAB2}`]);
    dir = mkdtempSync(join(tmpdir(), 'sx-engine-cli-'));
    mkdirSync(join(dir, 'clusters'));
    mkdirSync(join(dir, 'images', 'ESXi-8.0U3c-24414501-standard'), { recursive: true });
    copyFileSync('examples/clusters/lab-cluster.xml', join(dir, 'clusters', 'lab-cluster.xml'));
    writeFileSync(join(dir, 'statelesx.yaml'), [
      'data-dir: ./data', 'images-dir: ./images', 'clusters-dir: ./clusters',
      'vcenters:', `  - { name: vc-lab, url: "${sim.sdkUrl}", username: "${sim.username}", thumbprint: "${sim.thumbprint}", password-env: SX_CLI_VC_PW }`,
      'credentials:', '  - { name: esxi-root, username: root, password-env: SX_CLI_ESX_PW }', '',
    ].join('\n'));
    env = { ...process.env, SX_CLI_VC_PW: sim.password, SX_CLI_ESX_PW: 'esxi-secret-not-logged' };
  }, 120_000);

  afterAll(async () => {
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('plans the join of both members, applies it as a job, then plans and drifts nothing', () => {
    const plan = run('cluster', 'plan', 'lab-cluster', '--json');
    expect(plan.status, plan.stderr).toBe(0);
    const steps = (JSON.parse(plan.stdout) as { steps: Array<{ name: string; target: string }> }).steps;
    expect(steps.map((s) => s.name)).toEqual(expect.arrayContaining(['CreateDatacenter', 'CreateClusterEx', 'AddHost_Task']));
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

  it('names the cluster and the files that did not load when asked for an unknown cluster', () => {
    const r = run('cluster', 'plan', 'no-such-cluster');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/cluster no-such-cluster is not defined in .*clusters/);
  });
});
