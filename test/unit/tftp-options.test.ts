import { describe, it, expect } from 'vitest';
import { negotiateOptions, type NegotiationLimits } from '../../src/boot/tftp/options.js';

const limits: NegotiationLimits = { maxBlksize: 65464, maxWindowsize: 64, defaultTimeoutMs: 1000, transferSize: 12345 };
const opts = (o: Record<string, string>) => new Map(Object.entries(o));

describe('tftp option negotiation (RFC 2347/2348/2349/7440)', () => {
  it('no options: RFC 1350 defaults and no OACK', () => {
    expect(negotiateOptions(new Map(), limits)).toEqual({
      blksize: 512,
      windowsize: 1,
      timeoutMs: 1000,
      timeoutNegotiated: false,
      oack: null,
    });
  });

  it('accepts blksize, tsize, timeout, windowsize in the client order', () => {
    const n = negotiateOptions(opts({ tsize: '0', blksize: '1468', windowsize: '16', timeout: '3' }), limits);
    expect(n).toEqual({
      blksize: 1468,
      windowsize: 16,
      timeoutMs: 3000,
      timeoutNegotiated: true,
      oack: [
        ['tsize', '12345'],
        ['blksize', '1468'],
        ['windowsize', '16'],
        ['timeout', '3'],
      ],
    });
  });

  it('caps blksize by config, by the link MTU and by 65464; ignores < 8 and junk', () => {
    expect(negotiateOptions(opts({ blksize: '65535' }), limits).blksize).toBe(65464);
    expect(negotiateOptions(opts({ blksize: '9000' }), { ...limits, maxBlksize: 4096 }).oack).toEqual([
      ['blksize', '4096'],
    ]);
    expect(negotiateOptions(opts({ blksize: '9000' }), { ...limits, linkBlksize: 1468 }).blksize).toBe(1468);
    expect(negotiateOptions(opts({ blksize: '7' }), limits)).toMatchObject({ blksize: 512, oack: null });
    expect(negotiateOptions(opts({ blksize: '-5' }), limits).oack).toBeNull();
    expect(negotiateOptions(opts({ blksize: '1e3' }), limits).oack).toBeNull();
  });

  it('caps windowsize by config; refuses 0', () => {
    expect(negotiateOptions(opts({ windowsize: '200' }), { ...limits, maxWindowsize: 16 }).oack).toEqual([
      ['windowsize', '16'],
    ]);
    expect(negotiateOptions(opts({ windowsize: '0' }), limits).oack).toBeNull();
  });

  it('timeout only 1..255', () => {
    expect(negotiateOptions(opts({ timeout: '0' }), limits).oack).toBeNull();
    expect(negotiateOptions(opts({ timeout: '256' }), limits).oack).toBeNull();
    expect(negotiateOptions(opts({ timeout: '255' }), limits).timeoutMs).toBe(255_000);
  });

  it('omits tsize when the size is unknown (large netascii) and ignores unknown options', () => {
    expect(
      negotiateOptions(opts({ tsize: '0', multicast: '', rollover: '0' }), { ...limits, transferSize: null }).oack,
    ).toBeNull();
  });
});

describe('window bytes bound (issue 16 finding 6)', () => {
  it('blksize 65464 windowsize 64 is granted only as many blocks as fit max-window-bytes, in either option order', () => {
    const bounded = { ...limits, maxWindowBytes: 256 * 1024 };
    for (const order of [
      { blksize: '65464', windowsize: '64' },
      { windowsize: '64', blksize: '65464' },
    ]) {
      const n = negotiateOptions(opts(order), bounded);
      expect(n.blksize).toBe(65464);
      expect(n.windowsize).toBe(4);
      expect(n.windowsize * n.blksize).toBeLessThanOrEqual(256 * 1024);
      expect(new Map(n.oack)).toEqual(
        new Map([
          ['blksize', '65464'],
          ['windowsize', '4'],
        ]),
      );
    }
    // Small blocks keep the whole window; a block larger than the bound still gets windowsize 1.
    expect(negotiateOptions(opts({ blksize: '1468', windowsize: '16' }), bounded).windowsize).toBe(16);
    expect(
      negotiateOptions(opts({ blksize: '65464', windowsize: '8' }), { ...limits, maxWindowBytes: 512 }).windowsize,
    ).toBe(1);
  });

  it('timeout=255 is accepted on the wire (RFC 2349 range)', () => {
    expect(negotiateOptions(opts({ timeout: '255' }), limits)).toMatchObject({
      timeoutMs: 255_000,
      timeoutNegotiated: true,
      oack: [['timeout', '255']],
    });
  });
});
