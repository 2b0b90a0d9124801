/**
 * UEFI HTTP boot with real firmware (issue 17, part 1): Debian's OVMF (package `ovmf`) boots by its
 * own HTTP boot client (EDK2 HttpBootDxe: DHCP option 60 `HTTPClient:Arch:00016`, option 93 = 16)
 * through statelesx, with every boot setting at its default (netns-server.sh `E2E_BOOT_DEFAULTS=1`:
 * no `dhcp.boot-files`, no `boot:` section, no loader dirs, nothing copied into `tftp-root`).
 *
 * The harness's `--http-boot` turns OVMF's PXE and IPv6 off by fw_cfg (what a server's setup
 * screen calls "network boot protocol: HTTP"), so the NIC's first boot option is "UEFI HTTPv4";
 * `>>Start HTTP Boot over IPv4.` on the console is the firmware's own client at work (that line
 * is the evidence that Debian's OVMF_CODE_4M.fd carries HttpBootDxe: its volumes are compressed,
 * so `strings` finds nothing).
 *
 * The chain, all over HTTP: firmware DHCP → our reply (option 60 `HTTPClient`, boot file URL
 * `http://10.99.0.x/boot/ipxe.efi` on the boot listener, `boot-http.port` 80) → HTTP HEAD + GET
 * of Debian's ipxe.efi → iPXE DHCP → boot.ipxe → per-host script → test image kernel + initrd →
 * phone-home.
 * - full: statelesx is the DHCP server; the host is joined on the simulator.
 * - proxy: dnsmasq hands out the address (no boot options), statelesx in proxy mode beside it
 *   gives only the boot URL; the phone-home is read back in the store. Before the server-id fix
 *   (src/net/interfaces.ts) our proxy took dnsmasq's address as its option 54, ACKed the
 *   firmware's DHCPREQUEST to dnsmasq without an address, and the firmware DECLINEd.
 * Each boot takes ~2-4 minutes under TCG on a loaded 2-core machine.
 * Runs under the shared lock: `flock /tmp/statelesx-netns.lock npx vitest run <this file>`.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  Boot,
  MAC_A,
  REPO,
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
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';

const DEBIAN_IPXE_EFI = '/usr/lib/ipxe/ipxe.efi';
const PCAP_SUMMARY = join(REPO, 'test/peers/pxe-boot-check/pxe-pcap-summary');
const ctx: E2eContext = { dir: '', secrets: newSecrets() };

/** The JSON log lines (pino) of `statelesx serve` in the harness's server.log. */
function serverLog(outdir: string): Array<Record<string, unknown>> {
  return readFileSync(join(outdir, 'server.log'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The store's accepted phone-homes of host `uuid` (table phone_homes, result ok). */
function phoneHomesOk(dir: string, uuid: string): number {
  const db = new Database(join(dir, 'data', 'statelesx.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare("SELECT count(*) AS n FROM phone_homes WHERE lower(host_uuid) = ? AND result = 'ok'")
      .get(uuid) as { n: number };
    return row.n;
  } finally {
    db.close();
  }
}

/** `METHOD status` of every request for `url` in the server log (fastify's request/response lines). */
function httpStatuses(log: Array<Record<string, unknown>>, url: string): string[] {
  const methods = new Map<unknown, string>();
  for (const l of log) {
    const req = l['req'] as { method?: string; url?: string } | undefined;
    if (req?.url === url) methods.set(l['reqId'], req.method ?? '?');
  }
  return log
    .filter((l) => methods.has(l['reqId']) && l['res'] !== undefined)
    .map((l) => `${methods.get(l['reqId'])} ${(l['res'] as { statusCode: number }).statusCode}`);
}

/**
 * The run's DHCP capture decoded by the harness's pxe-pcap-summary, cut into one block per packet
 * (the harness writes no summary when it is stopped, so the test decodes pxe.pcap itself).
 */
function dhcpBlocks(outdir: string): string[] {
  const t0 = readFileSync(join(outdir, 't0'), 'utf8').trim();
  const summary = execFileSync(PCAP_SUMMARY, [join(outdir, 'pxe.pcap'), t0], { encoding: 'utf8', timeout: 60_000 });
  return summary.split(/\n(?=\s*[+-]\d)/);
}

/** The firmware's own HTTP boot lines on the console (EDK2 HttpBootDxe prints them). */
function assertFirmwareHttpBoot(serial: string, url: RegExp): void {
  expect(serial).toContain('>>Start HTTP Boot over IPv4');
  expect(serial).not.toContain('>>Start PXE over IPv4');
  expect(serial).toMatch(url);
}

describe.sequential('UEFI HTTP boot (OVMF HttpBootDxe) on the default configuration', () => {
  const boots: Array<Boot | undefined> = [];

  beforeAll(() => {
    needE2ePrerequisites();
    need(existsSync(DEBIAN_IPXE_EFI), `${DEBIAN_IPXE_EFI} (package ipxe) is missing`);
    ctx.dir = mkdtempSync(join(tmpdir(), 'sx-e2e-httpboot-'));
    prepareDir(ctx.dir, ['v1']);
    writeFileSync(join(ctx.dir, 'clusters', 'e2e-cluster.xml'), clusterXml());
    addAdmin(ctx);
  }, 600_000);

  afterAll(async () => {
    await endE2e(ctx, boots);
  }, 120_000);

  it('full mode: the firmware gets the loader URL, loads ipxe.efi over HTTP, boots, phones home, is joined', async () => {
    const boot = new Boot(
      ctx,
      'http-full',
      ['--firmware', 'uefi', '--http-boot', '--nic', 'virtio-net-pci,romfile=', '--uuid', UUID_A, '--mac', MAC_A],
      { env: { E2E_BOOT_DEFAULTS: '1' } },
    );
    boots.push(boot);
    const m = await boot.waitSerial(/STATELESX-BOOT-OK uuid=(\S+) image=(\S+) token=(\S+)/, 600_000);
    expect(m[1]!.toLowerCase()).toBe(UUID_A);
    expect(m[2]).toBe('v1');
    assertFirmwareHttpBoot(boot.serial(), /URI: http:\/\/10\.99\.0\.1\/boot\/ipxe\.efi/);
    await boot.waitSerial(/STATELESX-INITIATOR exit=0/, 120_000);
    const job = await jobDone(ctx.dir, UUID_A);
    expect(job, JSON.stringify(job)).toMatchObject({ state: 'succeeded' });
    assertConfigured(boot.readback(), UUID_A);

    // The firmware's requests were answered as HTTP boot, and it fetched the loader over HTTP
    // (HEAD for the size, then GET), whole: the size it printed is the file's.
    const log = serverLog(boot.outdir);
    expect(log.some((l) => l['firmware'] === 'uefi-http' && l['msg'] === 'PXE boot answer sent')).toBe(true);
    expect(log.some((l) => l['msg'] === 'transfer starting' && l['file'] === 'ipxe.efi')).toBe(false); // no TFTP
    expect(httpStatuses(log, '/boot/ipxe.efi')).toEqual(expect.arrayContaining(['HEAD 200', 'GET 200']));
    expect(boot.serial()).toContain(`File Size: ${statSync(DEBIAN_IPXE_EFI).size} Bytes`);
    expect(boot.serial()).toContain('Downloading...100%');
    expect(readdirSync(join(ctx.dir, 'tftp'))).toEqual([]);
    await boot.stop();
    // Our ACK to the firmware, as captured: option 60 HTTPClient, the boot file a full URL.
    const acks = dhcpBlocks(boot.outdir).filter((b) => / ACK .*10\.99\.0\.1:67 ->/.test(b));
    const http = acks.find((b) => b.includes('HTTPClient'));
    expect(http, acks.join('\n----\n')).toBeDefined();
    expect(http).toMatch(/file=http:\/\/10\.99\.0\.1\/boot\/ipxe\.efi/);
  }, 900_000);

  it('proxy mode: beside dnsmasq, the firmware takes the address from dnsmasq and the URL from us', async () => {
    const before = phoneHomesOk(ctx.dir, UUID_A);
    const boot = new Boot(
      ctx,
      'http-proxy',
      ['--firmware', 'uefi', '--http-boot', '--nic', 'virtio-net-pci,romfile=', '--uuid', UUID_A, '--mac', MAC_A],
      { env: { E2E_BOOT_DEFAULTS: '1', E2E_DHCP_MODE: 'proxy' } },
    );
    boots.push(boot);
    const m = await boot.waitSerial(/STATELESX-BOOT-OK uuid=(\S+) image=(\S+) token=(\S+)/, 600_000);
    expect(m[1]!.toLowerCase()).toBe(UUID_A);
    assertFirmwareHttpBoot(boot.serial(), /URI: http:\/\/10\.99\.0\.2\/boot\/ipxe\.efi/);
    await boot.waitSerial(/STATELESX-INITIATOR exit=0/, 120_000);
    // this boot's phone-home, read back in the store
    expect(phoneHomesOk(ctx.dir, UUID_A)).toBeGreaterThan(before);
    await boot.stop();
    const blocks = dhcpBlocks(boot.outdir);
    const ours = blocks.filter((b) => / OFFER .*10\.99\.0\.2:67 ->/.test(b) && b.includes('HTTPClient'));
    expect(ours.length, blocks.join('\n----\n')).toBeGreaterThan(0);
    expect(ours[0]).not.toMatch(/yiaddr=/); // a proxy offer carries no address
    expect(ours[0]).toMatch(/file=http:\/\/10\.99\.0\.2\/boot\/ipxe\.efi/);
    // the firmware's DHCPREQUEST names dnsmasq (10.99.0.1): dnsmasq ACKs it, we do not, nothing is declined
    expect(blocks.filter((b) => / ACK .*10\.99\.0\.2:67 ->/.test(b) && b.includes('HTTPClient'))).toEqual([]);
    expect(blocks.filter((b) => / DECLINE /.test(b))).toEqual([]);
  }, 900_000);
});
