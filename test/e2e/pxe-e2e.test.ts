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
 * Reboots of the same VM against the same running server and simulator (the stateless lifecycle)
 * are test/e2e/lifecycle-e2e.test.ts. Shared pieces: test/helpers/e2e-boot.ts.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import {
  Boot,
  FQDN_B,
  MAC_A,
  MAC_B,
  UUID_A,
  UUID_B,
  addAdmin,
  assertConfigured,
  clusterXml,
  jobDone as jobDoneIn,
  lastJob as lastJobIn,
  needE2ePrerequisites,
  newSecrets,
  prepareDir,
  type E2eContext,
  endE2e,
} from '../helpers/e2e-boot.js';

const ctx: E2eContext = { dir: '', secrets: newSecrets() };
const lastJob = (uuid: string) => lastJobIn(ctx.dir, uuid);
const jobDone = (uuid: string, afterId?: string) => jobDoneIn(ctx.dir, uuid, afterId);

describe.sequential('end to end: PXE boot → phone-home → vCenter cluster', () => {
  const boots: Boot[] = [];

  beforeAll(() => {
    needE2ePrerequisites();
    ctx.dir = mkdtempSync(join(tmpdir(), 'sx-e2e-'));
    // Two image versions of the synthetic QEMU-bootable image, imported like an admin would.
    prepareDir(ctx.dir, ['v1', 'v2']);
    writeFileSync(join(ctx.dir, 'clusters', 'e2e-cluster.xml'), clusterXml());
    addAdmin(ctx);
  }, 600_000);

  afterAll(async () => {
    await endE2e(ctx, boots);
  }, 120_000);

  it('A: a known BIOS host boots its pinned image, phones home with its token, and is joined and configured', async () => {
    const boot = new Boot(ctx, 'a-bios', ['--firmware', 'bios', '--uuid', UUID_A, '--mac', MAC_A]);
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
    const boot = new Boot(ctx, 'b-uefi', ['--firmware', 'uefi', '--uuid', UUID_B, '--mac', MAC_B]);
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
    expect(readFileSync(join(ctx.dir, 'clusters', 'e2e-cluster.xml'), 'utf8')).toContain(`fqdn="${FQDN_B}"`);
    // Rollback (scenario C): re-pin A to v2 through the API; it takes effect on A's next boot.
    const pin = boot.api('PUT', `/api/v1/boot-assignments/${UUID_A}`, { image: 'v2' });
    expect(pin.status, JSON.stringify(pin.body)).toBeLessThan(300);
    await boot.stop();
  }, 600_000);

  it("C: after the re-pin, host A's next boot gets the other image version", async () => {
    const before = lastJob(UUID_A)!.id;
    const boot = new Boot(ctx, 'a-bios-v2', ['--firmware', 'bios', '--uuid', UUID_A, '--mac', MAC_A], {
      env: { E2E_IPXE_FILE: 'pxelinux.0' },
    });
    boots.push(boot);
    const m = await boot.waitSerial(/STATELESX-BOOT-OK uuid=(\S+) image=(\S+) token=(\S+)/, 300_000);
    expect(m[2]).toBe('v2');
    await boot.waitSerial(/STATELESX-INITIATOR exit=0/, 120_000);
    const job = await jobDone(UUID_A, before);
    expect(job.state).toBe('succeeded');
    // pxelinux asked for its config by the wire-order UUID (option 97 bytes), and got A's.
    const wire = '2a4c0e8f-1d3b-5f4e-9a6b-7c8d9e0f1a2b';
    const db = new Database(join(ctx.dir, 'data', 'statelesx.db'), { readonly: true });
    // (pxelinux loaded by iPXE fetches through iPXE, so the protocol is http here; TFTP without iPXE.)
    const served = db
      .prepare("SELECT file, image FROM boot_events WHERE host_uuid = ? AND file LIKE 'pxelinux.cfg/%'")
      .all(UUID_A) as Array<{ file: string; image: string }>;
    db.close();
    expect(served).toContainEqual({ file: `pxelinux.cfg/${wire}`, image: 'v2' });
    await boot.stop();
  }, 600_000);
});
