/**
 * TFTP packet codec: RRQ/WRQ/DATA/ACK/ERROR (RFC 1350 §5) and OACK (RFC 2347).
 *
 * Decoding is strict and never throws: {@link decodePacket} returns either a typed packet or a
 * {@link DecodeError} naming what is wrong (truncated, oversized, malformed) so the server loop can
 * drop the datagram, count it and keep serving. Encoders return fresh Buffers except
 * {@link writeDataHeader}, which writes into a caller-owned (preallocated) buffer for the hot path.
 *
 * Imports: nothing but node:buffer. Used by transfer.ts and server.ts.
 */

/** RFC 1350 §5 opcodes, plus OACK from RFC 2347. */
export const Opcode = {
  RRQ: 1,
  WRQ: 2,
  DATA: 3,
  ACK: 4,
  ERROR: 5,
  OACK: 6,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** RFC 1350 §5 error codes (8 from RFC 2347: option negotiation refused). */
export const ErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Largest request (RRQ/WRQ) we decode, in bytes. RFC 2347 limits a request with options to 512
 * octets; some clients exceed it slightly, so we allow a little more and call anything beyond an
 * oversized packet.
 */
export const MAX_REQUEST_SIZE = 1024;
/** Largest DATA packet: 4-byte header + the RFC 2348 maximum blksize 65464. */
export const MAX_DATA_SIZE = 4 + 65464;
/** Largest ERROR/OACK we decode (both are small in practice). */
export const MAX_SMALL_PACKET_SIZE = 1024;

/** Transfer modes of RFC 1350 §5 (lower-case). */
export const KNOWN_MODES: ReadonlySet<string> = new Set(['netascii', 'octet', 'mail']);

/** RRQ or WRQ (RFC 1350 §5; options per RFC 2347 §2). */
export interface RequestPacket {
  op: typeof Opcode.RRQ | typeof Opcode.WRQ;
  /**
   * File name as sent (UTF-8 decoded), not yet checked for path safety. Contains NUL when the
   * client embedded one (see decodePacket).
   */
  filename: string;
  /** Transfer mode lower-cased: `octet`, `netascii`, `mail`, or whatever the client sent. */
  mode: string;
  /** Options lower-cased by name, values as sent; the first occurrence of a repeated name wins. */
  options: Map<string, string>;
}

/** DATA (RFC 1350 §5): 16-bit block number and 0..blksize bytes (a view into the datagram). */
export interface DataPacket {
  op: typeof Opcode.DATA;
  block: number;
  data: Buffer;
}

/** ACK (RFC 1350 §5): exactly 4 bytes. */
export interface AckPacket {
  op: typeof Opcode.ACK;
  block: number;
}

/** ERROR (RFC 1350 §5). */
export interface ErrorPacket {
  op: typeof Opcode.ERROR;
  code: number;
  message: string;
}

/** OACK (RFC 2347 §2). */
export interface OackPacket {
  op: typeof Opcode.OACK;
  options: Map<string, string>;
}

export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

/** Why a datagram was not a valid TFTP packet; `reason` is a short stable label for metrics. */
export interface DecodeError {
  reason: 'truncated' | 'oversized' | 'malformed' | 'unknown-opcode';
  detail: string;
}

export type DecodeResult = { ok: true; packet: TftpPacket } | { ok: false; error: DecodeError };

const fail = (reason: DecodeError['reason'], detail: string): DecodeResult => ({
  ok: false,
  error: { reason, detail },
});

/**
 * Splits `buf[start..]` into NUL-terminated strings.
 * @returns the strings, or null when the last one lacks its NUL terminator
 */
function splitStrings(buf: Buffer, start: number): string[] | null {
  const out: string[] = [];
  let pos = start;
  while (pos < buf.length) {
    const nul = buf.indexOf(0, pos);
    if (nul < 0) return null;
    out.push(buf.toString('utf8', pos, nul));
    pos = nul + 1;
  }
  return out;
}

/** Reads option name/value pairs (RFC 2347 §2) from a flat string list. */
function toOptions(list: string[]): Map<string, string> | string {
  if (list.length % 2 !== 0) return `option "${list[list.length - 1]}" has no value`;
  const options = new Map<string, string>();
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!.toLowerCase();
    if (name === '') return 'empty option name';
    if (!options.has(name)) options.set(name, list[i + 1]!);
  }
  return options;
}

/**
 * Decodes one datagram.
 * @param buf the UDP payload
 * @returns `{ok: true, packet}` or `{ok: false, error}`; never throws
 */
export function decodePacket(buf: Buffer): DecodeResult {
  if (buf.length < 2) return fail('truncated', `${buf.length}-byte datagram has no opcode`);
  const op = buf.readUInt16BE(0);
  switch (op) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      if (buf.length > MAX_REQUEST_SIZE)
        return fail('oversized', `request of ${buf.length} bytes (max ${MAX_REQUEST_SIZE})`);
      const strings = splitStrings(buf, 2);
      if (strings === null) return fail('truncated', 'request string not NUL-terminated');
      if (strings.length < 2) return fail('truncated', 'request lacks filename or mode');
      // A NUL inside the file name ("a\0../b\0octet\0") shows up as an unknown mode followed by a
      // known one: keep the NUL in the name so the path check refuses it (error 2) instead of
      // silently serving the part before the NUL.
      let modeAt = 1;
      if (!KNOWN_MODES.has(strings[1]!.toLowerCase())) {
        const i = strings.findIndex((x, j) => j > 1 && KNOWN_MODES.has(x.toLowerCase()));
        if (i > 1) modeAt = i;
      }
      const options = toOptions(strings.slice(modeAt + 1));
      if (typeof options === 'string') return fail('malformed', options);
      return {
        ok: true,
        packet: { op, filename: strings.slice(0, modeAt).join('\0'), mode: strings[modeAt]!.toLowerCase(), options },
      };
    }
    case Opcode.DATA:
      if (buf.length < 4) return fail('truncated', 'DATA shorter than 4 bytes');
      if (buf.length > MAX_DATA_SIZE) return fail('oversized', `DATA of ${buf.length} bytes`);
      return { ok: true, packet: { op, block: buf.readUInt16BE(2), data: buf.subarray(4) } };
    case Opcode.ACK:
      if (buf.length < 4) return fail('truncated', 'ACK shorter than 4 bytes');
      if (buf.length > 4) return fail('oversized', `ACK of ${buf.length} bytes (must be 4)`);
      return { ok: true, packet: { op, block: buf.readUInt16BE(2) } };
    case Opcode.ERROR: {
      if (buf.length < 4) return fail('truncated', 'ERROR shorter than 4 bytes');
      if (buf.length > MAX_SMALL_PACKET_SIZE) return fail('oversized', `ERROR of ${buf.length} bytes`);
      // Lenient on the message terminator: some clients omit the final NUL.
      let end = buf.indexOf(0, 4);
      if (end < 0) end = buf.length;
      return { ok: true, packet: { op, code: buf.readUInt16BE(2), message: buf.toString('utf8', 4, end) } };
    }
    case Opcode.OACK: {
      if (buf.length > MAX_SMALL_PACKET_SIZE) return fail('oversized', `OACK of ${buf.length} bytes`);
      const strings = splitStrings(buf, 2);
      if (strings === null) return fail('truncated', 'OACK string not NUL-terminated');
      const options = toOptions(strings);
      if (typeof options === 'string') return fail('malformed', options);
      return { ok: true, packet: { op, options } };
    }
    default:
      return fail('unknown-opcode', `opcode ${op}`);
  }
}

/** Encodes an RRQ/WRQ (used by tests and tools; the server never sends requests). */
export function encodeRequest(
  op: typeof Opcode.RRQ | typeof Opcode.WRQ,
  filename: string,
  mode: string,
  options: Iterable<[string, string]> = [],
): Buffer {
  const parts: Buffer[] = [Buffer.from([0, op]), Buffer.from(`${filename}\0${mode}\0`, 'utf8')];
  for (const [k, v] of options) parts.push(Buffer.from(`${k}\0${v}\0`, 'utf8'));
  return Buffer.concat(parts);
}

/** Encodes ACK `block` (16-bit, RFC 1350 §5). */
export function encodeAck(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(Opcode.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

/**
 * Writes the 4-byte DATA header (opcode 3, 16-bit block number) at `offset` of a preallocated buffer.
 * @param block absolute or wire block number; only the low 16 bits are written (rollover to 0)
 */
export function writeDataHeader(buf: Buffer, offset: number, block: number): void {
  buf[offset] = 0;
  buf[offset + 1] = Opcode.DATA;
  buf[offset + 2] = (block >>> 8) & 0xff;
  buf[offset + 3] = block & 0xff;
}

/** Encodes a DATA packet into a fresh buffer (tests, rendered files). */
export function encodeData(block: number, data: Buffer): Buffer {
  const b = Buffer.allocUnsafe(4 + data.length);
  writeDataHeader(b, 0, block);
  data.copy(b, 4);
  return b;
}

/** Encodes ERROR `code` with `message` (ASCII, NUL-terminated; RFC 1350 §5). */
export function encodeError(code: number, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8');
  const b = Buffer.allocUnsafe(4 + msg.length + 1);
  b.writeUInt16BE(Opcode.ERROR, 0);
  b.writeUInt16BE(code, 2);
  msg.copy(b, 4);
  b[b.length - 1] = 0;
  return b;
}

/** Encodes an OACK with the accepted options in the given order (RFC 2347 §2). */
export function encodeOack(options: Iterable<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [Buffer.from([0, Opcode.OACK])];
  for (const [k, v] of options) parts.push(Buffer.from(`${k}\0${v}\0`, 'utf8'));
  return Buffer.concat(parts);
}
