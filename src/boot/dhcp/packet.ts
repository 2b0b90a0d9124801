/**
 * BOOTP/DHCP message codec.
 *
 * - Fixed header: RFC 2131 §2 (op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr,
 *   giaddr, chaddr[16], sname[64], file[128]) followed by the magic cookie 99.130.83.99 (RFC 2131 §3).
 * - Options: RFC 2132 code/length/value, pad (0) and end (255); option overload (52, RFC 2132 §9.3)
 *   continues the options in `file` then `sname`; a code that appears several times is one long
 *   option, concatenated in order (RFC 3396 §7, options field → file → sname).
 * - Size: a datagram larger than {@link MAX_DECODE_SIZE} is refused before any option is read
 *   (whatever its option 57 says); a message larger than 1500 bytes is refused unless the client's
 *   maximum DHCP message size (57, RFC 2132 §9.10) allows it; the options may carry at most
 *   {@link MAX_OPTION_BYTES} value bytes in all. Anything from the boot LAN is hostile: decoding
 *   costs one pass over at most 4 KiB, and a split option's pieces are joined once. Replies are
 *   padded to 300 bytes (the BOOTP minimum, RFC 1542 §2.1) and never exceed the client's maximum
 *   (576-byte IP datagram when unknown).
 *
 * Decoding is strict and throws {@link DhcpDecodeError} with a `reason` usable as a metric label.
 */

/** Fixed header size without the magic cookie (RFC 2131 §2). */
export const BOOTP_HEADER_SIZE = 236;
/** Header + magic cookie: where options start. */
export const OPTIONS_OFFSET = 240;
/** Smallest BOOTP message we send (RFC 1542 §2.1: 300 octets). */
export const BOOTP_MIN_SIZE = 300;
/** Largest message accepted without an option 57 saying more (Ethernet MTU). */
export const DEFAULT_MAX_ACCEPT = 1500;
/**
 * Largest datagram decoded at all, checked before any option is read, whatever option 57 says:
 * real DHCP and PXE requests are a few hundred bytes, and everything above the Ethernet MTU is
 * hostile or broken. Bounds the work one spoofed datagram costs (a 65 KB datagram of 1-byte option
 * pieces cost 50–65 ms of main-thread CPU when it was parsed first).
 */
export const MAX_DECODE_SIZE = 4096;
/**
 * Most option value bytes one message may carry in all (options field, `file` and `sname`, after
 * RFC 3396 concatenation). Real requests carry 100–400; the cap bounds what a request can make us
 * keep and store.
 */
export const MAX_OPTION_BYTES = 2048;
/** Largest reply when the client states no option 57: 576-byte IP datagram − IP (20) − UDP (8). */
export const DEFAULT_MAX_REPLY = 548;

const MAGIC = 0x63825363;

/** DHCP message types, option 53 (RFC 2132 §9.6). */
export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageTypeName = keyof typeof MessageType;

/** Option codes used by this service (RFC 2132 names unless noted). */
export const Opt = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS_SERVERS: 6,
  HOST_NAME: 12,
  DOMAIN_NAME: 15,
  BROADCAST_ADDRESS: 28,
  VENDOR_SPECIFIC: 43,
  REQUESTED_ADDRESS: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS_ID: 60,
  CLIENT_ID: 61,
  TFTP_SERVER_NAME: 66,
  BOOTFILE_NAME: 67,
  USER_CLASS: 77 /* RFC 3004 */,
  RELAY_AGENT_INFO: 82 /* RFC 3046 */,
  CLIENT_ARCH: 93 /* RFC 4578 */,
  CLIENT_NDI: 94 /* RFC 4578 */,
  CLIENT_GUID: 97 /* RFC 4578 */,
  IPXE_ENCAP: 175 /* iPXE */,
  END: 255,
} as const;

/** A decoded (or to-be-encoded) BOOTP/DHCP message. Addresses are dotted quads. */
export interface DhcpPacket {
  /** 1 = BOOTREQUEST, 2 = BOOTREPLY. */
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  /** Transaction id (uint32). */
  xid: number;
  secs: number;
  /** Bit 15 (0x8000) is the BROADCAST flag (RFC 2131 §2). */
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The 16-byte client hardware address field (the MAC is the first `hlen` bytes). */
  chaddr: Buffer;
  /** Server host name field (64 bytes, NUL-terminated), empty when used for options. */
  sname: string;
  /** Boot file name field (128 bytes, NUL-terminated), empty when used for options. */
  file: string;
  /** Options by code, long options already concatenated (RFC 3396). Insertion order = encode order. */
  options: Map<number, Buffer>;
}

/** Why a message was refused; stable strings used as the `reason` metric label. */
export type DecodeErrorReason =
  'truncated' | 'bad-magic-cookie' | 'option-overrun' | 'oversized' | 'options-too-large' | 'bad-header';

/** A message that cannot be decoded: says what is wrong and at which byte offset. */
export class DhcpDecodeError extends Error {
  override name = 'DhcpDecodeError';
  constructor(
    readonly reason: DecodeErrorReason,
    message: string,
    readonly offset?: number,
  ) {
    super(message);
  }
}

/** Dotted quad from 4 bytes at `off`. */
export function ipFromBuffer(buf: Buffer, off: number): string {
  return `${buf[off]!}.${buf[off + 1]!}.${buf[off + 2]!}.${buf[off + 3]!}`;
}

/** uint32 (host order number) from a dotted quad; throws on a malformed address. */
export function ipToInt(ip: string): number {
  const p = ip.split('.');
  if (p.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const s of p) {
    const v = Number(s);
    if (!/^\d{1,3}$/.test(s) || v > 255) throw new Error(`not an IPv4 address: ${ip}`);
    n = n * 256 + v;
  }
  return n >>> 0;
}

/** Dotted quad from a uint32. */
export function intToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** 4-byte buffer of an address (for options 1, 3, 6, 50, 54 ...). */
export function ipBytes(ip: string): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(ipToInt(ip), 0);
  return b;
}

function cString(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('latin1', off, end === -1 || end > off + len ? off + len : end);
}

/**
 * The options of one message while it is decoded: each code's pieces in wire order (RFC 3396 §7:
 * options field, then `file`, then `sname`), joined once at the end, and the value bytes so far.
 */
class OptionPieces {
  readonly pieces = new Map<number, Buffer[]>();
  bytes = 0;

  /** The first piece of `code`, or undefined (option 52 is read before `file`/`sname` are). */
  first(code: number): Buffer | undefined {
    return this.pieces.get(code)?.[0];
  }

  /** Each code's pieces concatenated: one copy per split option, none for an option in one piece. */
  joined(): Map<number, Buffer> {
    const out = new Map<number, Buffer>();
    for (const [code, list] of this.pieces) out.set(code, list.length === 1 ? list[0]! : Buffer.concat(list));
    return out;
  }
}

/**
 * Parses one option area (options field, `file` or `sname`) into `into`, one pass, collecting the
 * pieces of repeated codes (RFC 3396). Stops at END; an option whose length runs past `end` throws
 * `option-overrun`; more than {@link MAX_OPTION_BYTES} value bytes in all throws `options-too-large`.
 */
function parseOptionArea(buf: Buffer, start: number, end: number, into: OptionPieces, where: string): void {
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === Opt.PAD) {
      i++;
      continue;
    }
    if (code === Opt.END) return;
    if (i + 1 >= end)
      throw new DhcpDecodeError('option-overrun', `option ${code} in ${where} has no length byte (offset ${i})`, i);
    const len = buf[i + 1]!;
    if (i + 2 + len > end) {
      throw new DhcpDecodeError(
        'option-overrun',
        `option ${code} in ${where} claims ${len} bytes at offset ${i}, only ${end - i - 2} remain`,
        i,
      );
    }
    into.bytes += len;
    if (into.bytes > MAX_OPTION_BYTES) {
      throw new DhcpDecodeError(
        'options-too-large',
        `options carry more than ${MAX_OPTION_BYTES} value bytes (option ${code} in ${where}, offset ${i})`,
        i,
      );
    }
    const data = buf.subarray(i + 2, i + 2 + len);
    const list = into.pieces.get(code);
    if (list) list.push(data);
    else into.pieces.set(code, [data]);
    i += 2 + len;
  }
}

/**
 * Decodes a BOOTP/DHCP message.
 * @param buf the UDP payload
 * @returns the packet; option values are views into `buf` (copy them to keep them past `buf`)
 * @throws DhcpDecodeError `oversized` (> {@link MAX_DECODE_SIZE} bytes, checked first; or > 1500
 *   bytes and more than option 57 allows), `truncated` (< 240 bytes), `bad-magic-cookie`,
 *   `bad-header` (hlen > 16), `option-overrun`, `options-too-large` (> {@link MAX_OPTION_BYTES})
 */
export function decodePacket(buf: Buffer): DhcpPacket {
  if (buf.length > MAX_DECODE_SIZE) {
    throw new DhcpDecodeError(
      'oversized',
      `message is ${buf.length} bytes, over the ${MAX_DECODE_SIZE} decoded at all (not read further)`,
      MAX_DECODE_SIZE,
    );
  }
  if (buf.length < OPTIONS_OFFSET) {
    throw new DhcpDecodeError(
      'truncated',
      `message is ${buf.length} bytes; a DHCP message has at least ${OPTIONS_OFFSET} (header + magic cookie)`,
      buf.length,
    );
  }
  if (buf.readUInt32BE(BOOTP_HEADER_SIZE) !== MAGIC) {
    throw new DhcpDecodeError(
      'bad-magic-cookie',
      `bad magic cookie ${buf.subarray(236, 240).toString('hex')} at offset 236 (want 63825363)`,
      236,
    );
  }
  const hlen = buf[2]!;
  if (hlen > 16) throw new DhcpDecodeError('bad-header', `hlen ${hlen} exceeds the 16-byte chaddr field (offset 2)`, 2);
  const pieces = new OptionPieces();
  parseOptionArea(buf, OPTIONS_OFFSET, buf.length, pieces, 'options');
  const overload = pieces.first(Opt.OVERLOAD)?.[0] ?? 0;
  if (overload & 1) parseOptionArea(buf, 108, 236, pieces, 'file (overloaded)');
  if (overload & 2) parseOptionArea(buf, 44, 108, pieces, 'sname (overloaded)');
  const options = pieces.joined();
  if (buf.length > DEFAULT_MAX_ACCEPT) {
    const mms = options.get(Opt.MAX_MESSAGE_SIZE);
    const allowed = mms && mms.length === 2 ? mms.readUInt16BE(0) : 0;
    if (buf.length > allowed) {
      throw new DhcpDecodeError(
        'oversized',
        `message is ${buf.length} bytes, over ${DEFAULT_MAX_ACCEPT} and the client's maximum message size (${allowed || 'none'})`,
        DEFAULT_MAX_ACCEPT,
      );
    }
  }
  return {
    op: buf[0]!,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipFromBuffer(buf, 12),
    yiaddr: ipFromBuffer(buf, 16),
    siaddr: ipFromBuffer(buf, 20),
    giaddr: ipFromBuffer(buf, 24),
    chaddr: buf.subarray(28, 44),
    sname: overload & 2 ? '' : cString(buf, 44, 64),
    file: overload & 1 ? '' : cString(buf, 108, 128),
    options,
  };
}

/** Serialises options (split into ≤ 255-byte pieces, RFC 3396) in map order, 53 and 54 first. */
function optionChunks(options: Map<number, Buffer>): Buffer[] {
  const order = [...options.keys()].filter((c) => c !== Opt.PAD && c !== Opt.END && c !== Opt.OVERLOAD);
  order.sort((a, b) => rank(a) - rank(b));
  const out: Buffer[] = [];
  for (const code of order) {
    const v = options.get(code)!;
    const parts: Buffer[] = [];
    if (v.length === 0) parts.push(Buffer.from([code, 0]));
    for (let o = 0; o < v.length; o += 255) {
      const piece = v.subarray(o, Math.min(v.length, o + 255));
      parts.push(Buffer.concat([Buffer.from([code, piece.length]), piece]));
    }
    out.push(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  }
  return out;
}
function rank(code: number): number {
  return code === Opt.MESSAGE_TYPE ? 0 : code === Opt.SERVER_ID ? 1 : 2;
}

/** Options the encoder had to leave out because the client's maximum message size was reached. */
export interface EncodeResult {
  buffer: Buffer;
  /** Option codes dropped for lack of room (never 53/54). */
  dropped: number[];
}

/**
 * Encodes a message.
 * @param p the packet; `options` in insertion order (53 and 54 are always written first)
 * @param maxSize the largest message the client accepts (its option 57, capped by our MTU);
 *   default 548 (RFC 2131 §2: 576-byte datagrams). At least 300 (BOOTP minimum).
 * @returns the bytes, padded with PAD to 300 bytes. When the options do not fit, the `file` and
 *   `sname` fields are used for them (overload, 52) if they are empty; what still does not fit
 *   is left out and listed in `dropped`.
 * @throws Error when chaddr is longer than 16 bytes or an address is malformed.
 */
export function encodePacket(p: DhcpPacket, maxSize = DEFAULT_MAX_REPLY): EncodeResult {
  if (p.chaddr.length > 16) throw new Error(`chaddr is ${p.chaddr.length} bytes, at most 16`);
  const max = Math.max(BOOTP_MIN_SIZE, maxSize);
  const chunks = optionChunks(p.options);
  const dropped: number[] = [];
  // Room in the options field for options, keeping 1 byte for END and 3 for a possible overload option.
  const mainRoom = max - OPTIONS_OFFSET - 1;
  let used = 0;
  const main: Buffer[] = [];
  const rest: Buffer[] = [];
  for (const c of chunks) {
    if (rest.length === 0 && used + c.length <= mainRoom) {
      main.push(c);
      used += c.length;
    } else rest.push(c);
  }
  const fileArea: Buffer[] = [];
  const snameArea: Buffer[] = [];
  let overload = 0;
  if (rest.length > 0) {
    // make room for option 52 in the options field
    while (main.length > 2 && used + 3 > mainRoom) {
      const c = main.pop()!;
      used -= c.length;
      rest.unshift(c);
    }
    let fileUsed = 0;
    let snameUsed = 0;
    for (const c of rest) {
      if (!p.file && fileUsed + c.length <= 127) {
        fileArea.push(c);
        fileUsed += c.length;
        overload |= 1;
      } else if (!p.sname && snameUsed + c.length <= 63) {
        snameArea.push(c);
        snameUsed += c.length;
        overload |= 2;
      } else dropped.push(c[0]!);
    }
    if (overload) {
      main.push(Buffer.from([Opt.OVERLOAD, 1, overload]));
      used += 3;
    }
  }
  const size = Math.max(BOOTP_MIN_SIZE, OPTIONS_OFFSET + used + 1);
  const b = Buffer.alloc(size);
  b[0] = p.op;
  b[1] = p.htype;
  b[2] = p.hlen;
  b[3] = p.hops;
  b.writeUInt32BE(p.xid >>> 0, 4);
  b.writeUInt16BE(p.secs & 0xffff, 8);
  b.writeUInt16BE(p.flags & 0xffff, 10);
  b.writeUInt32BE(ipToInt(p.ciaddr), 12);
  b.writeUInt32BE(ipToInt(p.yiaddr), 16);
  b.writeUInt32BE(ipToInt(p.siaddr), 20);
  b.writeUInt32BE(ipToInt(p.giaddr), 24);
  p.chaddr.copy(b, 28, 0, Math.min(16, p.chaddr.length));
  if (overload & 2) writeArea(b, 44, 64, snameArea);
  else b.write(p.sname.slice(0, 63), 44, 'latin1');
  if (overload & 1) writeArea(b, 108, 128, fileArea);
  else b.write(p.file.slice(0, 127), 108, 'latin1');
  b.writeUInt32BE(MAGIC, BOOTP_HEADER_SIZE);
  let off = OPTIONS_OFFSET;
  for (const c of main) {
    c.copy(b, off);
    off += c.length;
  }
  b[off] = Opt.END;
  return { buffer: b, dropped };
}

function writeArea(b: Buffer, start: number, len: number, chunks: Buffer[]): void {
  let off = start;
  for (const c of chunks) {
    c.copy(b, off);
    off += c.length;
  }
  if (off < start + len) b[off] = Opt.END;
}

/** The MAC (`aa:bb:...`) from chaddr/hlen; the hex of all hlen bytes for non-Ethernet types. */
export function macOf(p: DhcpPacket): string {
  const n = p.hlen > 0 && p.hlen <= 16 ? p.hlen : 6;
  let s = '';
  for (let i = 0; i < n; i++) {
    const h = p.chaddr[i]!.toString(16);
    s += (i ? ':' : '') + (h.length === 1 ? '0' + h : h);
  }
  return s;
}
