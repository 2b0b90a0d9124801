/**
 * The stateless lifecycle on real firmware (issue 21): every reboot of a member rejoins and
 * reconverges, with no manual step, against ONE running statelesx and ONE running vCenter
 * simulator. One harness run (test/peers/pxe-boot-check --qmp) keeps the server namespace,
 * `statelesx serve`, its store and the simulator up while the same VM (SeaBIOS + iPXE ROM, its own
 * SMBIOS UUID and MAC) is reset over QMP and PXE-boots again.
 *
 * statelesx runs with every setting at its default except what the namespace needs (netns-server.sh
 * with E2E_ENGINE_DEFAULTS=1): notably the default `engine.thumbprint-policy` (phone-home: the
 * thumbprint comes from the host's own phone-home) and `engine.esxi-sdk-url` pointed at the
 * simulator's ESXi SDK (no DNS for the FQDN in the namespace; TLS SNI is still the FQDN).
 *
 * The host certificate, modelled honestly for a VM that cannot give the simulator a key it made
 * at boot: scripts/make-test-image makes one self-signed certificate per image version, into the
 * initrd's /etc/vmware/ssl/rui.crt (key kept beside the image). The VM's initiator.sh phones home
 * its SHA-256/SHA-1 thumbprints; the test (re)boots the simulated host with the same certificate +
 * key (the simulator's boot/reboot hook with a PEM body), so the simulator presents and checks that
 * very certificate, with a blank root password as a fresh stateless boot has. Consequence: a reboot
 * on the same image keeps the thumbprint, a rollback to another image changes it. A new thumbprint
 * at every boot of one image is covered by the engine's simulator integration tests.
 *
 *  1. first boot: host A (declared, image v1) PXE-boots, phones home with token and thumbprint;
 *     statelesx sets the configured root password through the host's own SDK (the fresh boot's is
 *     blank), adds it with the phoned-home thumbprint and converges it: cluster and host networking
 *     read back over SOAP equal the cluster file.
 *  2. three reboots in a row: the simulator reboots A (new boot: notResponding, configuration back
 *     to the image's defaults, blank password) and the VM is reset; it PXE-boots again, phones home,
 *     statelesx reconnects and reconverges it: connected, in its cluster, networking equal to the
 *     file, the configured password set again. No manual step.
 *  3. rollback: A re-pinned to v2 through the REST API, rebooted: the kernel line and the initrd
 *     say v2, and A rejoins with the v2 certificate's thumbprint.
 *  4. a host still in its firmware (issue 21 item 6), its own store and harness run: unknown host B
 *     boots an image whose init waits 60 s before phoning home (statelesx.initiator-delay); while
 *     only PXE has seen it, it is listed as unregistered (PXE only) and joined through the REST API; the join's
 *     job ends held ("waiting for phone home") and vCenter gets no AddHost_Task for it; once it
 *     phones home it is added and converged.
 *     The unregistered entry says `currentBoot: "pxe-only"`, the join's answer `waitsForPhoneHome`.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import {
  Boot,
  FQDN_A,
  FQDN_B,
  MAC_A,
  MAC_B,
  UUID_A,
  UUID_B,
  addAdmin,
  assertConfigured,
  clusterXml,
  hostCert,
  jobDone,
  lastJob,
  needE2ePrerequisites,
  newSecrets,
  prepareDir,
  type E2eContext,
  type ReadBack,
  endE2e,
} from '../helpers/e2e-boot.js';
import { waitFor } from '../helpers/wait.js';

const ctx: E2eContext = { dir: '', secrets: newSecrets() };
/** Per image version: certificate + key file for the simulator, and the certificate's thumbprints. */
const certs: Record<string, { pemFile: string; sha256: string; sha1: string }> = {};
let boot: Boot;

/** What statelesx recorded of A's current boot (src/store/hostboots.ts, migration 011). */
function hostBoot(): { thumbprint: string | null; thumbprint_sha1: string | null; joined_thumbprint: string | null } {
  const db = new Database(join(ctx.dir, 'data', 'statelesx.db'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare('SELECT thumbprint, thumbprint_sha1, joined_thumbprint FROM host_boots WHERE host_uuid = ?')
      .get(UUID_A) as { thumbprint: string | null; thumbprint_sha1: string | null; joined_thumbprint: string | null };
  } finally {
    db.close();
  }
}

function hostA(rb: ReadBack): ReadBack['hosts'][number] {
  const h = rb.hosts.find((x) => x.uuid === UUID_A);
  expect(h, `host A in the cluster: ${JSON.stringify(rb.hosts.map((x) => x.uuid))}`).toBeDefined();
  return h!;
}

/**
 * After A's boot of image `v` (serial log from `from`): the console shows that image and a
 * successful phone-home; the job after `afterJob` succeeds; vCenter shows A connected, out of
 * maintenance mode and configured as the file says; statelesx recorded the v certificate's
 * thumbprints for this boot and vCenter accepted one of them; the host's own SDK presents that
 * certificate and takes the configured root password (statelesx set it on the fresh boot).
 */
async function expectConverged(v: string, from: number, afterJob?: string): Promise<void> {
  const m = await boot.waitSerial(/STATELESX-BOOT-OK uuid=(\S+) image=(\S+) token=(\S+)/, 300_000, from);
  expect(m[1]!.toLowerCase()).toBe(UUID_A);
  expect(m[2]).toBe(v);
  expect(m[3]).toMatch(/^[A-Za-z0-9_-]{22}$/);
  const cmdline = await boot.waitSerial(/STATELESX-INITRD cmdline: ([^\r\n]*)/, 60_000, from);
  expect(cmdline[1]).toContain(`statelesx.image=${v}`);
  expect(cmdline[1]).toContain(`statelesx.token=${m[3]}`);
  await boot.waitSerial(/STATELESX-INITIATOR exit=0/, 180_000, from);
  const job = await jobDone(ctx.dir, UUID_A, afterJob, 240_000);
  expect(job, JSON.stringify(job)).toMatchObject({ state: 'succeeded' });
  const rb = boot.readback();
  assertConfigured(rb, UUID_A);
  const h = hostA(rb);
  expect(h.name).toBe(FQDN_A);
  expect(h.connectionState).toBe('connected');
  expect(h.inMaintenanceMode).toBe(false);
  const rec = hostBoot();
  expect(rec, 'host_boots row of A').toBeDefined();
  expect(rec.thumbprint).toBe(certs[v]!.sha256);
  expect(rec.thumbprint_sha1).toBe(certs[v]!.sha1);
  expect([certs[v]!.sha256, certs[v]!.sha1]).toContain(rec.joined_thumbprint);
  const esx = boot.esxLogin(FQDN_A, 'E2E_ESXI_PASSWORD');
  expect(esx).toMatchObject({ status: 200, fault: null, sha256: certs[v]!.sha256 });
}

/** The simulator reboots A with image v's certificate, then the VM is reset; returns the log mark. */
async function reboot(v: string): Promise<number> {
  const from = boot.serial().length;
  const tp = boot.simBoot('reboot', FQDN_A, certs[v]!.pemFile);
  expect(tp).toEqual({ thumbprint: certs[v]!.sha1, sha256: certs[v]!.sha256 });
  // vCenter's view of a stateless reboot, before the VM comes back: not responding, and the
  // host's configuration back to the image's defaults (so a later match is statelesx's work).
  const h = hostA(boot.readback());
  expect(h.connectionState).toBe('notResponding');
  expect(h.network.vswitch.map((s) => s.name)).toEqual(['vSwitch0']);
  expect(h.network.vnic.map((n) => n.device)).toEqual(['vmk0']);
  expect(boot.esxLogin(FQDN_A, 'E2E_ESXI_PASSWORD').fault).toBe('InvalidLogin'); // blank again
  await boot.reset();
  return from;
}

describe.sequential('end to end: stateless lifecycle (reboot, rollback) on one running server', () => {
  beforeAll(() => {
    needE2ePrerequisites();
    ctx.dir = mkdtempSync(join(tmpdir(), 'sx-e2e-life-'));
    prepareDir(ctx.dir, ['v1', 'v2']);
    for (const v of ['v1', 'v2']) {
      const { crt, key } = hostCert(ctx.dir, v);
      const pemFile = join(ctx.dir, 'src', `sx-${v}-host.pem`);
      writeFileSync(pemFile, readFileSync(crt, 'utf8') + readFileSync(key, 'utf8'), { mode: 0o600 });
      const x = new X509Certificate(readFileSync(crt));
      certs[v] = { pemFile, sha256: x.fingerprint256.toUpperCase(), sha1: x.fingerprint.toUpperCase() };
    }
    expect(certs['v1']!.sha256).not.toBe(certs['v2']!.sha256);
    writeFileSync(join(ctx.dir, 'clusters', 'e2e-cluster.xml'), clusterXml());
    addAdmin(ctx);
  }, 600_000);

  afterAll(async () => {
    await endE2e(ctx, [boot]);
  }, 120_000);

  it('first boot: A phones home its thumbprint; password set on the host, added, converged', async () => {
    boot = new Boot(ctx, 'a-lifecycle', ['--firmware', 'bios', '--uuid', UUID_A, '--mac', MAC_A], {
      qmp: join(ctx.dir, 'runs', 'a-lifecycle.qmp'),
      timeoutS: 3600,
      env: {
        E2E_ENGINE_DEFAULTS: '1',
        // the simulated host's first boot: the v1 image's certificate, a blank root password
        E2E_BOOT_HOSTS: `${FQDN_A}=${certs['v1']!.pemFile}`,
      },
    });
    await expectConverged('v1', 0);
  }, 900_000);

  for (const n of [1, 2, 3]) {
    it(`reboot ${n} of 3: same VM PXE-boots again, phones home, is reconnected and reconverged`, async () => {
      const before = lastJob(ctx.dir, UUID_A)!.id;
      const from = await reboot('v1');
      await expectConverged('v1', from, before);
    }, 900_000);
  }

  it('rollback: re-pinned to v2 through the REST API, a reboot boots v2 and rejoins with its thumbprint', async () => {
    const pin = boot.api('PUT', `/api/v1/boot-assignments/${UUID_A}`, { image: 'v2' });
    expect(pin.status, JSON.stringify(pin.body)).toBeLessThan(300);
    const before = lastJob(ctx.dir, UUID_A)!.id;
    const from = await reboot('v2');
    await expectConverged('v2', from, before);
  }, 900_000);
});

describe.sequential('end to end: a host still in its firmware is added only after it phones home', () => {
  const ctxB: E2eContext = { dir: '', secrets: newSecrets() };
  let bootB: Boot | undefined;
  beforeAll(() => {
    needE2ePrerequisites();
    ctxB.dir = mkdtempSync(join(tmpdir(), 'sx-e2e-fw-'));
    prepareDir(ctxB.dir, ['v1'], { v1: 'statelesx.initiator-delay=60' });
    const { crt, key } = hostCert(ctxB.dir, 'v1');
    writeFileSync(join(ctxB.dir, 'src', 'b.pem'), readFileSync(crt, 'utf8') + readFileSync(key, 'utf8'));
    writeFileSync(join(ctxB.dir, 'clusters', 'e2e-cluster.xml'), clusterXml(false));
    addAdmin(ctxB);
  }, 600_000);
  afterAll(async () => {
    await endE2e(ctxB, [bootB]);
  }, 120_000);

  it('B: listed and joined while only PXE has seen it; AddHost_Task waits for its phone-home', async () => {
    const b = new Boot(ctxB, 'b-firmware', ['--firmware', 'bios', '--uuid', UUID_B, '--mac', MAC_B], {
      env: { E2E_ENGINE_DEFAULTS: '1', E2E_BOOT_HOSTS: `${FQDN_B}=${join(ctxB.dir, 'src', 'b.pem')}` },
    });
    bootB = b;
    await b.started();
    const phonedHome = () => /STATELESX-INITIATOR start/.test(b.serial());
    const listed = await waitFor(
      'B in the unregistered list',
      () => {
        if (b.proc.exitCode !== null) throw new Error(`harness exited (${b.proc.exitCode})`);
        let r: { status: number; body: unknown };
        try {
          r = b.api('GET', '/api/v1/unregistered');
        } catch {
          return undefined; // the HTTP listener may come up after the DHCP/TFTP ports the harness waits for
        }
        return r.status === 200 && JSON.stringify(r.body).includes(UUID_B) ? r : undefined;
      },
      240_000,
      500,
    );
    expect(listed.status).toBe(200);
    expect(phonedHome(), 'B was listed before it phoned home (PXE sighting)').toBe(false);
    // the entry says B was only seen by PXE on its current boot
    const entry = (listed.body as Array<{ uuid: string; currentBoot?: string }>).find((h) => h.uuid === UUID_B);
    expect(entry, JSON.stringify(listed.body)).toMatchObject({ currentBoot: 'pxe-only' });
    const joined = b.api('POST', `/api/v1/unregistered/${UUID_B}/join`, { cluster: 'e2e-cluster', fqdn: FQDN_B });
    expect(joined.status, JSON.stringify(joined.body)).toBeLessThan(300);
    // ... and the join says its job waits for the phone-home
    expect(joined.body, JSON.stringify(joined.body)).toMatchObject({ waitsForPhoneHome: true });
    expect(phonedHome(), 'the join ran before B phoned home').toBe(false);
    // the join's job ends visibly held while B is still booting (engine: state blocked, "waiting
    // for phone home"), and B is not in vCenter: no AddHost_Task for a host in its firmware
    const held = await waitFor(
      'the join job of B to settle',
      () => {
        const j = lastJob(ctxB.dir, UUID_B);
        return j && j.state !== 'queued' && j.state !== 'running' ? j : undefined;
      },
      30_000,
      500,
    );
    expect(held.state, JSON.stringify(held)).toBe('blocked');
    expect(held.error).toMatch(/waiting for phone.home/i);
    const early = b.readback();
    const stillBooting = !phonedHome();
    expect(stillBooting, 'the check ran before B phoned home (statelesx.initiator-delay too short?)').toBe(true);
    expect(early.hosts.map((h) => h.uuid)).not.toContain(UUID_B);
    // ESXi is up: B phones home and is added and converged
    await b.waitSerial(/STATELESX-INITIATOR exit=0/, 300_000);
    const rb = await waitFor(
      'B connected and configured in vCenter',
      () => {
        const r = b.readback();
        return r.hosts.some((h) => h.uuid === UUID_B && h.connectionState === 'connected') ? r : undefined;
      },
      240_000,
      1000,
    );
    assertConfigured(rb, UUID_B);
    const job = await jobDone(ctxB.dir, UUID_B, held.id, 240_000);
    expect(job, JSON.stringify(job)).toMatchObject({ state: 'succeeded' });
  }, 900_000);
});
