import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  parsePhoneHomeLine,
  phoneHomeFromFields,
  MAX_MESSAGE_BYTES,
  PARSE_ERROR_REASONS,
} from '../../src/phonehome/parse.js';

const U = '4c4c4544-0042-4610-8053-b3c04f345433';
const W = '44454c4c-4200-1046-8053-b3c04f345433';
const b = (s: string) => Buffer.from(s, 'utf8');

describe('phone-home line parser', () => {
  it('accepts the 1.0 form (bare UUID, no newline) in any UUID spelling', () => {
    for (const text of [U, U.toUpperCase(), U.replace(/-/g, ''), `{${U}}`, `${U}\n`, `${U}\r\n`, `  ${U}  `]) {
      const r = parsePhoneHomeLine(b(text));
      expect(r.ok, text).toBe(true);
      if (r.ok) expect(r.message).toEqual({ form: '1.0', uuid: { smbios: U, wire: W }, macs: [] });
    }
  });

  it('accepts the 1.1 form hostname:uuid and lower-cases the host name', () => {
    const r = parsePhoneHomeLine(b(`ESX01.lab.example:${U}`));
    expect(r).toEqual({
      ok: true,
      message: { form: '1.1', uuid: { smbios: U, wire: W }, hostname: 'esx01.lab.example', macs: [] },
    });
    const empty = parsePhoneHomeLine(b(`:${U}`));
    expect(empty.ok && empty.message.hostname).toBe(undefined);
  });

  it('accepts the extension with percent-encoded values and repeated mac keys', () => {
    const r = parsePhoneHomeLine(
      b(
        `esx01:${U} token=abc_-DEF mac=00-50-56-AA-BB-CC mac=00:50:56:aa:bb:dd serial=3BFS4T3 vendor=Dell%20Inc. model=PowerEdge%20R750xs version=initiator.sh/1.0\n`,
      ),
    );
    expect(r).toEqual({
      ok: true,
      message: {
        form: 'extension',
        uuid: { smbios: U, wire: W },
        hostname: 'esx01',
        token: 'abc_-DEF',
        macs: ['00:50:56:aa:bb:cc', '00:50:56:aa:bb:dd'],
        serial: '3BFS4T3',
        vendor: 'Dell Inc.',
        model: 'PowerEdge R750xs',
        version: 'initiator.sh/1.0',
      },
    });
  });

  it('refuses bad input with a reason code and a detail naming the field', () => {
    const cases: Array<[string | Buffer, string, RegExp]> = [
      ['', 'empty', /empty/],
      ['   \r\n', 'empty', /empty/],
      ['not-a-uuid', 'bad-uuid', /uuid: "not-a-uuid" is not a UUID/],
      ['00000000-0000-0000-0000-000000000000', 'nil-uuid', /nil UUID/],
      ['ffffffffffffffffffffffffffffffff', 'nil-uuid', /nil UUID/],
      [`a:b:${U}`, 'syntax', /one colon/],
      [`bad_host!:${U}`, 'bad-hostname', /RFC 1123/],
      [`esx:${U} color=blue`, 'unknown-key', /unknown key "color"/],
      [`esx:${U} serial=a serial=b`, 'duplicate-key', /"serial" given twice/],
      [`esx:${U} serial`, 'syntax', /field 2 "serial": expected key=value/],
      [`esx:${U} mac=zz:zz`, 'bad-mac', /not a MAC/],
      [`esx:${U} vendor=%E0%A4%A`, 'bad-value', /percent-encoding/],
      [`esx:${U} vendor=a%0Ab`, 'bad-value', /control character/],
      [`esx:${U} token=`, 'bad-value', /token/],
      [Buffer.from([0x65, 0x73, 0x78, 0x3a, 0xc3, 0x28]), 'encoding', /UTF-8/],
      [`${U}\nsecond`, 'syntax', /one line/],
      [`${U}\u0000`, 'syntax', /control/],
      ['x'.repeat(MAX_MESSAGE_BYTES + 1), 'oversized', /1025 bytes/],
    ];
    for (const [input, reason, detail] of cases) {
      const r = parsePhoneHomeLine(typeof input === 'string' ? b(input) : input);
      expect(r.ok, String(input)).toBe(false);
      if (!r.ok) {
        expect(r.reason, String(input)).toBe(reason);
        expect(r.detail, String(input)).toMatch(detail);
      }
    }
  });

  it('tolerates a UTF-8 byte order mark (Windows-written scripts)', () => {
    expect(parsePhoneHomeLine(Buffer.from([0xef, 0xbb, 0xbf, ...b(U)]))).toMatchObject({
      ok: true,
      message: { uuid: { smbios: U } },
    });
  });

  it('accepts exactly MAX_MESSAGE_BYTES bytes plus the terminator', () => {
    const head = `h:${U} serial=`;
    const line = head + 'x'.repeat(256) + ' model=' + 'y'.repeat(256) + ' vendor=' + 'z'.repeat(256);
    const pad = ' version=' + 'v'.repeat(MAX_MESSAGE_BYTES - line.length - ' version='.length);
    const full = line + pad;
    expect(Buffer.byteLength(full)).toBe(MAX_MESSAGE_BYTES);
    expect(parsePhoneHomeLine(b(full + '\r\n')).ok).toBe(true);
  });

  it('validates HTTP fields with the same rules', () => {
    expect(phoneHomeFromFields({ uuid: U, mac: 'aabbccddeeff' })).toMatchObject({
      ok: true,
      message: { form: 'http', macs: ['aa:bb:cc:dd:ee:ff'] },
    });
    expect(phoneHomeFromFields({ uuid: '0' })).toMatchObject({ ok: false, reason: 'bad-uuid' });
    expect(phoneHomeFromFields({ uuid: U, vendor: 'a\u2028b' })).toMatchObject({ ok: false, reason: 'bad-value' });
  });

  it('never throws on arbitrary bytes, and every refusal has a known reason (property, 3000 runs)', () => {
    const reasons = new Set<string>(PARSE_ERROR_REASONS);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), (bytes) => {
        const r = parsePhoneHomeLine(bytes);
        return r.ok ? /^[0-9a-f-]{36}$/.test(r.message.uuid.smbios) : reasons.has(r.reason) && r.detail.length > 0;
      }),
      { numRuns: 3000 },
    );
    // valid heads with random extension text
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (tail) => {
        const r = parsePhoneHomeLine(b(`esx:${U} ${tail}`));
        return r.ok ? r.message.uuid.smbios === U : reasons.has(r.reason);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('phone-home thumbprints (the host certificate, issue 21)', () => {
  const SHA256 = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0')).join(':');
  const SHA1 = Array.from({ length: 20 }, (_, i) => (255 - i).toString(16).padStart(2, '0')).join(':');

  it('accepts thumbprint= (SHA-256) and thumbprint-sha1= in colon hex, normalised to upper case', () => {
    const r = parsePhoneHomeLine(b(`esx:${U} token=abc thumbprint=${SHA256} thumbprint-sha1=${SHA1}`));
    expect(r).toMatchObject({
      ok: true,
      message: { thumbprint: SHA256.toUpperCase(), thumbprintSha1: SHA1.toUpperCase() },
    });
    const h = phoneHomeFromFields({ uuid: U, thumbprint: SHA256, 'thumbprint-sha1': SHA1 });
    expect(h).toMatchObject({ ok: true, message: { thumbprint: SHA256.toUpperCase() } });
  });

  it.each([
    ['a SHA-1 given as thumbprint', `thumbprint=${SHA1}`],
    ['a SHA-256 given as thumbprint-sha1', `thumbprint-sha1=${SHA256}`],
    ['no colons', `thumbprint=${SHA256.replace(/:/g, '')}`],
    ['dashes', `thumbprint=${SHA256.replace(/:/g, '-')}`],
    ['a non-hex digit', `thumbprint=${SHA256.replace(/^../, 'zz')}`],
    ['a trailing colon', `thumbprint=${SHA256}:`],
    ['one byte too many', `thumbprint=${SHA256}:00`],
    ['a percent-encoded newline', `thumbprint=${SHA256.slice(0, -2)}%0a`],
    ['a single digit byte', `thumbprint=${SHA256.slice(0, -2)}0`],
  ])('refuses %s', (_what, kv) => {
    const r = parsePhoneHomeLine(b(`esx:${U} ${kv}`));
    expect(r).toMatchObject({ ok: false, reason: 'bad-value' });
  });

  it('refuses the key twice', () => {
    const r = parsePhoneHomeLine(b(`esx:${U} thumbprint=${SHA256} thumbprint=${SHA256}`));
    expect(r).toMatchObject({ ok: false, reason: 'duplicate-key' });
  });
});
