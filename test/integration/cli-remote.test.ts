/**
 * The remote CLI (`statelesx --server URL ...`, src/cli/remote) as a user runs it: the built CLI
 * as a child process against a real `statelesx serve` child whose engine drives the vCenter
 * simulator, authenticated with API tokens made by `statelesx token create`. Each command once
 * remotely; `job watch` on live `cluster apply` jobs (exit status from the outcome: a success, a
 * failure from a wrong pinned thumbprint, a cancel); a wrong token, a viewer token, a
 * group-readable cli.yaml; https with `--ca`. `cluster history|diff|revert` on the server's git
 * history of the clusters directory (checked with the git command), printing exactly what the local
 * form prints on the same directory.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startVcsim, type Vcsim } from '../helpers/vcsim.js';
import { CLI, createUsers, serveDirs, spawnServe, stopServe, type ServeProcess } from '../helpers/serve.js';
import { phoneHomeInto } from '../helpers/phone-home.js';
import { openStore } from '../../src/store/index.js';
import { selfSignedCert } from '../helpers/tls.js';

const LAB1 = '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e01';
const LAB2 = '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e02';
const BAD1 = '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e03';
const LONE = '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e04';
const STALE = '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e05';
const SLOW1 = '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e06';
/** The certificate thumbprint the simulator's esx-bad1 presents (AddHost checks the pin against it). */
const BAD1_TP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01';
const WRONG_PIN = '11:22:33:44:55:66:77:88:99:00:11:22:33:44:55:66:77:88:99:00';

/** A cluster whose only member pins a thumbprint the simulator's host does not present: its apply fails. */
const BAD_CLUSTER = `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="bad-cluster">
  <datacenter>Lab</datacenter>
  <vcenter>vc-lab</vcenter>
  <credentials>esxi-root</credentials>
  <members>
    <host fqdn="esx-bad1.lab.example.com" uuid="${BAD1}" thumbprint="${WRONG_PIN}"/>
  </members>
</cluster>
`;

/** A one-member cluster whose join takes the simulator's AddHost_Task delay. */
const SLOW_CLUSTER = `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="slow-cluster">
  <datacenter>Lab</datacenter>
  <vcenter>vc-lab</vcenter>
  <credentials>esxi-root</credentials>
  <members>
    <host fqdn="esx-slow1.lab.example.com" uuid="${SLOW1}"/>
  </members>
</cluster>
`;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI with `env` (over a clean copy of this process's, without STATELESX_*). */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STATELESX_')));
  const p = spawn(process.execPath, [CLI, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((res) => p.on('close', (status) => res({ status, stdout, stderr })));
}

/** Runs the built CLI on a pseudo-terminal (util-linux `script`), as a user at a terminal would. */
function ttyCli(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const q = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
  const p = spawn('script', ['-qec', [process.execPath, CLI, ...args].map(q).join(' '), '/dev/null'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((res) => p.on('close', (status) => res({ status, stdout, stderr })));
}

/** ANSI escape (ECMA-48 CSI introducer's first byte), as a RegExp source. */
const ESC = '\\x1b';

/** A cluster file for the history test: `members` inside `<members>`. */
const histXml = (members: string, vcenter = 'vc-lab') => `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="hist-cluster">
  <datacenter>Lab</datacenter>
  <vcenter>${vcenter}</vcenter>
  <credentials>esxi-root</credentials>
  <members>${members}</members>
</cluster>
`;

/** `git -C dir ARGS`, trimmed stdout. */
const git = (dir: string, ...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' }).trim();

const show = (r: Run) => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

describe('remote CLI against statelesx serve and the vCenter simulator', () => {
  let sim: Vcsim;
  let root: string;
  let server: ServeProcess;
  let admin: string;
  let viewer: string;
  /** Env of an admin run against the server. */
  let asAdmin: NodeJS.ProcessEnv;
  let data: string;
  const jobs: Record<string, string> = {};

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build`);
    // AddHost_Task takes 8 s: a job is watched while it runs (the CLI takes seconds to start on a
    // loaded machine), and a second apply waits in the queue long enough to be cancelled there. esx-bad1 presents a certificate
    // other than the one its cluster file pins: its AddHost_Task fails (SSLVerifyFault).
    sim = await startVcsim([
      '-host-thumbprint',
      `esx-bad1.lab.example.com=${BAD1_TP}`,
      '-host-uuid',
      `esx-slow1.lab.example.com=${SLOW1}`,
      '-host-uuid',
      `esx-lab1.lab.example.com=${LAB1}`,
      '-host-uuid',
      `esx-lab2.lab.example.com=${LAB2}`,
      '-host-uuid',
      `esx-bad1.lab.example.com=${BAD1}`,
      '-method-delay',
      'AddHost_Task:8000',
    ]);
    root = mkdtempSync(join(tmpdir(), 'sx-cli-remote-'));
    const d = serveDirs(root);
    data = d.data;
    copyFileSync('examples/clusters/lab-cluster.xml', join(d.clusters, 'lab-cluster.xml'));
    writeFileSync(join(d.clusters, 'bad-cluster.xml'), BAD_CLUSTER);
    writeFileSync(join(d.clusters, 'slow-cluster.xml'), SLOW_CLUSTER);
    writeFileSync(
      join(root, 'server.yaml'),
      [
        // one job at a time per vCenter: a second apply waits in the queue (and can be cancelled there)
        'engine: { max-attempts: 1, concurrency-per-vcenter: 1 }',
        'vcenters:',
        `  - { name: vc-lab, url: "${sim.sdkUrl}", username: "${sim.username}", thumbprint: "${sim.thumbprint}", password-env: SX_RCLI_VC_PW }`,
        'credentials:',
        '  - { name: esxi-root, username: root, password-env: SX_RCLI_ESX_PW }',
        '',
      ].join('\n'),
    );
    process.env['SX_RCLI_VC_PW'] = sim.password;
    process.env['SX_RCLI_ESX_PW'] = 'esxi-secret-not-logged';
    await createUsers(data, [['alice', 'correct horse battery', 'admin']]);
    server = await spawnServe(root, ['--config', join(root, 'server.yaml')]);
    // Tokens are made on the server's machine with the local CLI (the store is shared, SQLite WAL).
    const made = await cli(['token', 'create', 'ci-admin', '--role', 'admin', '--data-dir', data]);
    expect(made.status, show(made)).toBe(0);
    admin = made.stdout.trim();
    viewer = (await cli(['token', 'create', 'ci-viewer', '--role', 'viewer', '--data-dir', data])).stdout.trim();
    expect(admin).toMatch(/^sxt_/);
    asAdmin = { STATELESX_SERVER: server.base, STATELESX_TOKEN: admin };
    // The members boot and phone home (recorded in the server's store), and two strangers are seen.
    await phoneHomeInto(data, 'lab-cluster', [
      { uuid: LAB1, fqdn: 'esx-lab1.lab.example.com' },
      { uuid: LAB2, fqdn: 'esx-lab2.lab.example.com' },
    ]);
    await phoneHomeInto(data, 'bad-cluster', [{ uuid: BAD1, fqdn: 'esx-bad1.lab.example.com' }]);
    await phoneHomeInto(data, 'slow-cluster', [{ uuid: SLOW1, fqdn: 'esx-slow1.lab.example.com' }]);
    const store = await openStore(data);
    await store.hosts.upsertSighting({ uuid: LONE, at: Date.now(), hostname: 'esx-lone.lab.example.com' });
    await store.hosts.upsertSighting({ uuid: STALE, at: Date.now() - 40 * 86_400_000, hostname: 'old' });
    store.close();
  }, 180_000);

  afterAll(async () => {
    if (server) await stopServe(server);
    await sim?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('refuses a wrong token (exit 3, the 401 problem shown, the token never printed), no token (exit 2), a viewer for admin verbs (exit 3)', async () => {
    const wrong = await cli(['job', 'list'], {
      STATELESX_SERVER: server.base,
      STATELESX_TOKEN: 'sxt_wrong-token-value',
    });
    expect(wrong.status, show(wrong)).toBe(3);
    expect(wrong.stderr).toMatch(/GET \/api\/v1\/jobs: HTTP 401 /);
    expect(wrong.stdout + wrong.stderr).not.toContain('sxt_wrong-token-value');
    const none = await cli(['job', 'list'], { STATELESX_SERVER: server.base, HOME: root });
    expect(none.status, show(none)).toBe(2);
    expect(none.stderr).toContain('no API token for http://127.0.0.1:');
    const weak = await cli(['token', 'list'], { STATELESX_SERVER: server.base, STATELESX_TOKEN: viewer });
    expect(weak.status, show(weak)).toBe(3);
    expect(weak.stderr).toMatch(/HTTP 403 Forbidden/);
  });

  it('reads server and token from cli.yaml under $XDG_CONFIG_HOME, and refuses it when group/world readable', async () => {
    const xdg = join(root, 'xdg');
    mkdirSync(join(xdg, 'statelesx'), { recursive: true });
    const file = join(xdg, 'statelesx', 'cli.yaml');
    writeFileSync(file, `server: ${server.base}\ntoken: ${admin}\n`);
    chmodSync(file, 0o644);
    const refused = await cli(['job', 'list'], { XDG_CONFIG_HOME: xdg });
    expect(refused.status, show(refused)).toBe(2);
    expect(refused.stderr).toContain(`${file} holds an API token but its permissions are 0644`);
    expect(refused.stderr).toContain(`chmod 600 ${file}`);
    expect(refused.stderr).not.toContain(admin);
    chmodSync(file, 0o600);
    const ok = await cli(['user', 'list', '--json'], { XDG_CONFIG_HOME: xdg });
    expect(ok.status, show(ok)).toBe(0);
    expect((JSON.parse(ok.stdout) as Array<{ username: string }>).map((u) => u.username)).toEqual(['alice']);
    // --local ignores the file: the local mode wants its data directory
    const local = await cli(['user', 'list', '--local', '--data-dir', data], { XDG_CONFIG_HOME: xdg });
    expect(local.status, show(local)).toBe(0);
    expect(local.stdout).toContain('alice');
  });

  it('cluster validate and plan on the server: the plan adds both phoned-home members', async () => {
    const v = await cli(['cluster', 'validate', 'examples/clusters/lab-cluster.xml'], asAdmin);
    expect(v.status, show(v)).toBe(0);
    expect(v.stdout).toContain('examples/clusters/lab-cluster.xml: ok (cluster lab-cluster');
    const broken = join(root, 'lab-cluster.xml');
    writeFileSync(broken, '<cluster xmlns="urn:statelesx:cluster:1" name="lab-cluster"><datacenter/></cluster>\n');
    const bad = await cli(['cluster', 'validate', broken], asAdmin);
    expect(bad.status, show(bad)).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`${broken}:1:\\d+: `));

    const plan = await cli(['cluster', 'plan', 'lab-cluster', '--json'], asAdmin);
    expect(plan.status, show(plan)).toBe(0);
    const steps = (JSON.parse(plan.stdout) as { steps: Array<{ name: string }> }).steps;
    expect(steps.filter((s) => s.name === 'AddHost_Task')).toHaveLength(2);
    const text = await cli(['cluster', 'plan', 'lab-cluster'], asAdmin);
    expect(text.stdout).toMatch(/AddHost_Task\s+host:esx-lab1\.lab\.example\.com/);
  }, 60_000);

  it('job watch follows a live cluster apply to success (exit 0); drift is clean afterwards', async () => {
    const q = await cli(['cluster', 'apply', 'lab-cluster', '--no-wait', '--json'], asAdmin);
    expect(q.status, show(q)).toBe(0);
    const ref = JSON.parse(q.stdout) as { id: string; existing: boolean };
    jobs['lab'] = ref.id;
    const w = await cli(['job', 'watch', ref.id], asAdmin);
    expect(w.status, show(w)).toBe(0);
    // plain lines (not a terminal): the job's states, each step as it finishes, the outcome last
    expect(w.stdout).toMatch(new RegExp(`job ${ref.id} \\(apply-cluster lab-cluster\\): (queued|running)`));
    expect(w.stdout).toMatch(/^ok {3}AddHost_Task host:esx-lab1\.lab\.example\.com \(\d+\.\d s\)$/m);
    expect(w.stdout).not.toMatch(/^skip/m);
    expect(w.stdout).toMatch(/^ok {3}AddHost_Task host:esx-lab2\.lab\.example\.com/m);
    expect(w.stdout.trimEnd().split('\n').at(-1)).toBe(`job ${ref.id}: succeeded`);
    expect(w.stdout + w.stderr).not.toContain('esxi-secret-not-logged');

    const drift = await cli(['cluster', 'drift', 'lab-cluster'], asAdmin);
    expect(drift.status, show(drift)).toBe(0);
    expect(drift.stdout).toContain('cluster lab-cluster: no drift');
    // watching a finished job reports its outcome at once
    const again = await cli(['job', 'watch', ref.id, '--json'], asAdmin);
    expect(again.status, show(again)).toBe(0);
    expect((JSON.parse(again.stdout) as { state: string }).state).toBe('succeeded');
  }, 120_000);

  it('cluster apply follows the job on the server and exits 1 when it fails; retry --watch fails again', async () => {
    const a = await cli(['cluster', 'apply', 'bad-cluster'], asAdmin);
    expect(a.status, show(a)).toBe(1);
    expect(a.stdout).toMatch(/^queued job [0-9a-f-]{36} on http:\/\/127\.0\.0\.1:\d+$/m);
    expect(a.stdout).toMatch(/thumbprint/i); // the step's or the job's fault names the refused thumbprint
    const id = /job ([0-9a-f-]{36}): failed/.exec(a.stdout)?.[1];
    expect(id, show(a)).toBeDefined();
    jobs['bad'] = id!;
    const r = await cli(['job', 'retry', id!, '--watch'], asAdmin);
    expect(r.status, show(r)).toBe(1);
    expect(r.stdout).toMatch(/job [0-9a-f-]{36}: failed: /);
    expect(r.stdout).not.toContain(`job ${id}: failed`); // a new job
  }, 120_000);

  it('job cancel takes a queued job out at once (its watch exits 1); a finished job is refused with the 409 problem (exit 5)', async () => {
    // slow-cluster's apply runs (AddHost_Task 8 s) and holds the vCenter's only slot; the
    // lab-cluster apply queued right after waits behind it.
    const queue = async (name: string) => {
      const res = await fetch(`${server.base}/api/v1/clusters/${name}/apply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    };
    const slow = await queue('slow-cluster');
    const behind = await queue('lab-cluster');
    // at a terminal: a progress line redrawn in place under the finished steps (watched meanwhile)
    const watching = ttyCli(['job', 'watch', slow], asAdmin);
    const c = await cli(['job', 'cancel', behind], asAdmin);
    expect(c.status, show(c)).toBe(0);
    expect(c.stdout).toBe(`job ${behind} cancelled\n`);
    const w = await cli(['job', 'watch', behind], asAdmin);
    expect(w.status, show(w)).toBe(1);
    expect(w.stdout.trimEnd().split('\n').at(-1)).toBe(
      `job ${behind}: cancelled: cancelled by token:ci-admin before it started`,
    );
    const s = await watching;
    expect(s.status, show(s)).toBe(0);
    const progress = new RegExp(
      `\r${ESC}\\[2K\\[[#-]{20}\\] \\d+/\\d+ steps {2}running {2}AddHost_Task host:esx-slow1\\.lab\\.example\\.com {2}\\d+\\.\\d s`,
    );
    expect(s.stdout).toMatch(progress);
    expect(s.stdout).toMatch(/ok {3}AddHost_Task host:esx-slow1\.lab\.example\.com \(\d+\.\d s\)\r?\n/);
    expect(s.stdout).toMatch(new RegExp(`job ${slow}: succeeded\\r?\\n$`));

    const done = await cli(['job', 'cancel', jobs['lab']!], asAdmin);
    expect(done.status, show(done)).toBe(5);
    expect(done.stderr).toContain(
      `statelesx: POST /api/v1/jobs/${jobs['lab']}/cancel: HTTP 409 Conflict: job ${jobs['lab']} has already ended (succeeded)`,
    );
  }, 120_000);

  it('job list (table, --state, --json) and job show; an unknown job is exit 4', async () => {
    const list = await cli(['job', 'list', '--json'], asAdmin);
    expect(list.status, show(list)).toBe(0);
    const all = JSON.parse(list.stdout) as Array<{ id: string; state: string }>;
    expect(all.find((j) => j.id === jobs['lab'])?.state).toBe('succeeded');
    const failed = await cli(['job', 'list', '--state', 'failed'], asAdmin);
    expect(failed.stdout.split('\n')[0]).toMatch(/^ID\s+KIND\s+TARGET\s+STATE/);
    expect(failed.stdout).toContain(jobs['bad']!);
    expect(failed.stdout).not.toContain(jobs['lab']!);
    const s = await cli(['job', 'show', jobs['lab']!], asAdmin);
    expect(s.status, show(s)).toBe(0);
    expect(s.stdout).toMatch(/^state:\s+succeeded$/m);
    expect(s.stdout).toMatch(/AddHost_Task\s+host:esx-lab2\.lab\.example\.com\s+done/);
    const missing = await cli(['job', 'show', 'no-such-job'], asAdmin);
    expect(missing.status, show(missing)).toBe(4);
    expect(missing.stderr).toContain('HTTP 404 Not Found: job no-such-job not found');
    const badState = await cli(['job', 'list', '--state', 'sleeping'], asAdmin);
    expect(badState.status).toBe(2);
  });

  it('host list, show, pin, join, reinstall, thumbprint reset, prune-unregistered, forget', async () => {
    const list = await cli(['host', 'list', '--json'], asAdmin);
    expect(list.status, show(list)).toBe(0);
    const hosts = JSON.parse(list.stdout) as Array<{ uuid: string; state: string }>;
    expect(hosts.map((h) => h.uuid)).toEqual(expect.arrayContaining([LAB1, LAB2, BAD1, LONE, STALE]));
    const unreg = await cli(['host', 'list', '--unregistered'], asAdmin);
    expect(unreg.stdout).toContain(LONE);
    expect(unreg.stdout).not.toContain(LAB1);

    const sh = await cli(['host', 'show', LAB1], asAdmin);
    expect(sh.status, show(sh)).toBe(0);
    expect(sh.stdout).toMatch(/^state:\s+(configuring|configured|registered)$/m);
    expect(sh.stdout).toMatch(/^hostname:\s+esx-lab1$/m);
    const shj = JSON.parse((await cli(['host', 'show', LAB1, '--json'], asAdmin)).stdout) as { host: { uuid: string } };
    expect(shj.host.uuid).toBe(LAB1);

    const pin = await cli(['host', 'pin', LAB1, 'no-such-image'], asAdmin);
    expect(pin.status, show(pin)).toBe(5);
    expect(pin.stderr).toContain('HTTP 422 Unprocessable Content: image no-such-image is not imported');
    expect(pin.stderr).toContain('/body/image: unknown image');
    const clear = await cli(['host', 'pin', LAB1, '--clear'], asAdmin);
    expect(clear.status, show(clear)).toBe(0);

    const join = await cli(['host', 'join', LONE, '--cluster', 'lab-cluster', '--json'], asAdmin);
    expect(join.status, show(join)).toBe(0);
    const jr = JSON.parse(join.stdout) as { ok: boolean; fqdn: string; job: { id: string } };
    expect(jr).toMatchObject({ ok: true, fqdn: 'esx-lone.lab.example.com' });
    const again = await cli(['host', 'join', LONE, '--cluster', 'lab-cluster'], asAdmin);
    expect(again.status, show(again)).toBe(5);
    expect(again.stderr).toContain('HTTP 409 Conflict');
    await cli(['job', 'cancel', jr.job.id], asAdmin); // it waits for a phone-home that never comes

    const re = await cli(['host', 'reinstall', LAB1], asAdmin);
    expect(re.status, show(re)).toBe(5); // a stateless member: 409
    expect(re.stderr).toMatch(/HTTP 409 Conflict: .*stateful/);

    const tp = await cli(['thumbprint', 'reset', 'esx-lab1.lab.example.com'], asAdmin);
    expect(tp.status, show(tp)).toBe(0);
    expect(tp.stdout).toMatch(/forgot the recorded thumbprint\(s\) of|nothing recorded for/);
    const tp2 = await cli(['host', 'reset-thumbprint', LAB2, '--json'], asAdmin);
    expect(tp2.status, show(tp2)).toBe(0);
    expect(JSON.parse(tp2.stdout)).toMatchObject({ uuid: LAB2, fqdn: 'esx-lab2.lab.example.com' });

    const prune = await cli(['host', 'prune-unregistered', '--older-than-days', '30'], asAdmin);
    expect(prune.status, show(prune)).toBe(0);
    expect(prune.stdout).toBe('deleted 1 unregistered host(s) not seen for 30 days\n');

    const forget = await cli(['host', 'forget', BAD1], asAdmin);
    expect(forget.status, show(forget)).toBe(0);
    expect(forget.stdout).toMatch(new RegExp(`^forgot host ${BAD1} \\(`));
    const gone = await cli(['host', 'show', BAD1], asAdmin);
    expect(gone.status, show(gone)).toBe(4);
    const local = await cli(['host', 'forget', LAB2, '--data-dir', data], asAdmin);
    expect(local.status, show(local)).toBe(2); // --data-dir is the local mode's
    expect(local.stderr).toContain('--data-dir is for the local mode');
  }, 240_000);

  it('token create, list, revoke; user list; image list — remotely, audited as the token', async () => {
    const made = await cli(['token', 'create', 'nightly', '--role', 'viewer', '--expires-in-days', '30'], asAdmin);
    expect(made.status, show(made)).toBe(0);
    const nightly = made.stdout.trim();
    expect(nightly).toMatch(/^sxt_/);
    expect(made.stderr).toContain('API token nightly created (viewer, expires ');
    const ok = await cli(['image', 'list', '--json'], { STATELESX_SERVER: server.base, STATELESX_TOKEN: nightly });
    expect(ok.status, show(ok)).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ images: [] });
    const list = await cli(['token', 'list'], asAdmin);
    expect(list.stdout).toMatch(/nightly\s+viewer/);
    expect(list.stdout).not.toContain(nightly);
    const rev = await cli(['token', 'revoke', 'nightly'], asAdmin);
    expect(rev.status, show(rev)).toBe(0);
    const after = await cli(['image', 'list'], { STATELESX_SERVER: server.base, STATELESX_TOKEN: nightly });
    expect(after.status, show(after)).toBe(3);
    const users = await cli(['user', 'list'], asAdmin);
    expect(users.stdout).toMatch(/^alice\s+admin/m);

    const store = await openStore(data);
    try {
      const audit = await store.audit.list(100);
      expect(audit.find((a) => a.action === 'api-token.create' && a.target === 'nightly')?.actor).toBe(
        'token:ci-admin',
      );
    } finally {
      store.close();
    }
  }, 120_000);

  it('cluster history, diff, revert on the server: two saves by the token, their diff, a revert as a new commit', async () => {
    const clusters = join(root, 'clusters');
    const v1 = histXml('');
    const v2 = histXml(
      `\n    <host fqdn="esx-hist1.lab.example.com" uuid="564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e07"/>\n  `,
    );
    const save = async (xml: string) => {
      const res = await fetch(`${server.base}/api/v1/clusters/hist-cluster/xml`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/xml' },
        body: xml,
      });
      expect(res.status, await res.text()).toBe(200);
    };
    await save(v1);
    await save(v2);
    const [second, first] = git(clusters, 'log', '--format=%H', '--', 'hist-cluster.xml').split('\n');

    const json = await cli(['cluster', 'history', 'hist-cluster', '--json'], asAdmin);
    expect(json.status, show(json)).toBe(0);
    const versions = JSON.parse(json.stdout) as Array<{ id: string; author: string; message: string }>;
    expect(versions.map((v) => [v.id, v.author, v.message])).toEqual([
      [second, 'token:ci-admin', 'update hist-cluster.xml'],
      [first, 'token:ci-admin', 'create hist-cluster.xml'],
    ]);
    const list = await cli(['cluster', 'history', 'hist-cluster'], asAdmin);
    expect(list.status, show(list)).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(
        `^${second!.slice(0, 12)}  \\S+ \\S+Z  token:ci-admin +update hist-cluster\\.xml\n` +
          `${first!.slice(0, 12)}  \\S+ \\S+Z  token:ci-admin +create hist-cluster\\.xml\n$`,
      ),
    );
    // The same lines as the local form prints on the same directory (one printing code).
    writeFileSync(
      join(root, 'local.yaml'),
      `clusters-dir: ${clusters}\ndata-dir: ${data}\nvcenters:\n  - { name: vc-lab, url: "${sim.sdkUrl}", username: u, password-env: SX_RCLI_VC_PW }\n` +
        'credentials:\n  - { name: esxi-root, username: root, password-env: SX_RCLI_ESX_PW }\n',
    );
    const local = await cli(['cluster', 'history', 'hist-cluster', '--local', '--config', join(root, 'local.yaml')]);
    expect(local.status, show(local)).toBe(0);
    expect(list.stdout).toBe(local.stdout);
    const viewed = await cli(['cluster', 'history', 'hist-cluster'], {
      STATELESX_SERVER: server.base,
      STATELESX_TOKEN: viewer,
    });
    expect(viewed.stdout).toBe(list.stdout);

    const diff = await cli(['cluster', 'diff', 'hist-cluster', first!.slice(0, 8), second!], asAdmin);
    expect(diff.status, show(diff)).toBe(1); // they differ, like diff(1)
    expect(diff.stdout).toContain(`--- a/hist-cluster.xml\t${first}\n+++ b/hist-cluster.xml\t${second}\n`);
    expect(diff.stdout).toContain('-  <members></members>\n+  <members>\n+    <host fqdn="esx-hist1.lab.example.com"');
    const localDiff = await cli([
      'cluster',
      'diff',
      'hist-cluster',
      first!.slice(0, 8),
      second!,
      '--local',
      '--config',
      join(root, 'local.yaml'),
    ]);
    expect(diff.stdout).toBe(localDiff.stdout);
    const dj = await cli(['cluster', 'diff', 'hist-cluster', first!, '--json'], asAdmin);
    expect(dj.status, show(dj)).toBe(1);
    expect(JSON.parse(dj.stdout)).toMatchObject({ file: 'hist-cluster.xml', from: first, to: 'working' });
    const same = await cli(['cluster', 'diff', 'hist-cluster', second!], asAdmin);
    expect(same.status, show(same)).toBe(0);
    const unknown = await cli(['cluster', 'diff', 'hist-cluster', 'abcdef12'], asAdmin);
    expect(unknown.status, show(unknown)).toBe(4);
    expect(unknown.stderr).toContain('HTTP 404 Not Found: "abcdef12" is not a commit of the cluster history');

    const denied = await cli(['cluster', 'revert', 'hist-cluster', first!], {
      STATELESX_SERVER: server.base,
      STATELESX_TOKEN: viewer,
    });
    expect(denied.status, show(denied)).toBe(3);
    const rev = await cli(['cluster', 'revert', 'hist-cluster', first!.slice(0, 10)], asAdmin);
    expect(rev.status, show(rev)).toBe(0);
    expect(rev.stdout).toBe(`cluster hist-cluster reverted to ${first!.slice(0, 12)} (a new commit)\n`);
    expect(readFileSync(join(clusters, 'hist-cluster.xml'), 'utf8')).toBe(v1);
    expect(git(clusters, 'log', '-1', '--format=%an|%s')).toBe(
      `token:ci-admin|revert cluster hist-cluster to ${first!.slice(0, 12)}`,
    );
    expect(git(clusters, 'log', '--format=%H', '--', 'hist-cluster.xml').split('\n')).toHaveLength(3);

    // A hand edit that no longer validates is recorded (by the next save); reverting to it is
    // refused with its issues, printed as the local form prints them, and nothing is written.
    writeFileSync(join(clusters, 'hist-cluster.xml'), histXml('', 'vc-nowhere'));
    await save(v2);
    const bad = git(clusters, 'log', '--format=%H', '--author=statelesx', '-1', '--', 'hist-cluster.xml');
    expect(git(clusters, 'log', '-1', '--format=%s', bad)).toBe('on-disk change detected: hist-cluster.xml');
    const head = git(clusters, 'rev-parse', 'HEAD');
    const refused = await cli(['cluster', 'revert', 'hist-cluster', bad], asAdmin);
    expect(refused.status, show(refused)).toBe(1);
    expect(refused.stderr).toContain(
      `statelesx: the version of hist-cluster in ${bad.slice(0, 12)} does not validate; nothing was saved\n`,
    );
    expect(refused.stderr).toMatch(/^hist-cluster\.xml:4:\d+: \/cluster\/vcenter: .*vc-nowhere/m);
    expect(git(clusters, 'rev-parse', 'HEAD')).toBe(head);
    expect(readFileSync(join(clusters, 'hist-cluster.xml'), 'utf8')).toBe(v2);
  }, 120_000);
});

describe('remote CLI over https with --ca', () => {
  let root: string;
  let server: ServeProcess;
  let env: NodeJS.ProcessEnv;
  let base: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'sx-cli-remote-tls-'));
    selfSignedCert(root);
    writeFileSync(
      join(root, 'server.yaml'),
      `http: { tls-cert: ${join(root, 'cert.pem')}, tls-key: ${join(root, 'key.pem')} }\n`,
    );
    server = await spawnServe(root, ['--config', join(root, 'server.yaml')]);
    base = server.base.replace(/^http:/, 'https:');
    const made = await cli(['token', 'create', 'tls', '--role', 'viewer', '--data-dir', join(root, 'data')]);
    env = { STATELESX_TOKEN: made.stdout.trim() };
  }, 60_000);

  afterAll(async () => {
    if (server) await stopServe(server);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('refuses the self-signed certificate without --ca (exit 6, naming --ca) and works with it', async () => {
    const no = await cli(['--server', base, 'job', 'list'], env);
    expect(no.status, show(no)).toBe(6);
    expect(no.stderr).toMatch(/cannot reach https:\/\/127\.0\.0\.1:\d+ .*pass --ca FILE/);
    const yes = await cli(['--server', base, '--ca', join(root, 'cert.pem'), 'job', 'list'], env);
    expect(yes.status, show(yes)).toBe(0);
    expect(yes.stdout).toBe('no jobs\n');
    const notPem = await cli(['--server', base, '--ca', join(root, 'server.yaml'), 'job', 'list'], env);
    expect(notPem.status, show(notPem)).toBe(2);
    expect(notPem.stderr).toContain('no PEM certificate in it');
  });
});
