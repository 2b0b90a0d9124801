/**
 * A newcomer's UEFI boot, end to end (issue 17, part 0): OVMF's own EDK2 PXE client (virtio NIC
 * with no iPXE option ROM: `romfile=`), statelesx in full DHCP mode with every boot setting at
 * its default (no `dhcp.boot-files`, no `boot:` section, no `loader-dirs`: netns-server.sh
 * `E2E_BOOT_DEFAULTS=1`) and NOTHING copied into `tftp-root`. The firmware gets the default
 * `ipxe.efi` over TFTP from Debian's `/usr/lib/ipxe`, where it is a symlink to `/boot/ipxe.efi`;
 * iPXE then fetches its script over HTTP, boots the pinned test image, and the initrd phones
 * home; the host (declared in the cluster file) is joined on the simulator.
 *
 * Before the loader-dirs fix this stopped at `PXE-E23` (the server refused the symlink).
 * Runs under the shared lock: `flock /tmp/statelesx-netns.lock npx vitest run <this file>`.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  Boot,
  MAC_A,
  UUID_A,
  addAdmin,
  assertConfigured,
  clusterXml,
  jobDone,
  need,
  needE2ePrerequisites,
  newSecrets,
  prepareDir,
  type E2eContext,
  endE2e,
} from '../helpers/e2e-boot.js';

const DEBIAN_IPXE_EFI = '/usr/lib/ipxe/ipxe.efi';
const ctx: E2eContext = { dir: '', secrets: newSecrets() };

/** The JSON log lines (pino) of `statelesx serve` in the harness's server.log. */
function serverLog(outdir: string): Array<Record<string, unknown>> {
  return readFileSync(join(outdir, 'server.log'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe.sequential('UEFI native PXE on the default configuration', () => {
  let boot: Boot | undefined;

  beforeAll(() => {
    needE2ePrerequisites();
    need(existsSync(DEBIAN_IPXE_EFI), `${DEBIAN_IPXE_EFI} (package ipxe) is missing`);
    ctx.dir = mkdtempSync(join(tmpdir(), 'sx-e2e-uefi-'));
    prepareDir(ctx.dir, ['v1']);
    writeFileSync(join(ctx.dir, 'clusters', 'e2e-cluster.xml'), clusterXml());
    addAdmin(ctx);
  }, 600_000);

  afterAll(async () => {
    await endE2e(ctx, [boot]);
  }, 120_000);

  it('OVMF without an iPXE ROM gets ipxe.efi from the loader dirs, boots, phones home and is joined', async () => {
    expect(readdirSync(join(ctx.dir, 'tftp'))).toEqual([]); // nothing copied
    boot = new Boot(
      ctx,
      'uefi-native',
      ['--firmware', 'uefi', '--nic', 'virtio-net-pci,romfile=', '--uuid', UUID_A, '--mac', MAC_A],
      { env: { E2E_BOOT_DEFAULTS: '1' } },
    );
    const m = await boot.waitSerial(/STATELESX-BOOT-OK uuid=(\S+) image=(\S+) token=(\S+)/, 420_000);
    expect(m[1]!.toLowerCase()).toBe(UUID_A);
    expect(m[2]).toBe('v1'); // the cluster's defaultImage: no boot.default-image is configured
    await boot.waitSerial(/STATELESX-INITIATOR exit=0/, 120_000);
    const job = await jobDone(ctx.dir, UUID_A);
    expect(job, JSON.stringify(job)).toMatchObject({ state: 'succeeded' });
    assertConfigured(boot.readback(), UUID_A);

    // The firmware itself fetched the default UEFI loader over TFTP, whole, through the symlink.
    const log = serverLog(boot.outdir);
    // (EDK2 first asks with tsize and aborts after the OACK, then reads the file.)
    const starts = log.filter((l) => l['msg'] === 'transfer starting' && l['file'] === 'ipxe.efi');
    expect(starts.length, 'no TFTP transfer of ipxe.efi in server.log').toBeGreaterThan(0);
    for (const s of starts) expect(s['size']).toBe(statSync(DEBIAN_IPXE_EFI).size);
    const ids = new Set(starts.map((s) => s['transfer']));
    const done = log.filter((l) => l['msg'] === 'transfer completed' && ids.has(l['transfer']));
    // completed = the last block ACKed; `bytes` counts DATA payload sent, retransmissions included
    expect(done.length, 'no completed TFTP transfer of ipxe.efi').toBeGreaterThan(0);
    for (const d of done) expect(d['bytes']).toBeGreaterThanOrEqual(statSync(DEBIAN_IPXE_EFI).size);
    expect(readdirSync(join(ctx.dir, 'tftp'))).toEqual([]);
  }, 900_000);
});
