/**
 * Reusable ring buffers for TFTP transfers (see transfer.ts: a ring of `header + blksize` slots).
 *
 * A boot storm starts and ends hundreds of transfers within seconds. Allocating a fresh ring per
 * transfer leaves the finished ones as garbage that V8 only frees at its next full collection, so
 * RSS follows the number of transfers, not the number running. Rings here are powers of two (at
 * least 4 KiB) and go back to per-size free lists when a transfer ends, up to `freeCapBytes` kept
 * free; the next transfer of a similar size reuses one.
 *
 * Reuse is safe: a transfer returns its ring only after closing its socket, and closing a UDP
 * socket cancels any send still queued in libuv, so no datagram can be built from a reused ring;
 * and only once no disk read into it is in flight (a transfer that ends mid-read hands the ring
 * back when the read settles), so no read can write into a ring another transfer holds.
 */
const MIN_RING = 4096;

/** A free list of ring buffers by power-of-two size. */
export class RingPool {
  private readonly free = new Map<number, Buffer[]>();
  private freeBytes = 0;

  /** @param freeCapBytes most bytes kept on the free lists (default 8 MiB) */
  constructor(readonly freeCapBytes = 8 * 1024 * 1024) {}

  /** A buffer of at least `bytes` bytes (its length is the next power of two ≥ max(bytes, 4 KiB)). */
  acquire(bytes: number): Buffer {
    let size = MIN_RING;
    while (size < bytes) size *= 2;
    const b = this.free.get(size)?.pop();
    if (b) {
      this.freeBytes -= size;
      return b;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /** Returns a ring from {@link acquire} once nothing refers to it any more. */
  release(b: Buffer): void {
    if (this.freeBytes + b.length > this.freeCapBytes) return;
    let list = this.free.get(b.length);
    if (!list) this.free.set(b.length, (list = []));
    list.push(b);
    this.freeBytes += b.length;
  }

  /** Bytes held on the free lists. */
  get idleBytes(): number {
    return this.freeBytes;
  }
}
