/**
 * A minimal libpcap file reader (classic pcap, not pcapng) that yields the UDP payloads of IPv4
 * frames, for building the fuzz seed corpus from the real PXE captures.
 *
 * Format: 24-byte global header (magic 0xa1b2c3d4 or 0xa1b23c4d in either byte order, link type at
 * offset 20), then records of a 16-byte header (ts_sec, ts_usec, incl_len, orig_len) and incl_len
 * bytes. Link types: 1 (Ethernet, with 802.1Q tags skipped), 113 (Linux cooked SLL), 101 (raw IP).
 */

/** One UDP datagram from a capture. */
export interface UdpPayload {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

/**
 * @param file the whole pcap file
 * @returns every IPv4/UDP datagram in capture order (fragments and non-UDP frames skipped)
 * @throws Error when the file is not a classic pcap or uses an unsupported link type
 */
export function udpPayloads(file: Buffer): UdpPayload[] {
  if (file.length < 24) throw new Error('pcap: file shorter than its 24-byte header');
  const magicLE = file.readUInt32LE(0);
  let le: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) le = true;
  else if (file.readUInt32BE(0) === 0xa1b2c3d4 || file.readUInt32BE(0) === 0xa1b23c4d) le = false;
  else throw new Error('pcap: bad magic (pcapng is not supported)');
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  const linkType = u32(20) & 0xffff;
  const out: UdpPayload[] = [];
  let off = 24;
  while (off + 16 <= file.length) {
    const incl = u32(off + 8);
    const start = off + 16;
    const end = start + incl;
    if (end > file.length) break;
    const frame = file.subarray(start, end);
    off = end;
    const ip = ipOf(frame, linkType);
    if (!ip || ip.length < 20 || ip[0]! >> 4 !== 4 || ip[9] !== 17) continue;
    if ((ip.readUInt16BE(6) & 0x3fff) !== 0) continue; // fragment
    const ihl = (ip[0]! & 0x0f) * 4;
    const udp = ip.subarray(ihl);
    if (udp.length < 8) continue;
    const udpLen = Math.min(udp.readUInt16BE(4), udp.length);
    out.push({
      src: `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`,
      dst: `${ip[16]}.${ip[17]}.${ip[18]}.${ip[19]}`,
      srcPort: udp.readUInt16BE(0),
      dstPort: udp.readUInt16BE(2),
      payload: Buffer.from(udp.subarray(8, udpLen)),
    });
  }
  return out;
}

function ipOf(frame: Buffer, linkType: number): Buffer | null {
  if (linkType === 101) return frame;
  if (linkType === 113) return frame.length > 16 && frame.readUInt16BE(14) === 0x0800 ? frame.subarray(16) : null;
  if (linkType !== 1) throw new Error(`pcap: unsupported link type ${linkType}`);
  let p = 12;
  let type = frame.readUInt16BE(p);
  while (type === 0x8100 || type === 0x88a8) {
    p += 4;
    type = frame.readUInt16BE(p);
  }
  return type === 0x0800 ? frame.subarray(p + 2) : null;
}
