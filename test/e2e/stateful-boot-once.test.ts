/**
 * Boot-once for stateful installs on real firmware (issue 17 item 3), against ONE running
 * statelesx: the same VM (SeaBIOS + iPXE ROM, virtio NIC, and a small local disk second in its
 * boot order) is reset over QMP between boots (test/peers/pxe-boot-check --qmp).
 *
 * The cluster file makes host A stateful (`<boot mode="stateful"/>`). The synthetic test image's
 * stateful mode (scripts/make-test-image: `ks=` on its kernel line) plays the ESXi installer and
 * the installed host's first boot: it fetches `hosts/<uuid>/ks.cfg`, writes the boot command-line
 * file the kickstart's `%firstboot` writes and phones home with it (`stage=installed`, the token
 * issued with ks.cfg).
 *
 * The local disk holds a 512-byte boot sector that prints STATELESX-LOCAL-DISK-BOOT on COM1: the
 * proof of "boot from local disk" is what the firmware does — iPXE's `exit` returns to SeaBIOS,
 * which boots its next boot device, that disk — not only the script text.
 *
 *  1. first boot installs: the kernel line has `ks=`, %firstboot's phone-home says installed, the
 *     store records the install (migration 014), the boot event says `answer: install`;
 *  2. second boot of the same VM: the per-host iPXE script says local boot and `exit`s, SeaBIOS boots
 *     the disk; no kernel is loaded; the boot event says `answer: local-boot`;
 *  3. reinstall requested through the REST API: the next boot installs again (a new phone-home
 *     records a new install), and the boot after it is a local boot again.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import {
  Boot,
  MAC_A,
  UUID_A,
  addAdmin,
  clusterXml,
  endE2e,
  needE2ePrerequisites,
  newSecrets,
  prepareDir,
  type E2eContext,
} from '../helpers/e2e-boot.js';

const ctx: E2eContext = { dir: '', secrets: newSecrets() };
let boot: Boot;
const DISK_BANNER = 'STATELESX-LOCAL-DISK-BOOT';

/**
 * A 1 MiB raw disk whose MBR prints {@link DISK_BANNER} on COM1 (port 0x3f8) and halts:
 * cli; xor ax,ax; mov ds,ax; mov si,msg; mov dx,0x3f8; l: lodsb; test al,al; jz d; out dx,al;
 * jmp l; d: hlt; jmp d; msg (at 0x7c16).
 */
function localDisk(file: string): void {
  const code = [0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0xbe, 0x16, 0x7c, 0xba, 0xf8, 0x03];
  code.push(0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xf4, 0xeb, 0xfd);
  const disk = Buffer.alloc(1024 * 1024);
  Buffer.from(code).copy(disk, 0);
  Buffer.from(`\r\n${DISK_BANNER}\r\n\0`, 'latin1').copy(disk, code.length);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  writeFileSync(file, disk);
}

function db<T>(fn: (d: Database.Database) => T): T {
  const d = new Database(join(ctx.dir, 'data', 'statelesx.db'), { readonly: true, fileMustExist: true });
  try {
    return fn(d);
  } finally {
    d.close();
  }
}

function installedAt(): number | null {
  return db(
    (d) =>
      (d.prepare('SELECT installed_at FROM host_installs WHERE host_uuid = ?').pluck().get(UUID_A) as
        number | null | undefined) ?? null,
  );
}

/** The newest boot event of A for its per-host iPXE script: its `detail.answer`. */
function lastScriptAnswer(): string | undefined {
  const row = db(
    (d) =>
      d
        .prepare(`SELECT detail FROM boot_events WHERE host_uuid = ? AND file = ? ORDER BY id DESC LIMIT 1`)
        .get(UUID_A, `hosts/${UUID_A}.ipxe`) as { detail: string } | undefined,
  );
  return row ? ((JSON.parse(row.detail) as { answer?: string }).answer ?? undefined) : undefined;
}

/** One install boot from serial-log offset `from`: ks.cfg fetched, %firstboot's phone-home accepted. */
async function expectInstall(from: number, before: number | null): Promise<void> {
  const m = await boot.waitSerial(/STATELESX-BOOT-OK uuid=(\S+) image=(\S+) token=(\S+)/, 300_000, from);
  expect(m[1]!.toLowerCase()).toBe(UUID_A);
  const cmdline = await boot.waitSerial(/STATELESX-INITRD cmdline: ([^\r\n]*)/, 60_000, from);
  expect(cmdline[1]).toContain(`/boot/hosts/${UUID_A}/ks.cfg`);
  const fb = await boot.waitSerial(/STATELESX-FIRSTBOOT cmdline: ([^\r\n]*)/, 120_000, from);
  expect(fb[1]).toContain('env: STATELESX_STAGE=installed');
  expect(fb[1]).toContain(`statelesx.token=${m[3]}`);
  await boot.waitSerial(/STATELESX-INITIATOR exit=0/, 180_000, from);
  expect(boot.serial().slice(from)).not.toContain(DISK_BANNER);
  const at = installedAt();
  expect(at, 'host_installs.installed_at after the %firstboot phone-home').not.toBeNull();
  if (before !== null) expect(at!).toBeGreaterThan(before);
  expect(lastScriptAnswer()).toBe('install');
}

/** One local boot from serial-log offset `from`: iPXE exits, SeaBIOS boots the disk, no kernel. */
async function expectLocalBoot(from: number): Promise<void> {
  await boot.waitSerial(new RegExp(DISK_BANNER), 240_000, from);
  const log = boot.serial().slice(from);
  expect(log).toContain('statelesx: local boot');
  expect(log).not.toContain('STATELESX-BOOT-OK');
  expect(lastScriptAnswer()).toBe('local-boot');
}

async function reset(): Promise<number> {
  const from = boot.serial().length;
  await boot.reset();
  return from;
}

describe.sequential('end to end: stateful install happens once (boot-once), reinstall on request', () => {
  beforeAll(() => {
    needE2ePrerequisites();
    ctx.dir = mkdtempSync(join(tmpdir(), 'sx-e2e-once-'));
    prepareDir(ctx.dir, ['v1']);
    writeFileSync(
      join(ctx.dir, 'clusters', 'e2e-cluster.xml'),
      clusterXml().replace(
        '<defaultImage>v1</defaultImage>',
        '<defaultImage>v1</defaultImage>\n  <boot mode="stateful"/>',
      ),
    );
    addAdmin(ctx);
    localDisk(join(ctx.dir, 'src', 'local-disk.img'));
  }, 600_000);

  afterAll(async () => {
    await endE2e(ctx, [boot]);
  }, 120_000);

  it('first boot installs: ks.cfg on the kernel line, %firstboot phones home stage=installed', async () => {
    const disk = join(ctx.dir, 'src', 'local-disk.img');
    boot = new Boot(
      ctx,
      'a-stateful',
      [
        '--firmware',
        'bios',
        '--uuid',
        UUID_A,
        '--mac',
        MAC_A,
        '--qemu-arg',
        '-drive',
        '--qemu-arg',
        `file=${disk},format=raw,if=none,id=d0`,
        '--qemu-arg',
        '-device',
        '--qemu-arg',
        'ide-hd,drive=d0,bootindex=2',
        // The harness's default fail pattern without "No more network devices": iPXE prints it
        // when a script exits and it hands the boot back to SeaBIOS, which is this test's point.
        '--fail',
        'Kernel panic|No bootable device|No bootable option or device|PXE-E[0-9A-F]{2}',
      ],
      { qmp: join(ctx.dir, 'runs', 'a-stateful.qmp'), timeoutS: 3600 },
    );
    await expectInstall(0, null);
  }, 900_000);

  it('second boot of the same VM: local boot (iPXE exit, SeaBIOS boots its disk)', async () => {
    const st = boot.api('GET', `/api/v1/hosts/${UUID_A}/install`);
    expect(st.status).toBe(200);
    expect(st.body).toMatchObject({ stateful: true, nextBoot: 'local-boot', cluster: 'e2e-cluster' });
    await expectLocalBoot(await reset());
  }, 900_000);

  it('reinstall through the REST API: the next boot installs again, the one after boots locally', async () => {
    const before = installedAt();
    const r = boot.api('POST', `/api/v1/hosts/${UUID_A}/reinstall`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ nextBoot: 'install', installedAt: null, reinstallRequestedBy: 'e2e-admin' });
    expect(installedAt()).toBeNull();
    await expectInstall(await reset(), before);
    await expectLocalBoot(await reset());
  }, 1_200_000);
});
