/**
 * Block sources: where a transfer's DATA payloads come from, a run of consecutive blocks at a
 * time, written straight into the transfer's preallocated slot buffers.
 *
 *  - {@link DiskOctetSource}: positional scatter reads (`fs.readv`) from an open file descriptor;
 *    any block can be read again (go-back after loss), nothing is kept beyond the caller's slots.
 *  - {@link DiskNetasciiSource}: sequential read + netascii conversion (RFC 1350 / RFC 764:
 *    LF → CR LF, CR → CR NUL) with a 64 KiB read buffer; blocks must be requested in order.
 *  - {@link MemorySource}: a small in-memory file (rendered per host), octet or pre-converted.
 *
 * A source never reads a whole file into memory (except MemorySource, whose data already is).
 */
import { open, read, readv, close, type PathLike } from 'node:fs';

/** `fs.readv` as a promise of the byte count. */
function readvAsync(fd: number, buffers: Buffer[], position: number): Promise<number> {
  return new Promise((res, rej) => readv(fd, buffers, position, (err, n) => (err ? rej(err) : res(n))));
}

/** `fs.read` as a promise of the byte count. */
function readAsync(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((res, rej) => read(fd, buffer, offset, length, position, (err, n) => (err ? rej(err) : res(n))));
}

/**
 * A sequence of blocks of `blksize` bytes (the last one shorter, possibly empty).
 * `fill` writes the bytes of blocks `first`, `first+1`, … into `slots` (each exactly `blksize`
 * long) and resolves to the number of bytes written in all; fewer than `slots.length * blksize`
 * means the end of the file was reached.
 */
export interface BlockSource {
  /**
   * @param first absolute block number (1-based, no 16-bit wrap) of `slots[0]`
   * @param slots destination views, one per block, each `blksize` bytes
   * @throws NodeJS.ErrnoException on read errors
   */
  fill(first: number, slots: Buffer[]): Promise<number>;
  /** Releases the file descriptor; idempotent. */
  close(): void;
}

/** Octet mode from an open file: block n starts at byte (n − 1) × blksize. */
export class DiskOctetSource implements BlockSource {
  private closed = false;
  constructor(
    private readonly fd: number,
    private readonly blksize: number,
  ) {}

  async fill(first: number, slots: Buffer[]): Promise<number> {
    let position = (first - 1) * this.blksize;
    const want = slots.length * this.blksize;
    let total = await readvAsync(this.fd, slots, position);
    // Short reads before EOF are legal; continue until the slots are full or a read returns 0.
    while (total > 0 && total < want) {
      position = (first - 1) * this.blksize + total;
      const rest = remainingViews(slots, total, this.blksize);
      const n = await readvAsync(this.fd, rest, position);
      if (n === 0) break;
      total += n;
    }
    return total;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd, () => undefined);
  }
}

/** Views of `slots` after the first `done` bytes (for continuing a short scatter read). */
function remainingViews(slots: Buffer[], done: number, blksize: number): Buffer[] {
  const i = Math.floor(done / blksize);
  const out: Buffer[] = [slots[i]!.subarray(done - i * blksize)];
  for (let j = i + 1; j < slots.length; j++) out.push(slots[j]!);
  return out;
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * Netascii conversion from an open file, sequential. Holds a 64 KiB read buffer and at most one
 * pending output byte (the second byte of an expansion that did not fit the previous block).
 */
export class DiskNetasciiSource implements BlockSource {
  private readonly buf = Buffer.allocUnsafe(65536);
  private bufPos = 0;
  private bufLen = 0;
  private filePos = 0;
  private eof = false;
  private pending = -1;
  private nextBlock = 1;
  private closed = false;

  constructor(
    private readonly fd: number,
    private readonly blksize: number,
  ) {}

  async fill(first: number, slots: Buffer[]): Promise<number> {
    if (first !== this.nextBlock)
      throw new Error(`netascii blocks must be read in order (asked ${first}, next ${this.nextBlock})`);
    let total = 0;
    for (const slot of slots) {
      let o = 0;
      if (this.pending >= 0) {
        slot[o++] = this.pending;
        this.pending = -1;
      }
      while (o < this.blksize) {
        if (this.bufPos >= this.bufLen) {
          if (this.eof) break;
          this.bufLen = await readAsync(this.fd, this.buf, 0, this.buf.length, this.filePos);
          this.bufPos = 0;
          this.filePos += this.bufLen;
          if (this.bufLen === 0) {
            this.eof = true;
            break;
          }
        }
        const c = this.buf[this.bufPos++]!;
        if (c === LF || c === CR) {
          slot[o++] = CR;
          const second = c === LF ? LF : 0;
          if (o < this.blksize) slot[o++] = second;
          else this.pending = second;
        } else {
          slot[o++] = c;
        }
      }
      total += o;
      this.nextBlock++;
      if (o < this.blksize) break;
    }
    return total;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd, () => undefined);
  }
}

/** An in-memory file (already converted for netascii when needed). */
export class MemorySource implements BlockSource {
  constructor(
    private readonly data: Buffer,
    private readonly blksize: number,
  ) {}

  fill(first: number, slots: Buffer[]): Promise<number> {
    let pos = (first - 1) * this.blksize;
    let total = 0;
    for (const slot of slots) {
      const n = Math.max(0, Math.min(this.blksize, this.data.length - pos));
      if (n > 0) this.data.copy(slot, 0, pos, pos + n);
      total += n;
      pos += n;
      if (n < this.blksize) break;
    }
    return Promise.resolve(total);
  }

  close(): void {
    /* nothing to release */
  }
}

/** Converts a whole (small) buffer to netascii: LF → CR LF, CR → CR NUL. */
export function toNetascii(data: Buffer): Buffer {
  let extra = 0;
  for (const c of data) if (c === LF || c === CR) extra++;
  if (extra === 0) return data;
  const out = Buffer.allocUnsafe(data.length + extra);
  let o = 0;
  for (const c of data) {
    if (c === LF) {
      out[o++] = CR;
      out[o++] = LF;
    } else if (c === CR) {
      out[o++] = CR;
      out[o++] = 0;
    } else {
      out[o++] = c;
    }
  }
  return out;
}

/**
 * Size in bytes of a file after netascii conversion, by reading it in 64 KiB chunks.
 * @param limit files larger than this many bytes are not scanned (returns null: tsize omitted)
 */
export async function netasciiSizeOfFile(fd: number, size: number, limit: number): Promise<number | null> {
  if (size > limit) return null;
  const buf = Buffer.allocUnsafe(65536);
  let pos = 0;
  let extra = 0;
  for (;;) {
    const n = await readAsync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    for (let i = 0; i < n; i++) {
      const c = buf[i];
      if (c === LF || c === CR) extra++;
    }
    pos += n;
    if (pos > limit) return null;
  }
  return pos + extra;
}

/** Opens a file read-only. @throws NodeJS.ErrnoException (ENOENT, EACCES, EISDIR on read …) */
export function openReadOnly(path: PathLike): Promise<number> {
  return new Promise((resolveFd, reject) => open(path, 'r', (err, fd) => (err ? reject(err) : resolveFd(fd))));
}
