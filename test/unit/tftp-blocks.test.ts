import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  DiskNetasciiSource,
  DiskOctetSource,
  MemorySource,
  toNetascii,
  netasciiSizeOfFile,
} from '../../src/boot/tftp/blocks.js';

const dir = mkdtempSync(join(tmpdir(), 'sx-tftp-blocks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Reads a whole source `n` blocks at a time, as a transfer would. */
async function readAll(
  src: { fill(first: number, slots: Buffer[]): Promise<number> },
  blksize: number,
  n: number,
): Promise<Buffer> {
  const out: Buffer[] = [];
  for (let first = 1; ; first += n) {
    const slots = Array.from({ length: n }, () => Buffer.alloc(blksize));
    const total = await src.fill(first, slots);
    let rem = total;
    for (const s of slots) {
      const len = Math.min(blksize, rem);
      out.push(s.subarray(0, len));
      rem -= len;
    }
    if (total < n * blksize) return Buffer.concat(out);
  }
}

describe('tftp block sources', () => {
  it('netascii: LF → CR LF and CR → CR NUL, also when an expansion straddles a block', async () => {
    const text = Buffer.from('ab\ncd\r\n\r\re\n' + 'x'.repeat(509) + '\n\r' + 'y'.repeat(1000) + '\n');
    const expected = Buffer.from(text.toString('latin1').replace(/\r/g, '\r\0').replace(/\n/g, '\r\n'), 'latin1');
    expect(toNetascii(text)).toEqual(expected);
    const f = join(dir, 'text');
    writeFileSync(f, text);
    for (const blksize of [8, 511, 512, 513]) {
      for (const n of [1, 3]) {
        const got = await readAll(new DiskNetasciiSource(openSync(f, 'r'), blksize), blksize, n);
        expect(got).toEqual(expected);
      }
    }
    expect(await netasciiSizeOfFile(openSync(f, 'r'), text.length, 1 << 20)).toBe(expected.length);
    expect(await netasciiSizeOfFile(openSync(f, 'r'), text.length, 10)).toBeNull();
  });

  it('octet: exact multiples end with an empty block; any block can be read again', async () => {
    const data = Buffer.alloc(4096);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    const f = join(dir, 'bin');
    writeFileSync(f, data);
    const src = new DiskOctetSource(openSync(f, 'r'), 512);
    expect(await readAll(src, 512, 3)).toEqual(data);
    const slot = [Buffer.alloc(512)];
    expect(await src.fill(3, slot)).toBe(512);
    expect(slot[0]).toEqual(data.subarray(1024, 1536));
    expect(await src.fill(9, slot)).toBe(0);
    src.close();
    expect(await readAll(new MemorySource(data, 1000), 1000, 2)).toEqual(data);
  });
});
