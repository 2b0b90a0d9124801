/**
 * The reused-buffer file streamer behind HTTP boot (src/boot/http/file-stream.ts), on a real Node
 * HTTP server on 127.0.0.1 with real sockets: concurrent byte-exact downloads, buffers returned to
 * the pool, client aborts, and a file that shrinks while it is being served.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, get, type Server } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { ReadBufferPool, streamFileRange } from '../../src/boot/http/file-stream.js';
import { loadSendfile, type Sendfile } from '../../src/boot/http/sendfile.js';

let dir: string;
let server: Server;
let port: number;
let pool: ReadBufferPool;
let data: Buffer;
const served: Array<Promise<Error | undefined>> = [];
const outcomes: Array<Error | undefined> = [];

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** GET path with an optional Range; resolves with status, body and whether the body was cut short. */
function fetchRaw(
  path: string,
  range?: string,
  abortAfter?: number,
): Promise<{ status: number; body: Buffer; aborted: boolean }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, headers: range ? { range } : {} }, (res) => {
      const parts: Buffer[] = [];
      let got = 0;
      res.on('data', (d: Buffer) => {
        parts.push(d);
        got += d.length;
        if (abortAfter !== undefined && got >= abortAfter) req.destroy();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts), aborted: false }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts), aborted: true }));
      res.on('aborted', () => undefined);
    });
    req.on('error', (e) =>
      abortAfter !== undefined ? resolve({ status: 0, body: Buffer.alloc(0), aborted: true }) : reject(e),
    );
  });
}

async function settle(): Promise<void> {
  await Promise.all(served.splice(0));
}

let sendfile: Sendfile;

beforeAll(async () => {
  const loaded = loadSendfile();
  if (!('sendfile' in loaded)) throw new Error(`${loaded.error}: run npm run build:native`);
  sendfile = loaded.sendfile;
  dir = mkdtempSync(join(tmpdir(), 'sx-fstream-'));
  data = randomBytes(5 * 1024 * 1024 + 777);
  writeFileSync(join(dir, 'big.bin'), data);
  pool = new ReadBufferPool(4 * 1024 * 1024);
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const file = join(dir, url.pathname.slice(1));
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const size = url.pathname === '/shrinking.bin' ? 4 * 1024 * 1024 : data.length;
    const [start, end] = m ? [Number(m[1]), Number(m[2])] : [0, size - 1];
    // `?zc`: the zero-copy path (sendfile on the native sender thread) instead of the copy loop.
    const zc = url.searchParams.has('zc') ? sendfile : undefined;
    const p = streamFileRange(
      res,
      file,
      start,
      end,
      pool,
      () => {
        res.writeHead(m ? 206 : 200, { 'content-length': String(end - start + 1) });
        // Shrinks after open and headers: the reads come up short at 1 MiB.
        if (url.pathname === '/shrinking.bin') truncateSync(file, 1024 * 1024);
      },
      undefined,
      zc,
    ).then(
      (e) => {
        outcomes.push(e);
        return e;
      },
      () => {
        res.writeHead(404).end();
        return undefined;
      },
    );
    served.push(p);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('streamFileRange with a ReadBufferPool', () => {
  it('chunk size halves as streams are added, from 1 MiB down to 16 KiB, within the budget', () => {
    const p = new ReadBufferPool(32 * 1024 * 1024);
    expect(p.chunkSize()).toBe(1024 * 1024);
    p.active = 64;
    expect(p.chunkSize()).toBe(256 * 1024);
    expect(2 * 64 * p.chunkSize()).toBeLessThanOrEqual(32 * 1024 * 1024);
    p.active = 500;
    expect(p.chunkSize()).toBe(32 * 1024);
    p.active = 100_000;
    expect(p.chunkSize()).toBe(16 * 1024);
  });

  it('reuses buffers of the current size only, and keeps at most a quarter of the budget free', () => {
    const p = new ReadBufferPool(1024 * 1024);
    p.active = 1; // 512 KiB class
    expect(p.chunkSize()).toBe(512 * 1024);
    const a = p.acquire(512 * 1024);
    const b = p.acquire(512 * 1024);
    p.release(a);
    p.release(b); // beyond budget/4: dropped
    expect(p.idleBytes).toBe(0);
    p.active = 2; // 256 KiB class: a 512 KiB buffer coming back is not kept
    const c = p.acquire(256 * 1024);
    p.release(a);
    expect(p.idleBytes).toBe(0);
    p.release(c);
    expect(p.idleBytes).toBe(256 * 1024);
    expect(p.acquire(256 * 1024)).toBe(c);
    expect(p.idleBytes).toBe(0);
  });

  it('serves 24 concurrent whole-file and range downloads byte-exact, then every stream has ended', async () => {
    const ranges: Array<[number, number] | null> = Array.from({ length: 24 }, (_, i) =>
      i % 3 === 0 ? null : [i * 1000, i * 1000 + 300_000 + i],
    );
    const results = await Promise.all(ranges.map((r) => fetchRaw('/big.bin', r ? `bytes=${r[0]}-${r[1]}` : undefined)));
    results.forEach((res, i) => {
      const r = ranges[i];
      expect(res.aborted).toBe(false);
      expect(res.status).toBe(r ? 206 : 200);
      expect(sha(res.body)).toBe(sha(r ? data.subarray(r[0], r[1] + 1) : data));
    });
    await settle();
    expect(pool.active).toBe(0);
    expect(pool.idleBytes).toBeLessThanOrEqual(pool.budgetBytes / 4);
  });

  it('a client that disconnects mid-download releases its stream; the next download is complete', async () => {
    const before = outcomes.length;
    const cut = await Promise.all(Array.from({ length: 6 }, () => fetchRaw('/big.bin', undefined, 256 * 1024)));
    for (const c of cut) expect(c.body.length).toBeLessThan(data.length);
    await settle();
    expect(outcomes.slice(before)).toEqual(Array(6).fill(undefined));
    expect(pool.active).toBe(0);
    const whole = await fetchRaw('/big.bin');
    expect(sha(whole.body)).toBe(sha(data));
  });

  it('a missing file rejects before any header is sent (the caller answers 404)', async () => {
    const r = await fetchRaw('/missing.bin');
    expect(r.status).toBe(404);
    await settle();
    expect(pool.active).toBe(0);
  });

  it('a file that shrinks while served gives a short, aborted response, never a complete-looking one', async () => {
    writeFileSync(join(dir, 'shrinking.bin'), randomBytes(4 * 1024 * 1024));
    const r = await fetchRaw('/shrinking.bin');
    expect(r.aborted).toBe(true);
    expect(r.body.length).toBeLessThan(4 * 1024 * 1024);
    await settle();
    expect(String(outcomes.at(-1))).toMatch(/shrank while being served \(short read at byte 1048576\)/);
    expect(pool.active).toBe(0);
  });

  it('with sendfile: a file that shrinks while served gives a short, aborted response too', async () => {
    writeFileSync(join(dir, 'shrinking.bin'), randomBytes(4 * 1024 * 1024));
    const r = await fetchRaw('/shrinking.bin?zc');
    expect(r.aborted).toBe(true);
    expect(r.body.length).toBe(1024 * 1024);
    await settle();
    expect(String(outcomes.at(-1))).toMatch(/shrank while being served \(short read at byte 1048576\)/);
  });

  it('with sendfile: 12 concurrent whole-file and range downloads are byte-exact', async () => {
    const ranges: Array<[number, number] | null> = Array.from({ length: 12 }, (_, i) =>
      i % 3 === 0 ? null : [i * 1000, i * 1000 + 300_000 + i],
    );
    const results = await Promise.all(
      ranges.map((r) => fetchRaw('/big.bin?zc', r ? `bytes=${r[0]}-${r[1]}` : undefined)),
    );
    results.forEach((res, i) => {
      const r = ranges[i];
      expect(res.status).toBe(r ? 206 : 200);
      expect(sha(res.body)).toBe(sha(r ? data.subarray(r[0], r[1] + 1) : data));
    });
    await settle();
  });
});
