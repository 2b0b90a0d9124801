/**
 * The README's "Automation" script (`join-vendor VENDOR CLUSTER`), extracted from the README as it
 * is and run with bash and jq against a real `statelesx serve` child whose engine drives the
 * vCenter simulator, with an operator API token: four hosts phone home over HTTP unregistered —
 * three of vendor "Dell Inc." (one with only a short name) and one "HPE". The script joins the two
 * Dell hosts with an FQDN (cluster file, jobs that add them to vCenter and succeed), reports the
 * short-named one and exits 1, and leaves the HPE host alone. A vendor with no host: a message,
 * exit 0. Also checks that the README has its "Power events" section.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { startVcsim, type Vcsim } from '../helpers/vcsim.js';
import { CLI, serveDirs, spawnServe, stopServe, type ServeProcess } from '../helpers/serve.js';
import { waitFor } from '../helpers/wait.js';

const README = resolve(import.meta.dirname, '../../README.md');
const DELL1 = { uuid: '564d7a2e-1b3c-4d5e-8f62-000000000001', hostname: 'esx-d1.rack-a.example.com' };
const DELL2 = { uuid: '564d7a2e-1b3c-4d5e-8f62-000000000002', hostname: 'esx-d2.rack-a.example.com' };
const SHORT = { uuid: '564d7a2e-1b3c-4d5e-8f62-000000000003', hostname: 'esx-d3' };
const HPE = { uuid: '564d7a2e-1b3c-4d5e-8f62-000000000004', hostname: 'esx-h1.rack-a.example.com' };

const RACK_A = `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="rack-a">
  <datacenter>Lab</datacenter>
  <vcenter>vc-lab</vcenter>
  <credentials>esxi-root</credentials>
  <members/>
</cluster>
`;

/** The README's ```bash block of the join-vendor script. @throws Error when there is none */
function readmeScript(): string {
  const blocks = [...readFileSync(README, 'utf8').matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  const script = blocks.find((b) => b.startsWith('#!/bin/bash\n# join-vendor '));
  if (!script) throw new Error('README.md has no ```bash block starting with "#!/bin/bash\\n# join-vendor"');
  return script;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bash file args` with `env` over this process's environment (without its STATELESX_*). */
function bash(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STATELESX_')));
  const p = spawn('bash', [file, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((res) => p.on('close', (status) => res({ status, stdout, stderr })));
}

const show = (r: Run) => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

describe('README Automation: the join-vendor script against statelesx serve and the vCenter simulator', () => {
  let sim: Vcsim;
  let root: string;
  let server: ServeProcess;
  let env: NodeJS.ProcessEnv;
  let script: string;

  beforeAll(async () => {
    for (const bin of ['/usr/bin/jq', '/bin/bash'])
      if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/install-test-deps`);
    sim = await startVcsim(
      [DELL1, DELL2, SHORT, HPE].flatMap((h) => [
        '-host-uuid',
        `${h.hostname.includes('.') ? h.hostname : `${h.hostname}.rack-a.example.com`}=${h.uuid}`,
      ]),
    );
    root = mkdtempSync(join(tmpdir(), 'sx-readme-automation-'));
    const d = serveDirs(root);
    writeFileSync(join(d.clusters, 'rack-a.xml'), RACK_A);
    writeFileSync(
      join(root, 'server.yaml'),
      [
        'engine: { max-attempts: 1 }',
        // The hosts phone home over HTTP without a PXE boot of this server, so without a boot token.
        'initiator: { require-token: false }',
        'vcenters:',
        `  - { name: vc-lab, url: "${sim.sdkUrl}", username: "${sim.username}", thumbprint: "${sim.thumbprint}", password-env: SX_AUTO_VC_PW }`,
        'credentials:',
        '  - { name: esxi-root, username: root, password-env: SX_AUTO_ESX_PW }',
        '',
      ].join('\n'),
    );
    process.env['SX_AUTO_VC_PW'] = sim.password;
    process.env['SX_AUTO_ESX_PW'] = 'esxi-secret-not-logged';
    server = await spawnServe(root, ['--config', join(root, 'server.yaml')]);
    // An operator token, made on the server's machine as the README says.
    const token = await new Promise<Run>((res) => {
      const p = spawn(process.execPath, [
        CLI,
        'token',
        'create',
        'ops-script',
        '--role',
        'operator',
        '--data-dir',
        d.data,
      ]);
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      p.on('close', (status) => res({ status, stdout, stderr }));
    });
    expect(token.status, show(token)).toBe(0);
    // `statelesx` on the PATH: the built CLI.
    const bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'statelesx'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, 'statelesx'), 0o755);
    env = {
      PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      STATELESX_SERVER: server.base,
      STATELESX_TOKEN: token.stdout.trim(),
      HOME: root,
    };
    script = join(root, 'join-vendor');
    writeFileSync(script, readmeScript());
    for (const [h, vendor] of [
      [DELL1, 'Dell Inc.'],
      [HPE, 'HPE'],
      [SHORT, 'Dell Inc.'],
      [DELL2, 'Dell Inc.'],
    ] as const) {
      const res = await fetch(`${server.bootBase}/api/v1/phone-home`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ uuid: h.uuid, hostname: h.hostname, vendor, model: 'R650' }),
      });
      expect(await res.json()).toEqual({ result: 'unregistered' });
    }
  }, 180_000);

  afterAll(async () => {
    if (server) await stopServe(server);
    await sim?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('joins the Dell hosts that sent an FQDN (vCenter adds them), reports the short-named one (exit 1), leaves HPE alone', async () => {
    const r = await bash(script, ['Dell Inc.', 'rack-a'], env);
    expect(r.status, show(r)).toBe(1);
    for (const h of [DELL1, DELL2])
      expect(r.stdout).toContain(`${h.uuid} joined cluster rack-a as ${h.hostname} (the name it phoned home with)`);
    expect(r.stderr).toContain(`host ${SHORT.uuid} phoned home without a fully qualified name (it sent "esx-d3")`);
    expect(r.stdout + r.stderr).not.toContain(HPE.uuid);

    const xml = readFileSync(join(root, 'clusters', 'rack-a.xml'), 'utf8');
    for (const h of [DELL1, DELL2]) expect(xml).toContain(`fqdn="${h.hostname}" uuid="${h.uuid}"`);
    expect(xml).not.toContain(SHORT.uuid);
    expect(xml).not.toContain(HPE.uuid);

    // Still unregistered: the short-named Dell host and the HPE host.
    const auth = { authorization: `Bearer ${env['STATELESX_TOKEN']}` };
    const unregistered = (await (
      await fetch(`${server.base}/api/v1/unregistered`, { headers: auth })
    ).json()) as Array<{
      uuid: string;
    }>;
    expect(unregistered.map((h) => h.uuid).sort()).toEqual([SHORT.uuid, HPE.uuid].sort());
    // The joined hosts' configure jobs add them to vCenter (the simulator) and succeed.
    for (const h of [DELL1, DELL2]) {
      await waitFor(
        `the configure job of ${h.hostname} to succeed`,
        async () => {
          const jobs = (await (
            await fetch(`${server.base}/api/v1/hosts/${h.uuid}/jobs`, { headers: auth })
          ).json()) as Array<{
            kind: string;
            state: string;
            error?: string;
          }>;
          const j = jobs.find((x) => x.kind === 'configure-host');
          if (j && ['failed', 'blocked', 'cancelled'].includes(j.state)) throw new Error(`${j.state}: ${j.error}`);
          return j?.state === 'succeeded';
        },
        90_000,
        500,
      );
    }
  }, 150_000);

  it('a vendor with no unregistered host: says so and exits 0', async () => {
    const r = await bash(script, ['Cisco Systems Inc', 'rack-a'], env);
    expect(r.status, show(r)).toBe(0);
    expect(r.stderr).toBe('no unregistered host of vendor Cisco Systems Inc\n');
  });

  it('the README has its "Power events" section', () => {
    const text = readFileSync(README, 'utf8');
    expect(text).toMatch(/^## Power events\n\n[\s\S]*engine\.concurrency-per-cluster[\s\S]*^## /m);
  });
});
