/**
 * Zero-copy HTTP boot (src/boot/http/sendfile.ts + native/sendfile.c) against real curl and raw
 * sockets on 127.0.0.1: the body goes out by sendfile(2) on the sender thread (the read-buffer pool
 * is never touched), byte-exact with Range, keep-alive, HEAD and 304; a client that aborts or
 * stalls leaves no descriptor open and the bytes metric exact; TLS and a missing addon fall back
 * to the copy loop.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import Fastify, { type FastifyInstance } from 'fastify';
import { bootHttpPlugin } from '../../src/boot/http/plugin.js';
import { ReadBufferPool } from '../../src/boot/http/file-stream.js';
import { loadSendfile } from '../../src/boot/http/sendfile.js';
import type { BootFile, BootFileSource } from '../../src/boot/files/types.js';
import { metricsRegistry } from '../../src/metrics.js';

/** A pool that counts its reads: the copy loop acquires a buffer per chunk, sendfile none. */
class CountingPool extends ReadBufferPool {
  acquired = 0;
  override acquire(size: number): Buffer {
    this.acquired++;
    return super.acquire(size);
  }
}

let dir: string;
let big: Buffer;
const SLOW_BYTES = 48 * 1024 * 1024;

/** Serves files of `dir` by name (the resolver's own rules are tested elsewhere). */
const source: BootFileSource = {
  resolve(name: string): Promise<BootFile | null> {
    try {
      const path = join(dir, name);
      const st = statSync(path);
      return Promise.resolve({ kind: 'disk', path, size: st.size, mtimeMs: st.mtimeMs });
    } catch {
      return Promise.resolve(null);
    }
  },
};

async function serve(opts: { zeroCopy?: boolean; https?: { key: Buffer; cert: Buffer } } = {}) {
  const pool = new CountingPool();
  const app: FastifyInstance = opts.https ? Fastify({ https: opts.https }) : Fastify();
  await app.register(bootHttpPlugin, {
    source,
    bufferPool: pool,
    ...(opts.zeroCopy === false ? { zeroCopy: false } : {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  return { app, pool, base: `${opts.https ? 'https' : 'http'}://127.0.0.1:${port}/boot` };
}

function run(cmd: string, args: string[], killAfterMs?: number) {
  return new Promise<{ status: number | null; stdout: Buffer; stderr: string }>((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    if (killAfterMs !== undefined) setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    p.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: err }));
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const openFds = () => readdirSync('/proc/self/fd').length;
const sendfileThreads = () =>
  readdirSync('/proc/self/task').filter((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'sx-sendfile';
    } catch {
      return false;
    }
  }).length;

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await metricsRegistry.getMetricsAsJSON()).find((x) => x.name === `statelesx_${name}`);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return Number(v?.value ?? 0);
}

/** Polls `check` every 20 ms until it returns true (or fails after `ms`). */
async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(() => {
  if (!('sendfile' in loadSendfile()))
    throw new Error('the HTTP sendfile addon is not built: run npm run build:native');
  dir = mkdtempSync(join(tmpdir(), 'sx-sendfile-'));
  big = randomBytes(6 * 1024 * 1024 + 321);
  writeFileSync(join(dir, 'big.bin'), big);
  writeFileSync(join(dir, 'small.txt'), 'hello\n');
  writeFileSync(join(dir, 'slow.bin'), randomBytes(SLOW_BYTES));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('HTTP boot with sendfile(2)', () => {
  let s: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    s = await serve();
  });
  afterAll(async () => {
    await s.app.close();
  });

  it('sends whole files and ranges byte-exact on the sender thread, without the read buffers', async () => {
    const bytesBefore = await metric('http_boot_bytes_sent_total');
    const whole = await run('curl', ['-sS', '--max-time', '20', `${s.base}/big.bin`]);
    expect(sha(whole.stdout)).toBe(sha(big));
    const range = await run('curl', ['-sS', '--max-time', '20', '-r', '1000-2000999', `${s.base}/big.bin`]);
    expect(range.stdout.equals(big.subarray(1000, 2001000))).toBe(true);
    const tail = await run('curl', ['-sS', '--max-time', '20', '-r', '-777', `${s.base}/big.bin`]);
    expect(tail.stdout.equals(big.subarray(big.length - 777))).toBe(true);
    expect(s.pool.acquired).toBe(0);
    expect(sendfileThreads()).toBe(1);
    expect((await metric('http_boot_bytes_sent_total')) - bytesBefore).toBe(big.length + 2_000_000 + 777);
  });

  it('keeps the connection alive: curl fetches several files over one connection', async () => {
    const r = await run('curl', [
      '-sS',
      '--max-time',
      '20',
      '-w',
      '%{num_connects}\\n',
      '-o',
      join(dir, 'o1'),
      `${s.base}/big.bin`,
      '-o',
      join(dir, 'o2'),
      `${s.base}/small.txt`,
      '-o',
      join(dir, 'o3'),
      `${s.base}/big.bin`,
    ]);
    expect(r.status).toBe(0);
    expect(r.stdout.toString().trim().split('\n')).toEqual(['1', '0', '0']);
    expect(sha(readFileSync(join(dir, 'o1')))).toBe(sha(big));
    expect(readFileSync(join(dir, 'o2'), 'utf8')).toBe('hello\n');
    expect(sha(readFileSync(join(dir, 'o3')))).toBe(sha(big));
  });

  it('HEAD and If-None-Match send no body', async () => {
    const h = await run('curl', ['-sS', '-I', `${s.base}/big.bin`]);
    expect(h.stdout.toString()).toMatch(new RegExp(`content-length: ${big.length}`, 'i'));
    const etag = /etag: (\S+)/i.exec(h.stdout.toString())![1]!;
    const c = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{size_download}',
      '-H',
      `If-None-Match: ${etag}`,
      `${s.base}/big.bin`,
    ]);
    expect(c.stdout.toString()).toBe('304 0');
  });

  it('a client killed mid-file: counted aborted with the bytes the socket took, no descriptor left open', async () => {
    const fdsBefore = openFds();
    const aborted = await metric('http_boot_downloads_total', { result: 'aborted' });
    const bytesBefore = await metric('http_boot_bytes_sent_total');
    const r = await run('curl', ['-sS', '--limit-rate', '2M', '-o', '/dev/null', `${s.base}/slow.bin`], 700);
    expect(r.status).toBeNull(); // killed
    await until(async () => (await metric('http_boot_downloads_total', { result: 'aborted' })) === aborted + 1);
    const sent = (await metric('http_boot_bytes_sent_total')) - bytesBefore;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(SLOW_BYTES);
    await until(() => openFds() <= fdsBefore);
    expect(await metric('http_boot_active_downloads')).toBe(0);
  });

  it('a stalled client cut by the server: the send is cancelled and the connection really closes', async () => {
    const fdsBefore = openFds();
    const port = Number(new URL(s.base).port);
    const sock = connect(port, '127.0.0.1');
    let closed = false;
    sock.on('close', () => (closed = true));
    sock.on('error', () => undefined);
    sock.pause(); // never reads: the server's socket buffer fills and the thread waits for EPOLLOUT
    sock.write('GET /boot/slow.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(async () => (await metric('http_boot_active_downloads')) === 1);
    await new Promise((r) => setTimeout(r, 200));
    s.app.server.closeAllConnections();
    // The addon holds a dup() of the socket: the client sees the close only if it was let go.
    sock.resume();
    await until(() => closed);
    await until(async () => (await metric('http_boot_active_downloads')) === 0);
    await until(() => openFds() <= fdsBefore);
  });
});

describe('HTTP boot falls back to the copy loop', () => {
  it('with zeroCopy off: same bytes through the read buffers', async () => {
    const s = await serve({ zeroCopy: false });
    try {
      const r = await run('curl', ['-sS', '--max-time', '20', '-r', '5-3000004', `${s.base}/big.bin`]);
      expect(r.stdout.equals(big.subarray(5, 3000005))).toBe(true);
      expect(s.pool.acquired).toBeGreaterThan(0);
    } finally {
      await s.app.close();
    }
  });

  it('when the addon is not built: the plugin says why and serves through the read buffers', async () => {
    process.env['STATELESX_HTTP_SENDFILE_ADDON'] = join(dir, 'missing.node');
    try {
      expect(loadSendfile()).toEqual({ error: expect.stringContaining('missing.node') as unknown });
      const s = await serve();
      try {
        const r = await run('curl', ['-sS', '--max-time', '20', `${s.base}/big.bin`]);
        expect(sha(r.stdout)).toBe(sha(big));
        expect(s.pool.acquired).toBeGreaterThan(0);
      } finally {
        await s.app.close();
      }
    } finally {
      delete process.env['STATELESX_HTTP_SENDFILE_ADDON'];
    }
  });

  it('on a TLS socket (the kernel cannot encrypt): byte-exact through the read buffers', async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      { stdio: 'pipe' },
    );
    const s = await serve({ https: { key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) } });
    try {
      const r = await run('curl', ['-sS', '-k', '--max-time', '20', `${s.base}/big.bin`]);
      expect(sha(r.stdout)).toBe(sha(big));
      expect(s.pool.acquired).toBeGreaterThan(0);
    } finally {
      await s.app.close();
    }
  });
});
