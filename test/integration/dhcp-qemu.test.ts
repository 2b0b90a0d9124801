/**
 * Real firmware through our DHCP service, booted in QEMU by test/peers/pxe-boot-check in its
 * private namespaces; the VM must reach the harness initrd's PXE-BOOT-OK marker with our label.
 * - proxy: OVMF's own EDK2 PXE client (virtio-net, no iPXE ROM). dnsmasq hands out the address and
 *   serves TFTP; the boot file comes only from our proxy (10.99.0.2). This is the case where a
 *   naive proxyDHCP gets "PXE-E16 No valid offer". The capture must show our offer without address.
 * - full: SeaBIOS + iPXE ROM gets its address and, as iPXE (user class 77), the boot.ipxe URL from
 *   us, and boots kernel + initrd over HTTP (busybox httpd) — no chainload loop.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { canUseNetns } from '../helpers/netns.js';
import { requireTool } from '../helpers/dhcp-harness.js';

const REPO = resolve(import.meta.dirname, '../..');
const TOOLS = resolve(REPO, 'test/peers/pxe-boot-check');
const CACHE = process.env.REF_CACHE ?? '/var/tmp/pxe-harness-cache';

function prerequisites(): void {
  if (!canUseNetns())
    throw new Error(
      'this test needs root and iproute2 (network namespaces): run as root after scripts/install-test-deps',
    );
  for (const [cmd, pkg] of [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['dnsmasq', 'dnsmasq-base'],
    ['tshark', 'tshark'],
    ['busybox', 'busybox'],
  ] as const)
    requireTool(cmd, pkg);
  for (const f of ['/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi', '/usr/lib/syslinux/modules/efi64/ldlinux.e64']) {
    if (!existsSync(f)) throw new Error(`${f} missing (syslinux-efi, syslinux-common): run scripts/install-test-deps`);
  }
  if (!existsSync(join(CACHE, 'vmlinuz')) || !existsSync(join(CACHE, 'initrd.gz'))) {
    const prep = spawnSync(join(TOOLS, 'ref-server-dnsmasq'), ['--prepare'], { encoding: 'utf8', timeout: 300_000 });
    if (prep.status !== 0) throw new Error(`ref-server-dnsmasq --prepare failed: ${prep.stderr}`);
  }
}

/** Runs pxe-boot-check with `script` as the server; returns its exit status, output and the pcap summary. */
function boot(script: string, args: string[], label: string): { status: number | null; log: string; summary: string } {
  const out = mkdtempSync(join(tmpdir(), 'sx-dhcp-qemu-'));
  try {
    const r = spawnSync(
      join(TOOLS, 'pxe-boot-check'),
      [
        '--server-cmd',
        `SX_REPO='${REPO}' REF_CACHE='${CACHE}' bash '${join(REPO, 'test/helpers', script)}'`,
        ...args,
        '--timeout',
        '200',
        '--outdir',
        join(out, 'run'),
        '--expect',
        `PXE-BOOT-OK .*label=${label}`,
      ],
      { encoding: 'utf8', timeout: 280_000 },
    );
    const summary = existsSync(join(out, 'run', 'pcap-summary.txt'))
      ? readFileSync(join(out, 'run', 'pcap-summary.txt'), 'utf8')
      : '';
    return { status: r.status, log: `${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`, summary };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** pxe-pcap-summary's listing cut into one block per packet. */
function blocks(summary: string): string[] {
  return summary.split(/\n(?=\s*\+\d)/);
}

describe('real PXE firmware in QEMU', () => {
  it('full mode: SeaBIOS + iPXE gets an address and the iPXE script URL, and boots over HTTP', () => {
    prerequisites();
    const r = boot('dhcp-qemu-full-server.sh', ['--firmware', 'bios'], 'statelesx-full');
    expect(r.status, `pxe-boot-check failed:\n${r.log}`).toBe(0);
    const acks = blocks(r.summary).filter((b) => / ACK .*10\.99\.0\.1:67 ->/.test(b));
    expect(acks.length, r.summary).toBeGreaterThan(0);
    expect(acks[0]).toMatch(
      /yiaddr=10\.99\.0\.\d+ siaddr\(next-server\)=10\.99\.0\.1 file=http:\/\/10\.99\.0\.1:8080\/boot\/boot\.ipxe/,
    );
  }, 600_000);

  it('proxy mode: OVMF native PXE boots with the boot file from our proxy offer beside dnsmasq', () => {
    prerequisites();
    const r = boot(
      'dhcp-qemu-proxy-server.sh',
      ['--firmware', 'uefi', '--nic', 'virtio-net-pci,romfile='],
      'statelesx-proxy',
    );
    expect(r.status, `pxe-boot-check failed:\n${r.log}`).toBe(0);
    // our offer: from 10.99.0.2, PXEClient + option 43, no address (pxe-pcap-summary prints yiaddr only when set)
    const ours = blocks(r.summary).filter((b) => / OFFER .*10\.99\.0\.2:67 ->/.test(b));
    expect(ours.length, r.summary).toBeGreaterThan(0);
    expect(ours[0]).toContain('60 vendor-class     : PXEClient');
    expect(ours[0]).toContain('43 vendor-encap     : 060108ff');
    expect(ours[0]).not.toMatch(/yiaddr=/);
    expect(r.summary).toMatch(/efi64\/syslinux\.efi\s+served/);
  }, 600_000);
});
