/**
 * What the real-firmware end-to-end tests share (test/e2e/pxe-e2e.test.ts, lifecycle-e2e.test.ts):
 * the test's working directory (images, store, cluster files), one harness run of
 * test/peers/pxe-boot-check with our server (netns-server.sh: statelesx + the vCenter simulator in
 * the server namespace), the tools that run inside that namespace (netns-tool.ts: SOAP read-back,
 * REST API, simulator hooks), the store's job table, and the cluster file both tests use.
 */
import { expect } from 'vitest';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { qmpExecute } from './qmp.js';
import { waitFor } from './wait.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const HARNESS = resolve(REPO, 'test/peers/pxe-boot-check/pxe-boot-check');
export const CLI = join(REPO, 'dist/cli/main.js');
export const UUID_A = '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b';
export const UUID_B = '3d9c1a77-5e2f-4b60-8c1d-2e3f4a5b6c7d';
export const MAC_A = '52:54:00:12:34:56';
export const MAC_B = '52:54:00:ab:cd:02';
export const FQDN_A = 'esx-a.e2e.example.com';
export const FQDN_B = 'esx-b.e2e.example.com';

/** Secrets of one test run, passed to statelesx and the simulator by environment. */
export function newSecrets(): Record<string, string> {
  return {
    E2E_VC_PASSWORD: 'vc-' + Math.random().toString(36).slice(2),
    E2E_ESXI_PASSWORD: 'esx-' + Math.random().toString(36).slice(2),
    E2E_ADMIN_PASSWORD: 'admin-' + Math.random().toString(36).slice(2),
  };
}

export function need(cond: boolean, what: string): void {
  if (!cond) throw new Error(`${what}: run scripts/install-test-deps (as root) first`);
}

/** The checks every e2e file makes before it starts: root, the harness, QEMU, the built CLI. */
export function needE2ePrerequisites(): void {
  need(process.getuid?.() === 0, 'the end-to-end test needs root (network namespaces, tap)');
  need(existsSync(HARNESS), `${HARNESS} is missing`);
  need(existsSync('/usr/bin/qemu-system-x86_64'), 'qemu-system-x86_64 is missing');
  need(existsSync(CLI), `${CLI} is missing (npm run build)`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The end of an e2e file (its afterAll): stops the harness runs it started (`undefined`: none),
 * then removes `ctx.dir` unless `E2E_KEEP=1` (kept for a post-mortem).
 */
export async function endE2e(ctx: E2eContext, boots: Iterable<Boot | undefined>): Promise<void> {
  for (const b of boots) await b?.stop();
  if (ctx.dir && process.env['E2E_KEEP'] !== '1') rmSync(ctx.dir, { recursive: true, force: true });
}

/** Where one test file keeps its store, images and cluster files, and the secrets of its run. */
export interface E2eContext {
  dir: string;
  secrets: Record<string, string>;
}

/** Options of one harness run beyond the firmware/UUID/MAC arguments. */
export interface BootOptions {
  /** Extra environment for netns-server.sh (E2E_IPXE_FILE, E2E_ENGINE_DEFAULTS, ...). */
  env?: Record<string, string>;
  /** A QMP socket (`pxe-boot-check --qmp`): the VM may then be reset and boots again. */
  qmp?: string;
  /** The harness's overall deadline in seconds (default 600). */
  timeoutS?: number;
}

/** One harness run: a VM booting through our server; stop() tears both namespaces down. */
export class Boot {
  readonly proc: ChildProcess;
  readonly outdir: string;
  private output = '';
  private exited: Promise<number | null>;
  constructor(
    private readonly ctx: E2eContext,
    name: string,
    args: string[],
    private readonly opts: BootOptions = {},
  ) {
    this.outdir = join(ctx.dir, 'runs', name);
    mkdirSync(this.outdir, { recursive: true });
    this.proc = spawn(
      HARNESS,
      [
        '--server-cmd',
        join(REPO, 'test/e2e/netns-server.sh'),
        '--nic',
        'virtio-net-pci',
        '--expect',
        'STATELESX-E2E-NEVER-PRINTED',
        '--timeout',
        String(opts.timeoutS ?? 600),
        '--outdir',
        this.outdir,
        ...(opts.qmp ? ['--qmp', opts.qmp] : []),
        ...args,
      ],
      {
        env: {
          ...process.env,
          ...ctx.secrets,
          ...opts.env,
          E2E_DIR: ctx.dir,
          E2E_HOST_UUIDS: `${FQDN_A}=${UUID_A} ${FQDN_B}=${UUID_B}`,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.proc.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((r) => this.proc.on('exit', (code) => r(code)));
  }
  get netns(): string {
    return `pxe-srv-${this.proc.pid}`;
  }
  /** The VM's serial console so far (every boot of this run, one after the other). */
  serial(): string {
    try {
      return readFileSync(join(this.outdir, 'serial.log'), 'latin1');
    } catch {
      return '';
    }
  }
  /**
   * Waits for a serial-console regex in the log after character `from` (a later boot: the log's
   * length before the reset); fails early with the harness output when it exits.
   */
  async waitSerial(re: RegExp, timeoutMs: number, from = 0): Promise<RegExpMatchArray> {
    return waitFor(
      `${re} on the VM console`,
      () => {
        if (this.proc.exitCode !== null)
          throw new Error(`harness exited (${this.proc.exitCode}) before ${re}:\n${this.output.slice(-3000)}`);
        return this.serial().slice(from).match(re) ?? undefined;
      },
      timeoutMs,
      500,
    );
  }
  /**
   * Waits until the harness started the VM (its `t0` file), i.e. the server namespace exists and
   * the server bound its ports; fails early when the harness exits.
   */
  async started(timeoutMs = 120_000): Promise<void> {
    await waitFor(
      'the harness to start the VM',
      () => {
        if (this.proc.exitCode !== null)
          throw new Error(`harness exited (${this.proc.exitCode}) before the VM started:\n${this.output.slice(-3000)}`);
        return existsSync(join(this.outdir, 't0'));
      },
      timeoutMs,
      500,
    );
  }
  /** QMP `system_reset`: the same VM goes through its firmware and PXE-boots again (needs `qmp`). */
  async reset(): Promise<void> {
    if (!this.opts.qmp) throw new Error('reset() needs a Boot started with a qmp socket');
    await qmpExecute(this.opts.qmp, 'system_reset');
  }
  /** Runs test/e2e/netns-tool.ts inside the server namespace; returns its JSON. */
  tool(args: string[]): unknown {
    const out = execFileSync(
      'ip',
      ['netns', 'exec', this.netns, process.execPath, '--import', 'tsx', join(REPO, 'test/e2e/netns-tool.ts'), ...args],
      {
        cwd: REPO,
        encoding: 'utf8',
        env: { ...process.env, ...this.ctx.secrets },
        timeout: 60_000,
      },
    );
    return JSON.parse(out.trim().split('\n').pop()!);
  }
  api(method: string, path: string, body?: unknown): { status: number; body: unknown } {
    return this.tool([
      'api',
      'http://127.0.0.1:8080',
      'e2e-admin',
      'E2E_ADMIN_PASSWORD',
      method,
      path,
      ...(body === undefined ? [] : [JSON.stringify(body)]),
    ]) as { status: number; body: unknown };
  }
  readback(): ReadBack {
    return this.tool(['readback', join(this.outdir, 'vcsim.env'), 'DC-E2E', 'e2e-cluster']) as ReadBack;
  }
  /** The simulator's boot/reboot hook for `fqdn`, the host presenting the certificate + key in `pemFile`. */
  simBoot(hook: 'boot' | 'reboot', fqdn: string, pemFile: string): { thumbprint: string; sha256: string } {
    return this.tool(['boot', join(this.outdir, 'vcsim.env'), hook, fqdn, pemFile]) as {
      thumbprint: string;
      sha256: string;
    };
  }
  /** vim25 Login as root on the host's own SDK (simulator) with the password in env `passwordEnv`. */
  esxLogin(fqdn: string, passwordEnv: string): { status: number; fault: string | null; sha256: string } {
    return this.tool(['esx-login', join(this.outdir, 'vcsim.env'), fqdn, passwordEnv]) as {
      status: number;
      fault: string | null;
      sha256: string;
    };
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode === null) this.proc.kill('SIGTERM');
    await Promise.race([this.exited, sleep(20_000)]);
  }
}

/** The parts of the SOAP read-back (src/vsphere/read.ts shapes) the tests check. */
export interface ReadBack {
  cluster: string | null;
  config: {
    dasConfig: { enabled: boolean; admissionControlPolicy: { failoverLevel?: number } };
    drsConfig: Record<string, unknown>;
    dpmConfigInfo: Record<string, unknown>;
  } | null;
  hosts: Array<{
    name: string;
    uuid: string;
    connectionState: string;
    inMaintenanceMode: boolean;
    vnicServices: Record<string, string[]>;
    ntpServers: string[];
    network: {
      vswitch: Array<{ name: string; mtu: number; spec: { bridge: { nicDevice: string[] } } }>;
      portgroup: Array<{ spec: { name: string; vlanId: number } }>;
      vnic: Array<{ device: string; portgroup: string; spec: { mtu: number; ip: { ipAddress: string } } }>;
    };
  }>;
}

export interface JobRow {
  id: string;
  state: string;
  error: string | null;
}

/** The newest job for `uuid` in the store (read-only), or undefined. */
export function lastJob(dir: string, uuid: string): JobRow | undefined {
  const db = new Database(join(dir, 'data', 'statelesx.db'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare('SELECT id, state, error FROM jobs WHERE target = ? ORDER BY created_at DESC LIMIT 1')
      .get(uuid) as JobRow | undefined;
  } finally {
    db.close();
  }
}

/** Job states after which a job does not run again by itself (src/store/jobs.ts JobState). */
const ENDED = ['succeeded', 'failed', 'blocked', 'cancelled'];

/**
 * Waits for a job of `uuid` newer than `afterId` to end (succeeded, failed, blocked or cancelled:
 * the caller asserts which, and sees the job's error); 120 s by default.
 */
export async function jobDone(dir: string, uuid: string, afterId?: string, timeoutMs = 120_000): Promise<JobRow> {
  return waitFor(
    `the configure job of ${uuid} to finish`,
    () => {
      const j = lastJob(dir, uuid);
      return j && j.id !== afterId && ENDED.includes(j.state) ? j : undefined;
    },
    timeoutMs,
    500,
  );
}

/**
 * Creates the test directory's layout and imports image versions made by scripts/make-test-image
 * (each with `statelesx.hold=1` and `cmdline[v]`, when given, appended to its kernel line; `arch`:
 * make-test-image `--arch`, amd64 or arm64).
 */
export function prepareDir(
  dir: string,
  versions: string[],
  cmdline: Record<string, string> = {},
  arch: 'amd64' | 'arm64' = 'amd64',
): void {
  for (const d of ['data', 'images', 'tftp', 'clusters', 'pxelinux.cfg', 'runs', 'src']) mkdirSync(join(dir, d));
  for (const v of versions) {
    const args = ['--name', `sx-${v}`, '--out', join(dir, 'src'), '--arch', arch];
    const mk = spawnSync(join(REPO, 'scripts/make-test-image'), args, {
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(mk.status, mk.stderr).toBe(0);
    const manifest = join(dir, 'src', `sx-${v}`, 'image.json');
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { linux: { cmdline: string } };
    m.linux.cmdline = `${m.linux.cmdline} statelesx.hold=1`; // keep the VM up for inspection
    if (cmdline[v]) m.linux.cmdline += ` ${cmdline[v]}`;
    writeFileSync(manifest, JSON.stringify(m, null, 2));
    const imp = spawnSync(
      process.execPath,
      [CLI, 'image', 'import', join(dir, 'src', `sx-${v}`), '--name', v, '--images-dir', join(dir, 'images')],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(imp.status, imp.stderr + imp.stdout).toBe(0);
  }
}

/** The host certificate of image version `v` (make-test-image's sx-V-host-ssl). */
export function hostCert(dir: string, v: string): { crt: string; key: string } {
  const ssl = join(dir, 'src', `sx-${v}-host-ssl`);
  return { crt: join(ssl, 'rui.crt'), key: join(ssl, 'rui.key') };
}

/** Adds the console/API admin `e2e-admin` with the run's admin password. */
export function addAdmin(ctx: E2eContext): void {
  const add = spawnSync(
    process.execPath,
    [CLI, 'user', 'add', 'e2e-admin', '--role', 'admin', '--data-dir', join(ctx.dir, 'data')],
    {
      input: ctx.secrets['E2E_ADMIN_PASSWORD']! + '\n',
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  expect(add.status, add.stderr).toBe(0);
}

/**
 * The e2e cluster file: HA/DRS/DPM, vSwitch1, two portgroups, vmk1, NTP; host A declared (image v1)
 * unless `withA` is false (no members: hosts join through the REST API).
 */
export function clusterXml(withA = true): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- e2e: one declared host; the second joins through the REST API. -->
<cluster xmlns="urn:statelesx:cluster:1" name="e2e-cluster">
  <datacenter>DC-E2E</datacenter>
  <vcenter>vc-e2e</vcenter>
  <credentials>esxi-root</credentials>
  <defaultImage>v1</defaultImage>

  <ha enabled="true" hostMonitoring="enabled" vmMonitoring="vmMonitoringDisabled"
      isolationResponse="none" restartPriority="medium">
    <admissionControl enabled="true">
      <hostFailuresTolerated>1</hostFailuresTolerated>
    </admissionControl>
  </ha>
  <drs enabled="true" automationLevel="fullyAutomated" migrationThreshold="2"/>
  <dpm enabled="true" automationLevel="manual" threshold="4"/>

  <network>
    <vswitch name="vSwitch1" mtu="9000" ports="128">
      <uplink>vmnic2</uplink>
      <uplink>vmnic3</uplink>
    </vswitch>
    <portgroup name="vMotion" vswitch="vSwitch1" vlan="20"/>
    <portgroup name="Storage" vswitch="vSwitch1" vlan="30"/>
    <vmknic device="vmk1" portgroup="vMotion" mtu="9000">
      <pool name="vmotion"/>
      <service>vmotion</service>
    </vmknic>
    <addressPool name="vmotion" start="10.20.0.10" end="10.20.0.20" netmask="255.255.255.0"/>
  </network>

  <ntp>
    <server>ntp1.e2e.example.com</server>
  </ntp>

  <members>${withA ? `\n    <host fqdn="${FQDN_A}" uuid="${UUID_A}" image="v1"/>` : ''}
  </members>
</cluster>
`;
}

/** The cluster file's settings, read back over SOAP, for the cluster and host `uuid`. */
export function assertConfigured(rb: ReadBack, uuid: string): void {
  expect(rb.cluster).toBe('e2e-cluster');
  const das = rb.config!.dasConfig;
  expect(das.enabled).toBe(true);
  expect(das.admissionControlPolicy.failoverLevel).toBe(1);
  expect(rb.config!.drsConfig).toMatchObject({ enabled: true, defaultVmBehavior: 'fullyAutomated', vmotionRate: 2 });
  expect(rb.config!.dpmConfigInfo).toMatchObject({
    enabled: true,
    defaultDpmBehavior: 'manual',
    hostPowerActionRate: 4,
  });
  const h = rb.hosts.find((x) => x.uuid === uuid);
  expect(h, `host ${uuid} in the cluster: ${JSON.stringify(rb.hosts.map((x) => x.uuid))}`).toBeDefined();
  const vs = h!.network.vswitch.find((v) => v.name === 'vSwitch1')!;
  expect(vs.mtu).toBe(9000);
  expect(vs.spec.bridge.nicDevice).toEqual(['vmnic2', 'vmnic3']);
  const pgs = Object.fromEntries(h!.network.portgroup.map((p) => [p.spec.name, p.spec.vlanId]));
  expect(pgs).toMatchObject({ vMotion: 20, Storage: 30 });
  const vmk = h!.network.vnic.find((v) => v.portgroup === 'vMotion')!;
  expect(vmk.spec.mtu).toBe(9000);
  expect(vmk.spec.ip.ipAddress).toMatch(/^10\.20\.0\.(1\d|20)$/);
  expect(h!.vnicServices['vmotion']).toContain(vmk.device);
  expect(h!.ntpServers).toEqual(['ntp1.e2e.example.com']);
}
