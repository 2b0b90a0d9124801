/**
 * The README's external-DHCP snippets are checked by the real servers' own syntax checkers
 * (ISC dhcpd -t, dnsmasq --test, kea-dhcp4 -t). None of them binds a socket in test mode.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

function check(bin: string, args: string[]): { status: number | null; out: string } {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/install-test-deps`);
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

describe('external DHCP snippets (docs/dhcp)', () => {
  it('ISC dhcpd accepts docs/dhcp/isc-dhcpd.conf', () => {
    const r = check('/usr/sbin/dhcpd', ['-t', '-cf', 'docs/dhcp/isc-dhcpd.conf']);
    expect(r.status, r.out).toBe(0);
  });
  it('dnsmasq accepts docs/dhcp/dnsmasq.conf', () => {
    const r = check('/usr/sbin/dnsmasq', ['--test', '-C', 'docs/dhcp/dnsmasq.conf']);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/syntax check OK/);
  });
  it('Kea kea-dhcp4 accepts docs/dhcp/kea-dhcp4.json', () => {
    const r = check('/usr/sbin/kea-dhcp4', ['-t', 'docs/dhcp/kea-dhcp4.json']);
    expect(r.status, r.out).toBe(0);
  });
  it('each checker rejects a corrupted copy of its snippet (the checks can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sx-dhcp-snippets-'));
    const corrupt = (src: string, edit: (t: string) => string) => {
      const f = join(dir, src.split('/').pop()!);
      writeFileSync(f, edit(readFileSync(src, 'utf8')));
      return f;
    };
    expect(
      check('/usr/sbin/dhcpd', [
        '-t',
        '-cf',
        corrupt('docs/dhcp/isc-dhcpd.conf', (t) => t.replace('next-server 192.0.2.10;', 'next-server 192.0.2.10')),
      ]).status,
    ).not.toBe(0);
    expect(
      check('/usr/sbin/dnsmasq', [
        '--test',
        '-C',
        corrupt('docs/dhcp/dnsmasq.conf', (t) => t + 'dhcp-range=not-an-address\n'),
      ]).status,
    ).not.toBe(0);
    expect(
      check('/usr/sbin/kea-dhcp4', [
        '-t',
        corrupt('docs/dhcp/kea-dhcp4.json', (t) => t.replace('"boot-file-name"', '"boot-file-nam"')),
      ]).status,
    ).not.toBe(0);
  });
});
