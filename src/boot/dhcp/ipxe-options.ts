/**
 * A summary of the DHCP option 175 (iPXE / Etherboot encapsulated options) a client sent, for
 * boot events: what the iPXE build can do, its version and the NIC it runs on.
 *
 * Sub-options (iPXE include/ipxe/dhcp.h and include/ipxe/features.h):
 * - 0x10–0x7f feature indicators (value: the feature's version byte), e.g. 0x13 HTTP, 0x24 EFI;
 * - 235 (0xeb) `DHCP_EB_VERSION`: 3 bytes major, minor, build;
 * - 177 (0xb1) `DHCP_EB_BUS_ID`: bus type (1 = PCI, 2 = ISAPnP, 3 = EISA, 4 = MCA, 5 = ISA), then
 *   vendor and device id (16 bit each, big-endian).
 * Every other sub-option is left out (some, 190–193, carry iSCSI credentials and are never recorded).
 */

/** Feature indicator names by sub-option code (iPXE include/ipxe/features.h `DHCP_EB_FEATURE_*`). */
const FEATURES: Record<number, string> = {
  0x10: 'pxe-ext',
  0x11: 'iscsi',
  0x12: 'aoe',
  0x13: 'http',
  0x14: 'https',
  0x15: 'tftp',
  0x16: 'ftp',
  0x17: 'dns',
  0x18: 'bzimage',
  0x19: 'multiboot',
  0x1a: 'slam',
  0x1b: 'srp',
  0x20: 'nbi',
  0x21: 'pxe',
  0x22: 'elf',
  0x23: 'comboot',
  0x24: 'efi',
  0x25: 'fcoe',
  0x26: 'vlan',
  0x27: 'menu',
  0x28: 'sdi',
  0x29: 'nfs',
};

const BUS_TYPES: Record<number, string> = { 1: 'pci', 2: 'isapnp', 3: 'eisa', 4: 'mca', 5: 'isa' };

/** What {@link ipxeSummary} returns: only the parts the client sent. */
export interface IpxeSummary {
  /** `DHCP_EB_VERSION` as `major.minor.build`, e.g. `1.21.1`. */
  version?: string;
  /** `DHCP_EB_BUS_ID` as `<bus>:<vendor>:<device>` in hex, e.g. `pci:8086:100e`. */
  busId?: string;
  /** Feature indicators: name (or `feature-0x<code>` when unknown) → the feature's version byte. */
  features?: Record<string, number>;
}

/**
 * Summarises option 175 sub-options (as parsed by `parseSubOptions` in client-info.ts).
 * Pure, never throws: malformed version / bus id values are left out.
 * @returns null when there is nothing to record
 */
export function ipxeSummary(sub: ReadonlyMap<number, Buffer> | undefined): IpxeSummary | null {
  if (!sub) return null;
  const out: IpxeSummary = {};
  const v = sub.get(235);
  if (v && v.length === 3) out.version = `${v[0]}.${v[1]}.${v[2]}`;
  const b = sub.get(177);
  if (b && b.length === 5) {
    const hex = (o: number) => b.readUInt16BE(o).toString(16).padStart(4, '0');
    out.busId = `${BUS_TYPES[b[0]!] ?? `bus-${b[0]}`}:${hex(1)}:${hex(3)}`;
  }
  const features: Record<string, number> = {};
  for (const code of [...sub.keys()].sort((x, y) => x - y)) {
    const val = sub.get(code)!;
    if (code < 0x10 || code > 0x7f || val.length !== 1) continue;
    features[FEATURES[code] ?? `feature-0x${code.toString(16)}`] = val[0]!;
  }
  if (Object.keys(features).length > 0) out.features = features;
  return Object.keys(out).length > 0 ? out : null;
}
