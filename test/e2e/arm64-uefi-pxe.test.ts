/**
 * ARM64 network boot with real firmware, end to end (issue 17, part 2): qemu-system-aarch64's
 * `virt` machine with Debian's AAVMF (package qemu-efi-aarch64: EDK2 for arm64) and its own PXE
 * client on a virtio NIC (no option ROM: `romfile=`), statelesx in full DHCP mode. The firmware
 * asks with option 93 = 11 (ARM 64-bit UEFI) and gets `dhcp.boot-files.uefi-arm64` over TFTP:
 * Debian's signed GRUB network image `grubnetaa64.efi.signed` (package grub-efi-arm64-signed,
 * arm64; Debian 12's iPXE has no arm64 build), copied into tftp-root as an admin would —
 * `scripts/install-test-deps` extracts it into $STATELESX_CACHE/grub-arm64. GRUB reads the
 * rendered `grub/grub.cfg`, then `grub/hosts/<uuid>.cfg`, loads Debian's arm64 cloud kernel and the
 * test initrd (`make-test-image --arch arm64`) over TFTP; the initrd phones home and the host is
 * joined on the vCenter simulator, read back from the store and the simulator.
 *
 * Duration: TCG emulates every arm64 instruction on a loaded 2-core x86 machine. Measured
 * (2026-12-07, load average ~19 from 7 helpers): firmware to GRUB 20 s; the 27 MB kernel over
 * TFTP 80-150 s (GRUB 2.06 asks blksize 1024 and no windowsize: ~26,700 lock-step blocks); kernel
 * to phone-home 10 s: the phone-home at ~3 min after QEMU start, the whole file in 200 s with the
 * image build. The bounds (8 min to the boot line, 15 min for the file) leave room for a slower
 * machine.
 * Runs under the shared lock: `flock /tmp/statelesx-netns.lock npx vitest run <this file>`.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import {
  Boot,
  MAC_A,
  UUID_A,
  addAdmin,
  assertConfigured,
  clusterXml,
  endE2e,
  jobDone,
  need,
  needE2ePrerequisites,
  newSecrets,
  prepareDir,
  type E2eContext,
} from '../helpers/e2e-boot.js';

const CACHE = process.env['STATELESX_CACHE'] ?? '/var/tmp/statelesx-cache';
const LOADER = 'grubnetaa64.efi.signed';
const LOADER_SRC = join(CACHE, 'grub-arm64', LOADER);
const AAVMF = '/usr/share/AAVMF/AAVMF_CODE.fd';
const ctx: E2eContext = { dir: '', secrets: newSecrets() };

/** The JSON log lines (pino) of `statelesx serve` in the harness's server.log. */
function serverLog(outdir: string): Array<Record<string, unknown>> {
  return readFileSync(join(outdir, 'server.log'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Rows of the run's store (read-only). */
function query<T>(sql: string, ...args: unknown[]): T[] {
  const db = new Database(join(ctx.dir, 'data', 'statelesx.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...args) as T[];
  } finally {
    db.close();
  }
}

describe.sequential('ARM64: AAVMF native PXE → GRUB → arm64 kernel', () => {
  let boot: Boot | undefined;

  beforeAll(() => {
    needE2ePrerequisites();
    need(existsSync('/usr/bin/qemu-system-aarch64'), 'qemu-system-aarch64 (package qemu-system-arm) is missing');
    need(existsSync(AAVMF), `${AAVMF} (package qemu-efi-aarch64) is missing`);
    need(existsSync(LOADER_SRC), `${LOADER_SRC} (extracted from grub-efi-arm64-signed:arm64) is missing`);
    ctx.dir = mkdtempSync(join(tmpdir(), 'sx-e2e-arm64-'));
    prepareDir(ctx.dir, ['v1'], {}, 'arm64');
    copyFileSync(LOADER_SRC, join(ctx.dir, 'tftp', LOADER));
    writeFileSync(join(ctx.dir, 'clusters', 'e2e-cluster.xml'), clusterXml());
    addAdmin(ctx);
  }, 600_000);

  afterAll(async () => {
    await endE2e(ctx, [boot]);
  }, 120_000);

  it('arch 11 gets the arm64 loader, GRUB boots the pinned image, the host phones home and is joined', async () => {
    boot = new Boot(
      ctx,
      'arm64',
      ['--firmware', 'aavmf', '--nic', 'virtio-net-pci,romfile=', '--uuid', UUID_A, '--mac', MAC_A],
      { env: { E2E_ARM64_LOADER: LOADER }, timeoutS: 900 },
    );
    const m = await boot.waitSerial(/STATELESX-BOOT-OK uuid=(\S+) image=(\S+) token=(\S+)/, 480_000);
    expect(m[1]!.toLowerCase()).toBe(UUID_A);
    expect(m[2]).toBe('v1');
    expect(m[3]).not.toBe('-'); // a phone-home token on the kernel line: GRUB's per-host config
    expect((await boot.waitSerial(/STATELESX-ARCH (\S+)/, 30_000))[1]).toBe('aarch64'); // an arm64 kernel ran
    // Loaded by GRUB (it adds BOOT_IMAGE=). The initrd writes this line to /dev/console, not the serial
    // line its markers use, so it may arrive after them: wait for it rather than read a snapshot.
    await boot.waitSerial(/cmdline: BOOT_IMAGE=\/v1\/vmlinuz /, 30_000);
    await boot.waitSerial(/STATELESX-INITIATOR exit=0/, 180_000);
    const job = await jobDone(ctx.dir, UUID_A);
    expect(job, JSON.stringify(job)).toMatchObject({ state: 'succeeded' });
    assertConfigured(boot.readback(), UUID_A);

    // The store: the DHCP answer for arch 11, GRUB's per-host config by SMBIOS UUID, the phone-home.
    const events = query<{ protocol: string; file: string | null; firmware: string | null; host_uuid: string | null }>(
      'SELECT protocol, file, firmware, host_uuid FROM boot_events ORDER BY id',
    );
    expect(events.filter((e) => e.protocol === 'dhcp').map((e) => e.firmware)).toContain('uefi-arm64');
    expect(events).toContainEqual(
      expect.objectContaining({ protocol: 'tftp', file: `grub/hosts/${UUID_A}.cfg`, host_uuid: UUID_A }),
    );
    const homes = query<{ result: string }>('SELECT result FROM phone_homes WHERE host_uuid = ?', UUID_A);
    expect(homes.map((h) => h.result)).toContain('ok');

    // The firmware fetched the loader over TFTP whole (served byte for byte from tftp-root).
    const log = serverLog(boot.outdir);
    const size = statSync(LOADER_SRC).size;
    const starts = log.filter((l) => l['msg'] === 'transfer starting' && l['file'] === LOADER);
    expect(starts.length, `no TFTP transfer of ${LOADER} in server.log`).toBeGreaterThan(0);
    for (const s of starts) expect(s['size']).toBe(size);
    const ids = new Set(starts.map((s) => s['transfer']));
    const done = log.filter((l) => l['msg'] === 'transfer completed' && ids.has(l['transfer']));
    expect(done.length, `no completed TFTP transfer of ${LOADER}`).toBeGreaterThan(0);
  }, 900_000);
});
