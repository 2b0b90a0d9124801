/**
 * Streaming a byte range of a file into an HTTP response with reused read buffers.
 *
 * `fs.createReadStream` allocates a fresh Buffer per chunk that only the garbage collector returns,
 * so 500 concurrent downloads in a boot storm hold (streams × GC lag) of dead chunks and the server
 * spends its CPU in `malloc`/GC. Here each response has at most two buffers in flight (one being
 * read with `fs.read`, one being written to the socket); a buffer goes back to a shared
 * {@link ReadBufferPool} when the socket's write callback says the kernel has it. Buffer size
 * shrinks with the number of active responses so the whole pool stays within its byte budget
 * (16 MiB by default: 1 MiB reads for up to 8 downloads, 16 KiB each at 500).
 */
import { close, open, read } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { sendRange, socketFd, type Sendfile } from './sendfile.js';

/** Size classes, bytes: 16 KiB … 1 MiB, powers of two. */
const MIN_CHUNK = 16 * 1024;
const MAX_CHUNK = 1024 * 1024;

/**
 * Reusable read buffers shared by every streaming response, with a byte budget.
 *
 * `chunkSize()` is the largest power of two in [16 KiB, 1 MiB] such that every active stream can
 * hold two buffers within `budgetBytes`. Free buffers are kept only in the current size class and
 * only up to a quarter of the budget: when the number of streams changes the class, the old free
 * buffers are dropped at once rather than kept "just in case" — so in steady state every read
 * reuses a buffer and the garbage collector has nothing to do (garbage Buffers are what made RSS
 * grow with the number of downloads).
 */
export class ReadBufferPool {
  private free: Buffer[] = [];
  private freeSize = 0;
  /** Responses currently streaming (each may hold two buffers). */
  active = 0;

  /** @param budgetBytes total bytes of buffers in use and kept free, default 16 MiB */
  constructor(readonly budgetBytes = 16 * 1024 * 1024) {}

  /** The buffer size for a new read given the current number of active streams, bytes. */
  chunkSize(): number {
    const fair = this.budgetBytes / (2 * Math.max(1, this.active));
    let size = MAX_CHUNK;
    while (size > MIN_CHUNK && size > fair) size >>= 1;
    return size;
  }

  /** A buffer of exactly `size` bytes (from {@link chunkSize}), reused when one is free. */
  acquire(size: number): Buffer {
    if (size === this.freeSize) {
      const b = this.free.pop();
      if (b) return b;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /** Returns a buffer obtained from {@link acquire}; kept when it is of the current size and the free list has room. */
  release(b: Buffer): void {
    const size = this.chunkSize();
    if (b.length !== size) return;
    if (this.freeSize !== size) {
      this.free = [];
      this.freeSize = size;
    }
    if ((this.free.length + 1) * size <= this.budgetBytes / 4) this.free.push(b);
  }

  /** Bytes held on the free list (for tests and metrics). */
  get idleBytes(): number {
    return this.free.length * this.freeSize;
  }
}

/**
 * Opens the file at `path`, calls `onOpen` (where the caller sets the status and headers of `res`;
 * they are sent with the first chunk), then writes bytes `start`..`end` (inclusive) and ends `res`.
 *
 * Reads of the next chunk overlap the socket write of the previous one. A read error after the
 * headers went out destroys the response (the client sees a short body against `Content-Length`,
 * never a silently truncated success). A client that disconnects stops the reads.
 *
 * @param onWritten called with the byte count of each chunk the socket accepted (its write
 *   callback reported no error): the bytes actually sent, so a download cut short counts only its
 *   part (for `statelesx_http_boot_bytes_sent_total`)
 * @param sendfile the native zero-copy sender (./sendfile.ts): used when the response owns a plain
 *   TCP socket, so the body goes from the page cache to the socket without passing through these
 *   buffers; undefined (addon missing, or turned off) or a TLS socket: the copy loop
 * @returns resolves when the response ended or the client went away (undefined), or when a read
 *   failed and the response was destroyed (that error); rejects only when the file cannot be
 *   opened or `onOpen` throws, before anything was written (the caller can still send an error)
 */
export function streamFileRange(
  res: ServerResponse,
  path: string,
  start: number,
  end: number,
  pool: ReadBufferPool,
  onOpen: () => void,
  onWritten?: (bytes: number) => void,
  sendfile?: Sendfile,
): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    open(path, 'r', (openErr, fd) => {
      if (openErr) return reject(openErr);
      try {
        onOpen();
      } catch (e) {
        close(fd, () => undefined);
        return reject(e instanceof Error ? e : new Error(String(e)));
      }
      if (sendfile && end >= start && socketFd(res) !== null)
        sendRange(res, fd, path, start, end, sendfile, onWritten, resolve, (f) => close(f, () => undefined));
      else copyRange(res, fd, path, start, end, pool, onWritten, resolve);
    });
  });
}

/**
 * The read/write loop of {@link streamFileRange} over the opened `fd`: one read buffer from `pool`
 * read while the previous one is written; closes `fd` and calls `done` once (with the read error
 * that destroyed the response, if any).
 */
function copyRange(
  res: ServerResponse,
  fd: number,
  path: string,
  start: number,
  end: number,
  pool: ReadBufferPool,
  onWritten: ((bytes: number) => void) | undefined,
  done: (err?: Error) => void,
): void {
  pool.active++;
  let pos = start;
  let writing = false;
  let reading = false;
  let pending: Buffer | null = null;
  let pendingLen = 0;
  let finished = false;

  const finish = (err?: Error) => {
    if (finished) return;
    finished = true;
    pool.active--;
    close(fd, () => undefined);
    if (err) res.destroy(err);
    else if (!res.destroyed) res.end();
    done(err);
  };
  const gone = () => res.destroyed || res.writableEnded;
  // A client that went away: stop now unless a read is in flight (its callback finishes, so the
  // descriptor is never closed under a pending read). A write in flight only returns its buffer.
  res.once('close', () => {
    if (!reading) finish();
  });

  const pump = (): void => {
    if (finished) return;
    if (gone()) return finish();
    if (pending && !writing) {
      const buf = pending;
      const len = pendingLen;
      pending = null;
      writing = true;
      res.write(len === buf.length ? buf : buf.subarray(0, len), (err) => {
        writing = false;
        pool.release(buf);
        // A failed socket write means the client is gone: not the file's fault, nothing to report.
        if (err) return finish();
        onWritten?.(len);
        pump();
      });
    }
    if (!pending && !reading && pos <= end) {
      const size = pool.chunkSize();
      const buf = pool.acquire(size);
      const want = Math.min(size, end - pos + 1);
      reading = true;
      read(fd, buf, 0, want, pos, (err, n) => {
        reading = false;
        if (err) {
          pool.release(buf);
          return finish(err);
        }
        if (n === 0) {
          pool.release(buf);
          return finish(new Error(`${path}: file shrank while being served (short read at byte ${pos})`));
        }
        pos += n;
        pending = buf;
        pendingLen = n;
        pump();
      });
    }
    if (!pending && !reading && !writing && pos > end) finish();
  };
  pump();
}
