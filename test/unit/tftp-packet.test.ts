import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  decodePacket,
  encodeRequest,
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  writeDataHeader,
  Opcode,
  ErrorCode,
} from '../../src/boot/tftp/packet.js';

describe('tftp packet codec (RFC 1350 §5, RFC 2347)', () => {
  it('round-trips RRQ with options (names lower-cased, first occurrence wins)', () => {
    const buf = encodeRequest(Opcode.RRQ, 'mboot.c32', 'OCTET', [
      ['BLKSIZE', '1468'],
      ['tsize', '0'],
      ['blksize', '9'],
    ]);
    const d = decodePacket(buf);
    expect(d).toEqual({
      ok: true,
      packet: {
        op: Opcode.RRQ,
        filename: 'mboot.c32',
        mode: 'octet',
        options: new Map([
          ['blksize', '1468'],
          ['tsize', '0'],
        ]),
      },
    });
  });

  it('decodes WRQ, DATA, ACK, ERROR, OACK', () => {
    expect(decodePacket(encodeRequest(Opcode.WRQ, 'x', 'netascii'))).toMatchObject({
      ok: true,
      packet: { op: Opcode.WRQ, filename: 'x', mode: 'netascii' },
    });
    expect(decodePacket(encodeData(65535, Buffer.from('abc')))).toMatchObject({
      ok: true,
      packet: { op: Opcode.DATA, block: 65535, data: Buffer.from('abc') },
    });
    expect(decodePacket(encodeAck(70000))).toEqual({ ok: true, packet: { op: Opcode.ACK, block: 70000 & 0xffff } });
    expect(decodePacket(encodeError(ErrorCode.FILE_NOT_FOUND, 'File not found'))).toEqual({
      ok: true,
      packet: { op: Opcode.ERROR, code: 1, message: 'File not found' },
    });
    expect(
      decodePacket(
        encodeOack([
          ['blksize', '1468'],
          ['windowsize', '16'],
        ]),
      ),
    ).toEqual({
      ok: true,
      packet: {
        op: Opcode.OACK,
        options: new Map([
          ['blksize', '1468'],
          ['windowsize', '16'],
        ]),
      },
    });
  });

  it('writes the DATA header with 16-bit rollover', () => {
    const b = Buffer.alloc(8);
    writeDataHeader(b, 2, 65536 + 7);
    expect([...b.subarray(2, 6)]).toEqual([0, 3, 0, 7]);
  });

  it.each([
    ['empty', Buffer.alloc(0), 'truncated'],
    ['one byte', Buffer.from([0]), 'truncated'],
    ['RRQ without NUL', Buffer.from('\x00\x01file'), 'truncated'],
    ['RRQ without mode', Buffer.from('\x00\x01file\x00'), 'truncated'],
    ['RRQ option without value', Buffer.from('\x00\x01file\x00octet\x00blksize\x00'), 'malformed'],
    [
      'RRQ too long',
      Buffer.concat([Buffer.from('\x00\x01'), Buffer.alloc(2000, 0x41), Buffer.from('\x00octet\x00')]),
      'oversized',
    ],
    ['short ACK', Buffer.from([0, 4, 0]), 'truncated'],
    ['long ACK', Buffer.from([0, 4, 0, 1, 0]), 'oversized'],
    ['short DATA', Buffer.from([0, 3, 0]), 'truncated'],
    ['huge DATA', Buffer.alloc(70000, 0).fill(3, 1, 2), 'oversized'],
    ['short ERROR', Buffer.from([0, 5, 0]), 'truncated'],
    ['opcode 9', Buffer.from([0, 9, 0, 0]), 'unknown-opcode'],
  ])('rejects %s as %s', (_name, buf, reason) => {
    const d = decodePacket(buf);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error.reason).toBe(reason);
  });

  it('keeps a NUL embedded in the file name so the path check can refuse it', () => {
    const d = decodePacket(Buffer.from('\x00\x01pxelinux.0\x00../../etc/passwd\x00octet\x00tsize\x000\x00', 'latin1'));
    expect(d).toMatchObject({
      ok: true,
      packet: { filename: 'pxelinux.0\0../../etc/passwd', mode: 'octet', options: new Map([['tsize', '0']]) },
    });
  });

  it('an unknown mode with no known mode after it is kept as the mode', () => {
    expect(decodePacket(Buffer.from('\x00\x01f\x00mail2\x00'))).toMatchObject({
      ok: true,
      packet: { filename: 'f', mode: 'mail2' },
    });
  });

  it('never throws on random datagrams', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), fc.constantFrom(1, 2, 3, 4, 5, 6, 7), (bytes, op) => {
        const buf = Buffer.from(bytes);
        if (buf.length >= 2) buf.writeUInt16BE(op, 0);
        const d = decodePacket(buf);
        expect(typeof d.ok).toBe('boolean');
      }),
      { numRuns: 3000 },
    );
  });
});
