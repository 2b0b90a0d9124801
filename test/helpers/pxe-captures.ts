/**
 * The real PXE client captures in test/fixtures/pxe-captures (QEMU SeaBIOS+iPXE, OVMF+iPXE,
 * OVMF native PXE; see its README.md) read as DHCP packets, for decoder and server tests.
 */
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { decodePacket, type DhcpPacket } from '../../src/boot/dhcp/packet.js';

/** Directory of the capture files (beside the repository). */
export const CAPTURES = resolve(import.meta.dirname, '../fixtures/pxe-captures');

/** One captured UDP datagram: IPv4 source/destination, ports and the UDP payload. */
export interface UdpRecord {
  srcPort: number;
  dstPort: number;
  src: string;
  dst: string;
  payload: Buffer;
}

/** Minimal pcap reader: classic pcap (either byte order), Ethernet (optionally 802.1Q), IPv4, UDP. */
export function readPcapUdp(file: string): UdpRecord[] {
  const b = readFileSync(file);
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && b.readUInt32BE(0) !== 0xa1b2c3d4 && b.readUInt32BE(0) !== 0xa1b23c4d)
    throw new Error(`${file}: not a pcap file`);
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`${file}: link type ${u32(20)} is not Ethernet`);
  const out: UdpRecord[] = [];
  let off = 24;
  while (off + 16 <= b.length) {
    const incl = u32(off + 8);
    const frame = b.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    let eth = 12;
    let etype = frame.readUInt16BE(eth);
    if (etype === 0x8100) {
      eth += 4;
      etype = frame.readUInt16BE(eth);
    }
    if (etype !== 0x0800) continue;
    const ip = eth + 2;
    const ihl = (frame[ip]! & 0x0f) * 4;
    if (frame[ip + 9] !== 17) continue;
    const totalLen = frame.readUInt16BE(ip + 2);
    const udp = ip + ihl;
    const udpLen = frame.readUInt16BE(udp + 4);
    out.push({
      src: [...frame.subarray(ip + 12, ip + 16)].join('.'),
      dst: [...frame.subarray(ip + 16, ip + 20)].join('.'),
      srcPort: frame.readUInt16BE(udp),
      dstPort: frame.readUInt16BE(udp + 2),
      payload: Buffer.from(frame.subarray(udp + 8, Math.min(udp + udpLen, ip + totalLen))),
    });
  }
  return out;
}

/**
 * The DHCP datagrams (to ports 67, 68, 4011) of capture `name`, decoded, in capture order.
 * @throws Error when the fixture is missing (test/fixtures/pxe-captures)
 */
export function dhcpPackets(name: string): DhcpPacket[] {
  const file = resolve(CAPTURES, name);
  if (!existsSync(file))
    throw new Error(`fixture ${file} missing: test/fixtures/pxe-captures is part of the repository`);
  return readPcapUdp(file)
    .filter((r) => [67, 68, 4011].includes(r.dstPort))
    .map((r) => decodePacket(r.payload));
}
