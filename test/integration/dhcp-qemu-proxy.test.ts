/**
 * Real firmware through our proxyDHCP: OVMF's own EDK2 PXE client (virtio-net, no iPXE ROM) in
 * QEMU, booted by ../shared/tools/pxe-boot-check in its private namespaces. dnsmasq hands out the
 * address and serves TFTP; the boot file comes only from our proxy (10.99.0.2). This is the case
 * where a naive proxyDHCP gets "PXE-E16 No valid offer". The VM must reach the harness initrd's
 * PXE-BOOT-OK marker with the label of our pxelinux config, and the capture must show our offer
 * without an address.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { canUseNetns } from '../helpers/netns.js';
import { requireTool } from './dhcp-harness.js';

const REPO = resolve(import.meta.dirname, '../..');
const TOOLS = resolve(REPO, '../shared/tools/pxe-boot-check');
const CACHE = process.env.REF_CACHE ?? '/var/tmp/pxe-harness-cache';

describe('OVMF native PXE through our proxyDHCP beside dnsmasq', () => {
  it('boots to the kernel with the boot file from our proxy offer', () => {
    if (!canUseNetns()) throw new Error('this test needs root and iproute2 (network namespaces): run as root after scripts/install-test-deps');
    for (const [cmd, pkg] of [['qemu-system-x86_64', 'qemu-system-x86'], ['dnsmasq', 'dnsmasq-base'], ['tshark', 'tshark']] as const) requireTool(cmd, pkg);
    for (const f of ['/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi', '/usr/lib/syslinux/modules/efi64/ldlinux.e64']) {
      if (!existsSync(f)) throw new Error(`${f} missing (syslinux-efi, syslinux-common): run scripts/install-test-deps`);
    }
    if (!existsSync(join(CACHE, 'vmlinuz')) || !existsSync(join(CACHE, 'initrd.gz'))) {
      const prep = spawnSync(join(TOOLS, 'ref-server-dnsmasq'), ['--prepare'], { encoding: 'utf8', timeout: 300_000 });
      if (prep.status !== 0) throw new Error(`ref-server-dnsmasq --prepare failed: ${prep.stderr}`);
    }
    const out = mkdtempSync(join(tmpdir(), 'sx-dhcp-qemu-'));
    try {
      const r = spawnSync(join(TOOLS, 'pxe-boot-check'), [
        '--server-cmd', `SX_REPO='${REPO}' REF_CACHE='${CACHE}' bash '${join(REPO, 'test/integration/dhcp-qemu-proxy-server.sh')}'`,
        '--firmware', 'uefi', '--nic', 'virtio-net-pci,romfile=', '--timeout', '200', '--outdir', join(out, 'run'),
        '--expect', 'PXE-BOOT-OK .*label=statelesx-proxy',
      ], { encoding: 'utf8', timeout: 280_000 });
      const summary = existsSync(join(out, 'run', 'pcap-summary.txt')) ? readFileSync(join(out, 'run', 'pcap-summary.txt'), 'utf8') : '';
      expect(r.status, `pxe-boot-check failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`).toBe(0);
      // our offer: from 10.99.0.2, PXEClient + option 43, no address (pxe-pcap-summary prints yiaddr only when set)
      const ours = summary.split(/\n(?=\s*\+)/).filter((b) => / OFFER .*10\.99\.0\.2:67 ->/.test(b));
      expect(ours.length, summary).toBeGreaterThan(0);
      expect(ours[0]).toContain('60 vendor-class     : PXEClient');
      expect(ours[0]).toContain('43 vendor-encap     : 060108ff');
      expect(ours[0]).not.toMatch(/yiaddr=/);
      expect(summary).toMatch(/efi64\/syslinux\.efi\s+served/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 600_000);
});
