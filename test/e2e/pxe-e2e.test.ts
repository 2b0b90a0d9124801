/**
 * The main job, end to end, on real peers:
 *   QEMU (SeaBIOS + iPXE ROM, and OVMF + iPXE EFI) ──DHCP/TFTP/HTTP──► `statelesx serve` ──SOAP──► vCenter simulator
 * in private network namespaces made by test/peers/pxe-boot-check (server side: our
 * test/e2e/netns-server.sh, which also starts the simulator in strict mode on that namespace's
 * loopback). The VM's initrd (scripts/make-test-image) phones home with scripts/initiator.sh and
 * the per-boot token from its kernel line, prints markers on the serial console, then holds.
 *
 *  A. known host (BIOS): declared in the cluster file by SMBIOS UUID → boots image v1 → phones
 *     home with its token → joined and configured; cluster HA/DRS/DPM, vSwitch, portgroups,
 *     VMkernel NIC and services read back over SOAP.
 *  B. unknown host (UEFI): boots the default image, lands in unregistered hosts, is joined through
 *     the REST API, and the job succeeds (read back over SOAP).
 *  C. rollback: host A is re-pinned to v2 through the REST API; its next boot gets v2. This boot
 *     takes the classic BIOS path: the iPXE ROM is handed pxelinux.0, which reads the rendered
 *     pxelinux.cfg/<UUID in wire byte order> and loads the kernel over TFTP.
 *
 * Each boot starts a fresh simulator (the harness's namespaces die with it); the store persists.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import { waitFor } from '../helpers/wait.js';

const REPO = resolve(import.meta.dirname, '../..');
const HARNESS = resolve(REPO, 'test/peers/pxe-boot-check/pxe-boot-check');
const CLI = join(REPO, 'dist/cli/main.js');
const UUID_A = '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b';
const UUID_B = '3d9c1a77-5e2f-4b60-8c1d-2e3f4a5b6c7d';
const MAC_A = '52:54:00:12:34:56';
const MAC_B = '52:54:00:ab:cd:02';
const FQDN_A = 'esx-a.e2e.example.com';
const FQDN_B = 'esx-b.e2e.example.com';
const ENV = {
  E2E_VC_PASSWORD: 'vc-' + Math.random().toString(36).slice(2),
  E2E_ESXI_PASSWORD: 'esx-' + Math.random().toString(36).slice(2),
  E2E_ADMIN_PASSWORD: 'admin-' + Math.random().toString(36).slice(2),
};

let dir: string;

function need(cond: boolean, what: string): void {
  if (!cond) throw new Error(`${what}: run scripts/install-test-deps (as root) first`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One harness run: a VM booting through our server; stop() tears both namespaces down. */
class Boot {
  readonly proc: ChildProcess;
  readonly outdir: string;
  private output = '';
  private exited: Promise<number | null>;
  constructor(name: string, args: string[], env: Record<string, string> = {}) {
    this.outdir = join(dir, 'runs', name);
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
        '600',
        '--outdir',
        this.outdir,
        ...args,
      ],
      {
        env: {
          ...process.env,
          ...ENV,
          ...env,
          E2E_DIR: dir,
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
  serial(): string {
    try {
      return readFileSync(join(this.outdir, 'serial.log'), 'latin1');
    } catch {
      return '';
    }
  }
  /** Waits for a serial-console regex; fails early with the harness output when it exits. */
  async waitSerial(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return waitFor(
      `${re} on the VM console`,
      () => {
        if (this.proc.exitCode !== null)
          throw new Error(`harness exited (${this.proc.exitCode}) before ${re}:\n${this.output.slice(-3000)}`);
        return this.serial().match(re) ?? undefined;
      },
      timeoutMs,
      500,
    );
  }
  /** Runs test/e2e/netns-tool.ts inside the server namespace; returns its JSON. */
  tool(args: string[]): unknown {
    const out = execFileSync(
      'ip',
      ['netns', 'exec', this.netns, process.execPath, '--import', 'tsx', join(REPO, 'test/e2e/netns-tool.ts'), ...args],
      {
        cwd: REPO,
        encoding: 'utf8',
        env: { ...process.env, ...ENV },
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
  async stop(): Promise<void> {
    if (this.proc.exitCode === null) this.proc.kill('SIGTERM');
    await Promise.race([this.exited, sleep(20_000)]);
  }
}

/** The parts of the SOAP read-back (src/vsphere/read.ts shapes) this test checks. */
interface ReadBack {
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
    vnicServices: Record<string, string[]>;
    ntpServers: string[];
    network: {
      vswitch: Array<{ name: string; mtu: number; spec: { bridge: { nicDevice: string[] } } }>;
      portgroup: Array<{ spec: { name: string; vlanId: number } }>;
      vnic: Array<{ device: string; portgroup: string; spec: { mtu: number; ip: { ipAddress: string } } }>;
    };
  }>;
}

function lastJob(uuid: string): { id: string; state: string; error: string | null } | undefined {
  const db = new Database(join(dir, 'data', 'statelesx.db'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare('SELECT id, state, error FROM jobs WHERE target = ? ORDER BY created_at DESC LIMIT 1')
      .get(uuid) as { id: string; state: string; error: string | null } | undefined;
  } finally {
    db.close();
  }
}

async function jobDone(uuid: string, afterId?: string): Promise<{ id: string; state: string; error: string | null }> {
  return waitFor(
    `the configure job of ${uuid} to finish`,
    () => {
      const j = lastJob(uuid);
      return j && j.id !== afterId && (j.state === 'succeeded' || j.state === 'failed') ? j : undefined;
    },
    120_000,
    500,
  );
}

function clusterXml(): string {
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

  <members>
    <host fqdn="${FQDN_A}" uuid="${UUID_A}" image="v1"/>
  </members>
</cluster>
`;
}

function assertConfigured(rb: ReadBack, uuid: string): void {
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

describe.sequential('end to end: PXE boot → phone-home → vCenter cluster', () => {
  const boots: Boot[] = [];

  beforeAll(() => {
    need(process.getuid?.() === 0, 'the end-to-end test needs root (network namespaces, tap)');
    need(existsSync(HARNESS), `${HARNESS} is missing`);
    need(existsSync('/usr/bin/qemu-system-x86_64'), 'qemu-system-x86_64 is missing');
    need(existsSync(CLI), `${CLI} is missing (npm run build)`);
    dir = mkdtempSync(join(tmpdir(), 'sx-e2e-'));
    for (const d of ['data', 'images', 'tftp', 'clusters', 'pxelinux.cfg', 'runs', 'src']) mkdirSync(join(dir, d));
    // Two image versions of the synthetic QEMU-bootable image, imported like an admin would.
    for (const v of ['v1', 'v2']) {
      const mk = spawnSync(join(REPO, 'scripts/make-test-image'), ['--name', `sx-${v}`, '--out', join(dir, 'src')], {
        encoding: 'utf8',
        timeout: 300_000,
      });
      expect(mk.status, mk.stderr).toBe(0);
      const manifest = join(dir, 'src', `sx-${v}`, 'image.json');
      const m = JSON.parse(readFileSync(manifest, 'utf8')) as { linux: { cmdline: string } };
      m.linux.cmdline = `${m.linux.cmdline} statelesx.hold=1`; // keep the VM up for inspection
      writeFileSync(manifest, JSON.stringify(m, null, 2));
      const imp = spawnSync(
        process.execPath,
        [CLI, 'image', 'import', join(dir, 'src', `sx-${v}`), '--name', v, '--images-dir', join(dir, 'images')],
        { encoding: 'utf8', timeout: 120_000 },
      );
      expect(imp.status, imp.stderr + imp.stdout).toBe(0);
    }
    writeFileSync(join(dir, 'clusters', 'e2e-cluster.xml'), clusterXml());
    const add = spawnSync(
      process.execPath,
      [CLI, 'user', 'add', 'e2e-admin', '--role', 'admin', '--data-dir', join(dir, 'data')],
      {
        input: ENV.E2E_ADMIN_PASSWORD + '\n',
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(add.status, add.stderr).toBe(0);
  }, 600_000);

  afterAll(async () => {
    for (const b of boots) await b.stop();
    if (dir && process.env['E2E_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('A: a known BIOS host boots its pinned image, phones home with its token, and is joined and configured', async () => {
    const boot = new Boot('a-bios', ['--firmware', 'bios', '--uuid', UUID_A, '--mac', MAC_A]);
    boots.push(boot);
    const m = await boot.waitSerial(/STATELESX-BOOT-OK uuid=(\S+) image=(\S+) token=(\S+)/, 300_000);
    expect(m[1]!.toLowerCase()).toBe(UUID_A);
    expect(m[2]).toBe('v1');
    expect(m[3]).toMatch(/^[A-Za-z0-9_-]{22}$/); // the per-boot token, 128 bits base64url
    await boot.waitSerial(/STATELESX-INITIATOR exit=0/, 120_000);
    const job = await jobDone(UUID_A);
    expect(job, JSON.stringify(job)).toMatchObject({ state: 'succeeded' });
    assertConfigured(boot.readback(), UUID_A);
    await boot.stop();
  }, 600_000);

  it('B: an unknown UEFI host lands in unregistered hosts and is joined through the REST API', async () => {
    const boot = new Boot('b-uefi', ['--firmware', 'uefi', '--uuid', UUID_B, '--mac', MAC_B]);
    boots.push(boot);
    const m = await boot.waitSerial(/STATELESX-BOOT-OK uuid=(\S+) image=(\S+)/, 300_000);
    expect(m[1]!.toLowerCase()).toBe(UUID_B);
    expect(m[2]).toBe('v1'); // the default image
    await boot.waitSerial(/STATELESX-INITIATOR exit=0/, 120_000);
    const unregistered = boot.api('GET', '/api/v1/unregistered');
    expect(unregistered.status).toBe(200);
    expect(JSON.stringify(unregistered.body)).toContain(UUID_B);
    const joined = boot.api('POST', `/api/v1/unregistered/${UUID_B}/join`, { cluster: 'e2e-cluster', fqdn: FQDN_B });
    expect(joined.status, JSON.stringify(joined.body)).toBeLessThan(300);
    const job = await jobDone(UUID_B);
    expect(job, JSON.stringify(job)).toMatchObject({ state: 'succeeded' });
    assertConfigured(boot.readback(), UUID_B);
    // The cluster file now declares B, and still validates.
    expect(readFileSync(join(dir, 'clusters', 'e2e-cluster.xml'), 'utf8')).toContain(`fqdn="${FQDN_B}"`);
    // Rollback (scenario C): re-pin A to v2 through the API; it takes effect on A's next boot.
    const pin = boot.api('PUT', `/api/v1/boot-assignments/${UUID_A}`, { image: 'v2' });
    expect(pin.status, JSON.stringify(pin.body)).toBeLessThan(300);
    await boot.stop();
  }, 600_000);

  it("C: after the re-pin, host A's next boot gets the other image version", async () => {
    const before = lastJob(UUID_A)!.id;
    const boot = new Boot('a-bios-v2', ['--firmware', 'bios', '--uuid', UUID_A, '--mac', MAC_A], {
      E2E_IPXE_FILE: 'pxelinux.0',
    });
    boots.push(boot);
    const m = await boot.waitSerial(/STATELESX-BOOT-OK uuid=(\S+) image=(\S+) token=(\S+)/, 300_000);
    expect(m[2]).toBe('v2');
    await boot.waitSerial(/STATELESX-INITIATOR exit=0/, 120_000);
    const job = await jobDone(UUID_A, before);
    expect(job.state).toBe('succeeded');
    // pxelinux asked for its config by the wire-order UUID (option 97 bytes), and got A's.
    const wire = '2a4c0e8f-1d3b-5f4e-9a6b-7c8d9e0f1a2b';
    const db = new Database(join(dir, 'data', 'statelesx.db'), { readonly: true });
    // (pxelinux loaded by iPXE fetches through iPXE, so the protocol is http here; TFTP without iPXE.)
    const served = db
      .prepare("SELECT file, image FROM boot_events WHERE host_uuid = ? AND file LIKE 'pxelinux.cfg/%'")
      .all(UUID_A) as Array<{ file: string; image: string }>;
    db.close();
    expect(served).toContainEqual({ file: `pxelinux.cfg/${wire}`, image: 'v2' });
    await boot.stop();
  }, 600_000);
});
