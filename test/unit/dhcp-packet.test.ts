/**
 * DHCP codec and client facts against real firmware packets (test/fixtures/pxe-captures,
 * captured from QEMU SeaBIOS+iPXE, OVMF+iPXE and OVMF native PXE), plus encoder round trips,
 * overload, long options and strict decoding of bad input (fast-check generated).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import {
  DhcpDecodeError,
  MAX_DECODE_SIZE,
  MAX_OPTION_BYTES,
  MessageType,
  Opt,
  decodePacket,
  encodePacket,
  macOf,
  type DhcpPacket,
} from '../../src/boot/dhcp/packet.js';
import { clientInfoOf, parseUserClass, firmwareLabel } from '../../src/boot/dhcp/client-info.js';
import { dhcpPackets } from '../helpers/pxe-captures.js';
import { bootRequest } from '../helpers/dhcp-harness.js';

const UUID = '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b';

describe('decoding real firmware captures', () => {
  it('SeaBIOS + iPXE: options 60, 93, 94, 97, 77, 61, 175', () => {
    const pkts = dhcpPackets('bios-seabios-ipxe.pcap');
    expect(pkts.length).toBe(6);
    const c = clientInfoOf(pkts[0]!);
    expect(c.mac).toBe('52:54:00:12:34:56');
    expect(c.messageType).toBe(MessageType.DISCOVER);
    expect(c.vendorClass).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(c.isPxeClient).toBe(true);
    expect(c.arch).toBe(0);
    expect(c.ndi).toEqual({ type: 1, major: 2, minor: 1 });
    expect(c.uuid).toBe(UUID);
    expect(c.userClasses).toEqual(['iPXE']);
    expect(c.isIpxe).toBe(true);
    expect(c.clientId).toBe('01525400123456');
    expect(c.maxMessageSize).toBe(1472);
    expect(c.ipxeOptions?.get(235)).toBeDefined(); // iPXE version
    expect(c.parameterRequestList).toContain(67);
    expect(firmwareLabel(c)).toBe('ipxe');
    const req = clientInfoOf(pkts[4]!);
    expect(req.messageType).toBe(MessageType.REQUEST);
    expect(req.serverId).toBe('10.99.0.1');
    expect(req.requestedAddress).toBe('10.99.0.157');
    // dnsmasq's reply: option 67 pxelinux.0, siaddr = next-server
    const offer = pkts[1]!;
    expect(offer.op).toBe(2);
    expect(offer.yiaddr).toBe('10.99.0.157');
    expect(offer.siaddr).toBe('10.99.0.1');
    // dnsmasq NUL-terminates option 67 (some PXE ROMs need it); so do we for TFTP paths
    expect(offer.options.get(Opt.BOOTFILE_NAME)?.toString()).toBe('pxelinux.0\0');
  });

  it('OVMF + iPXE: arch 7, UNDI 3.10, user class iPXE', () => {
    const c = clientInfoOf(dhcpPackets('uefi-ovmf-ipxe.pcap')[0]!);
    expect(c.vendorClass).toBe('PXEClient:Arch:00007:UNDI:003010');
    expect(c.arch).toBe(7);
    expect(c.ndi).toEqual({ type: 1, major: 3, minor: 10 });
    expect(c.isIpxe).toBe(true);
    expect(c.uuid).toBe(UUID);
  });

  it('OVMF native PXE: arch 7, no 77/61, broadcast flag; syslinux re-DHCP has no PXE options', () => {
    const pkts = dhcpPackets('uefi-ovmf-native-pxe.pcap');
    const c = clientInfoOf(pkts[0]!);
    expect(c.vendorClass).toBe('PXEClient:Arch:00007:UNDI:003000');
    expect(c.arch).toBe(7);
    expect(c.userClasses).toEqual([]);
    expect(c.isIpxe).toBe(false);
    expect(c.clientId).toBeUndefined();
    expect(c.broadcast).toBe(true);
    expect(c.uuid).toBe(UUID);
    expect(firmwareLabel(c)).toBe('uefi');
    // RFC 4578 §2.1 arch types: each CPU its own label (IA32 and ARM32 UEFI cannot run x64/arm64 loaders).
    expect([0, 6, 7, 9, 10, 11, 16, 99, undefined].map((arch) => firmwareLabel({ arch, isIpxe: false }))).toEqual([
      'bios',
      'uefi-ia32',
      'uefi',
      'uefi',
      'uefi-arm32',
      'uefi-arm64',
      'uefi-http',
      'other',
      'none',
    ]);
    const again = pkts.map(clientInfoOf).filter((x) => x.messageType === MessageType.DISCOVER && !x.vendorClass);
    expect(again.length).toBe(1);
    expect(again[0]!.mac).toBe('52:54:00:12:34:56');
    expect(again[0]!.arch).toBeUndefined();
    expect(again[0]!.uuid).toBeUndefined();
  });

  it('every captured packet survives an encode/decode round trip', () => {
    for (const f of ['bios-seabios-ipxe.pcap', 'uefi-ovmf-ipxe.pcap', 'uefi-ovmf-native-pxe.pcap']) {
      for (const p of dhcpPackets(f)) {
        const back = decodePacket(encodePacket(p, 1472).buffer);
        expect(back.xid).toBe(p.xid);
        expect(macOf(back)).toBe(macOf(p));
        expect([...back.options.keys()].sort()).toEqual([...p.options.keys()].sort());
        for (const [k, v] of p.options) expect(back.options.get(k)!.equals(v)).toBe(true);
      }
    }
  });
});

/** A BOOTREQUEST from 52:54:00:aa:bb:cc (xid 0x12345678) carrying exactly `options`, in that order. */
function request(options: Array<[number, Buffer]>): DhcpPacket {
  return bootRequest(MessageType.DISCOVER, '52:54:00:aa:bb:cc', [], { xid: 0x12345678, options: new Map(options) });
}

describe('encoder', () => {
  it('pads to the 300-byte BOOTP minimum and ends with END', () => {
    const b = encodePacket(request([[Opt.MESSAGE_TYPE, Buffer.from([1])]])).buffer;
    expect(b.length).toBe(300);
    expect(b.readUInt32BE(236)).toBe(0x63825363);
    expect([...b.subarray(240, 244)]).toEqual([53, 1, 1, 255]);
  });

  it('splits options over 255 bytes and decodes them concatenated (RFC 3396)', () => {
    const long = Buffer.alloc(600, 7);
    const enc = encodePacket(
      request([
        [Opt.MESSAGE_TYPE, Buffer.from([2])],
        [Opt.VENDOR_SPECIFIC, long],
      ]),
      1472,
    ).buffer;
    let n = 0;
    for (let i = 240; enc[i] !== 255; i += 2 + enc[i + 1]!) if (enc[i] === Opt.VENDOR_SPECIFIC) n++;
    expect(n).toBe(3);
    expect(decodePacket(enc).options.get(Opt.VENDOR_SPECIFIC)!.equals(long)).toBe(true);
  });

  it('uses file/sname (option 52) when options exceed the client maximum, and reports what it left out', () => {
    const opts: Array<[number, Buffer]> = [
      [Opt.MESSAGE_TYPE, Buffer.from([2])],
      [Opt.SERVER_ID, Buffer.from([10, 0, 0, 1])],
    ];
    for (let code = 200; code < 206; code++) opts.push([code, Buffer.alloc(60, code)]);
    const res = encodePacket(request(opts), 300);
    expect(res.buffer.length).toBeLessThanOrEqual(300);
    const back = decodePacket(res.buffer);
    expect(back.options.get(Opt.OVERLOAD)?.[0]).toBeGreaterThan(0);
    const kept = [...back.options.keys()].filter((k) => k >= 200);
    expect(kept.length + res.dropped.length).toBe(6);
    expect(back.options.get(Opt.MESSAGE_TYPE)?.[0]).toBe(2);
    for (const k of kept) expect(back.options.get(k)!.equals(Buffer.alloc(60, k))).toBe(true);
  });

  it('never exceeds the maximum message size', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 254 }), fc.uint8Array({ maxLength: 300 })), { maxLength: 20 }),
        fc.integer({ min: 300, max: 1500 }),
        (opts, max) => {
          const res = encodePacket(request(opts.map(([c, v]) => [c, Buffer.from(v)])), max);
          expect(res.buffer.length).toBeLessThanOrEqual(max);
          decodePacket(res.buffer);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('strict decoding', () => {
  const good = encodePacket(
    request([
      [Opt.MESSAGE_TYPE, Buffer.from([1])],
      [Opt.CLIENT_GUID, Buffer.alloc(17, 1)],
    ]),
  ).buffer;
  const reason = (b: Buffer) => {
    try {
      decodePacket(b);
      return 'ok';
    } catch (e) {
      return (e as DhcpDecodeError).reason;
    }
  };

  it('names truncated, bad cookie, overrun and oversized messages', () => {
    expect(reason(good)).toBe('ok');
    expect(reason(good.subarray(0, 100))).toBe('truncated');
    const cookie = Buffer.from(good);
    cookie[236] = 0;
    expect(reason(cookie)).toBe('bad-magic-cookie');
    const overrun = Buffer.from(good.subarray(0, 246));
    overrun[243] = 40; // option 97 claims 40 bytes
    expect(reason(overrun)).toBe('option-overrun');
    const big = Buffer.concat([
      good.subarray(0, 240),
      Buffer.from([53, 1, 1]),
      Buffer.alloc(1400, 0),
      Buffer.from([255]),
    ]);
    expect(reason(big)).toBe('oversized');
    const allowed = Buffer.concat([
      good.subarray(0, 240),
      Buffer.from([53, 1, 1, 57, 2, 0x07, 0x00]),
      Buffer.alloc(1400, 0),
      Buffer.from([255]),
    ]);
    expect(reason(allowed)).toBe('ok');
  });

  it('random bytes either decode or fail with a DhcpDecodeError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1600 }), fc.boolean(), (bytes, withCookie) => {
        const b = Buffer.from(bytes);
        if (withCookie && b.length >= 240) b.writeUInt32BE(0x63825363, 236);
        try {
          const p = decodePacket(b);
          clientInfoOf(p);
        } catch (e) {
          expect(e).toBeInstanceOf(DhcpDecodeError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('hostile datagrams (issue 16, finding 7)', () => {
  const header = encodePacket(request([[Opt.MESSAGE_TYPE, Buffer.from([1])]])).buffer.subarray(0, 240);
  /** A message of `n` one-byte pieces of option 60 (RFC 3396 split), with option 57 = `mms`. */
  const onePieces = (n: number, mms: number) => {
    const body = Buffer.alloc(n * 3);
    for (let k = 0; k < n; k++) body.set([Opt.VENDOR_CLASS_ID, 1, 0x41 + (k % 26)], k * 3);
    return Buffer.concat([header, Buffer.from([53, 1, 1, 57, 2, mms >> 8, mms & 255]), body, Buffer.from([255])]);
  };
  const reason = (b: Buffer) => {
    try {
      decodePacket(b);
      return 'ok';
    } catch (e) {
      return (e as DhcpDecodeError).reason;
    }
  };
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('refuses a 65 KB datagram by its size before reading any option, whatever option 57 allows', () => {
    const big = onePieces(21_700, 0xffff); // 65,351 bytes of 1-byte pieces: the review's datagram
    expect(big.length).toBeGreaterThan(65_000);
    const concat = vi.spyOn(Buffer, 'concat');
    expect(reason(big)).toBe('oversized');
    expect(concat).not.toHaveBeenCalled();
    expect(() => decodePacket(big)).toThrow(`over the ${MAX_DECODE_SIZE} decoded at all`);
  });

  it('joins the pieces of a split option once, in wire order (options, then file, then sname)', () => {
    const n = 1000; // 3,247 bytes: under MAX_DECODE_SIZE, 1,000 value bytes
    const msg = onePieces(n, 4096);
    const concat = vi.spyOn(Buffer, 'concat');
    const p = decodePacket(msg);
    expect(concat).toHaveBeenCalledTimes(1); // one copy for option 60, not one per piece
    const want = Array.from({ length: n }, (_, k) => String.fromCharCode(0x41 + (k % 26))).join('');
    expect(p.options.get(Opt.VENDOR_CLASS_ID)!.toString('latin1')).toBe(want);
    // overload (52 = 3): the file field's pieces come after the options field's, then sname's
    const over = Buffer.from(header);
    over.fill(0, 44, 236);
    over.set([60, 2, 0x66, 0x66, 255], 108); // file
    over.set([60, 1, 0x73, 255], 44); // sname
    const joined = decodePacket(Buffer.concat([over, Buffer.from([53, 1, 1, 52, 1, 3, 60, 1, 0x6f, 255])]));
    expect(joined.options.get(Opt.VENDOR_CLASS_ID)!.toString('latin1')).toBe('offs');
  });

  it(`caps the options at ${MAX_OPTION_BYTES} value bytes in all`, () => {
    const opts = Array.from({ length: 9 }, (_, k) => [200 + k, 255, ...Buffer.alloc(255, k)]).flat();
    const msg = Buffer.concat([header, Buffer.from([53, 1, 1, 57, 2, 0x10, 0x00, ...opts, 255])]);
    expect(msg.length).toBeLessThanOrEqual(MAX_DECODE_SIZE);
    expect(reason(msg)).toBe('options-too-large');
    // 8 options of 255 bytes (2,043 value bytes with 53 and 57) still decode
    const fits = Buffer.concat([header, Buffer.from([53, 1, 1, 57, 2, 0x10, 0x00, ...opts.slice(0, 8 * 257), 255])]);
    expect(reason(fits)).toBe('ok');
  });
});

describe('user class (77)', () => {
  it('reads RFC 3004 lists and the raw string iPXE sends', () => {
    expect(parseUserClass(Buffer.from('iPXE'))).toEqual(['iPXE']);
    expect(parseUserClass(Buffer.from([4, ...Buffer.from('iPXE'), 3, ...Buffer.from('foo')]))).toEqual(['iPXE', 'foo']);
    expect(parseUserClass(Buffer.alloc(0))).toEqual([]);
  });
});
