/**
 * HTTP boot (/boot/) against real curl on 127.0.0.1, and fastify.inject for the header logic.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import Fastify, { type FastifyInstance } from 'fastify';
import { bootHttpPlugin, parseRange } from '../../src/boot/http/plugin.js';
import { DefaultBootFileSource } from '../../src/boot/files/source.js';
import { ImageLibrary } from '../../src/images/image.js';
import { importImage } from '../../src/images/import.js';
import { openStore, type Store } from '../../src/store/index.js';
import { BootTokens } from '../../src/hosts/tokens.js';
import { silentLogger } from '../../src/log.js';

const U = '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b';
let dir: string;
let app: FastifyInstance;
let base: string;
let store: Store;
let big: Buffer;

/** Runs real curl asynchronously (the server lives in this process: never block its event loop). */
async function curl(args: string[]): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const hdr = join(dir, `h-${randomBytes(4).toString('hex')}`);
  const r = await run('curl', ['-sS', '--max-time', '20', '-D', hdr, ...args]);
  if (r.status !== 0) throw new Error(`curl failed (${r.status}): ${r.stderr}`);
  const lines = readFileSync(hdr, 'utf8').trim().split(/\r?\n/);
  const status = Number(lines[0]!.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, headers, body: r.stdout };
}
function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: err }));
  });
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  if (spawnSync('sh', ['-c', 'command -v curl']).status !== 0)
    throw new Error('curl is missing: run scripts/install-test-deps');
  dir = mkdtempSync(join(tmpdir(), 'sx-http-'));
  const tftp = join(dir, 'tftp');
  mkdirSync(tftp);
  mkdirSync(join(dir, 'l'));
  big = randomBytes(3 * 1024 * 1024 + 123);
  writeFileSync(join(dir, 'l/vmlinuz'), big);
  writeFileSync(join(dir, 'l/initrd.gz'), 'initrd');
  writeFileSync(
    join(dir, 'l/image.json'),
    JSON.stringify({ kind: 'linux', linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0' } }),
  );
  writeFileSync(join(dir, 'secret.txt'), 'do not serve');
  writeFileSync(join(tftp, 'empty.bin'), '');
  await importImage({ source: join(dir, 'l'), imagesDir: join(dir, 'images'), name: 'lin1' });
  store = await openStore(':memory:');
  await store.hosts.setImagePin(U, 'lin1');
  const source = new DefaultBootFileSource({
    tftpRoot: tftp,
    loaderDirs: [],
    pxelinuxCfgDir: join(dir, 'pxelinux.cfg'),
    images: new ImageLibrary(join(dir, 'images')),
    hosts: store.hosts,
    tokens: new BootTokens(store.tokens, 3600_000),
    clusters: () => undefined,
    unknownHosts: 'menu',
    serverAddress: '127.0.0.1',
    httpPort: 8080,
    initiatorPort: 1974,
    log: silentLogger,
  });
  app = Fastify({ logger: false });
  await app.register(bootHttpPlugin, { source });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}/boot`;
});

afterAll(async () => {
  await app?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('HTTP boot with curl', () => {
  it('streams a whole image file byte-exact with ETag, Last-Modified, Accept-Ranges', async () => {
    const r = await curl([`${base}/lin1/vmlinuz`]);
    expect(r.status).toBe(200);
    expect(sha(r.body)).toBe(sha(big));
    expect(r.headers['content-length']).toBe(String(big.length));
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers['etag']).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(new Date(r.headers['last-modified']!).getTime()).toBeGreaterThan(0);
  });

  it('serves byte ranges (curl -r) including suffix ranges; 416 when unsatisfiable', async () => {
    const r = await curl(['-r', '1000-1999', `${base}/lin1/vmlinuz`]);
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 1000-1999/${big.length}`);
    expect(r.body.equals(big.subarray(1000, 2000))).toBe(true);
    const tail = await curl(['-r', '-500', `${base}/lin1/vmlinuz`]);
    expect(tail.status).toBe(206);
    expect(tail.body.equals(big.subarray(big.length - 500))).toBe(true);
    const open = await curl(['-r', `${big.length - 10}-`, `${base}/lin1/vmlinuz`]);
    expect(open.body.equals(big.subarray(big.length - 10))).toBe(true);
    const bad = await curl(['-r', `${big.length + 5}-`, `${base}/lin1/vmlinuz`]);
    expect([bad.status, bad.headers['content-range']]).toEqual([416, `bytes */${big.length}`]);
  });

  it('resumes an interrupted download (curl -C -) to the exact file', async () => {
    const out = join(dir, 'partial');
    writeFileSync(out, big.subarray(0, 777_777));
    expect((await run('curl', ['-sS', '--max-time', '20', '-C', '-', '-o', out, `${base}/lin1/vmlinuz`])).status).toBe(
      0,
    );
    expect(sha(readFileSync(out))).toBe(sha(big));
  });

  it('HEAD gives the headers and no body; If-None-Match → 304', async () => {
    const h = await curl(['-I', '-o', '/dev/null', `${base}/lin1/vmlinuz`]);
    expect([h.status, h.headers['content-length']]).toEqual([200, String(big.length)]);
    const again = await curl(['-H', `If-None-Match: ${h.headers['etag']}`, `${base}/lin1/vmlinuz`]);
    expect([again.status, again.body.length]).toEqual([304, 0]);
    const since = await curl(['-H', `If-Modified-Since: ${h.headers['last-modified']}`, `${base}/lin1/vmlinuz`]);
    expect(since.status).toBe(304);
    const stale = await curl(['-r', '0-9', '-H', 'If-Range: "other"', `${base}/lin1/vmlinuz`]);
    expect([stale.status, stale.body.length]).toEqual([200, big.length]);
  });

  it('If-Modified-Since (curl -z / --time-cond and a raw header) → 304 when not newer, 200 with the file when newer', async () => {
    const h = await curl(['-I', '-o', '/dev/null', `${base}/lin1/vmlinuz`]);
    const lm = new Date(h.headers['last-modified']!);
    expect(lm.getTime()).toBeGreaterThan(0);
    const http = (d: Date) => d.toUTCString();
    // curl -z <date>: sends If-Modified-Since <date>.
    const same = await curl(['-z', http(lm), `${base}/lin1/vmlinuz`]);
    expect([same.status, same.body.length]).toEqual([304, 0]);
    expect(same.headers['etag']).toBe(h.headers['etag']);
    const later = await curl(['--time-cond', http(new Date(lm.getTime() + 3600_000)), `${base}/lin1/vmlinuz`]);
    expect([later.status, later.body.length]).toEqual([304, 0]);
    const older = await curl(['-z', http(new Date(lm.getTime() - 1000)), `${base}/lin1/vmlinuz`]);
    expect(older.status).toBe(200);
    expect(sha(older.body)).toBe(sha(big));
    // curl -z <file>: the local copy's mtime is the condition (what a caching client does).
    const copy = join(dir, 'vmlinuz-copy');
    writeFileSync(copy, big);
    utimesSync(copy, lm, lm);
    expect((await curl(['-z', copy, `${base}/lin1/vmlinuz`])).status).toBe(304);
    utimesSync(copy, new Date(lm.getTime() - 60_000), new Date(lm.getTime() - 60_000));
    expect((await curl(['-z', copy, `${base}/lin1/vmlinuz`])).status).toBe(200);
    // Raw header: an older date → 200; an unparsable date is ignored → 200.
    const rawOld = await curl([
      '-H',
      `If-Modified-Since: ${http(new Date(lm.getTime() - 86_400_000))}`,
      `${base}/lin1/vmlinuz`,
    ]);
    expect([rawOld.status, rawOld.body.length]).toEqual([200, big.length]);
    const junk = await curl(['-H', 'If-Modified-Since: yesterday-ish', `${base}/lin1/vmlinuz`]);
    expect([junk.status, junk.body.length]).toEqual([200, big.length]);
    // RFC 9110 §13.1.3: with If-None-Match present, If-Modified-Since is ignored.
    const both = await curl([
      '-H',
      'If-None-Match: "other"',
      '-H',
      `If-Modified-Since: ${http(lm)}`,
      `${base}/lin1/vmlinuz`,
    ]);
    expect([both.status, both.body.length]).toEqual([200, big.length]);
  });

  it('refuses traversal with 403 (raw .., percent-encoded, backslash) and answers 404 for missing files', async () => {
    expect((await curl(['--path-as-is', `${base}/../secret.txt`])).status).toBe(403);
    expect((await curl(['--path-as-is', `${base}/lin1/../../secret.txt`])).status).toBe(403);
    expect((await curl([`${base}/%2e%2e/secret.txt`])).status).toBe(403);
    expect((await curl([`${base}/lin1%2f..%2f..%2fsecret.txt`])).status).toBe(403);
    expect((await curl([`${base}/lin1%5cvmlinuz`])).status).toBe(403);
    expect((await curl([`${base}/lin1/%00`])).status).toBe(403);
    expect((await curl([`${base}/lin1/nothing`])).status).toBe(404);
    expect((await curl([`${base}/%zz`])).status).toBe(400);
  });

  it('serves an empty file with Content-Length 0', async () => {
    const r = await curl([`${base}/empty.bin`]);
    expect([r.status, r.headers['content-length'], r.body.length]).toEqual([200, '0', 0]);
  });

  it('renders the per-host iPXE script (no-store) and records a boot event with the client address', async () => {
    const r = await curl([`${base}/hosts/${U}.ipxe`]);
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.body.toString()).toMatch(
      /^kernel http:\/\/127\.0\.0\.1:8080\/boot\/lin1\/vmlinuz initrd=initrd\.gz console=ttyS0 statelesx\.token=\S{22} /m,
    );
    expect((await store.hosts.bootEvents({ uuid: U }))[0]).toMatchObject({
      protocol: 'http',
      file: `hosts/${U}.ipxe`,
      address: '127.0.0.1',
      image: 'lin1',
      firmware: 'ipxe',
    });
  });
});

describe('HTTP boot headers (fastify.inject)', () => {
  it('multi-range requests get the whole file; HEAD of a rendered file has its length', async () => {
    const r = await app.inject({ method: 'GET', url: '/boot/lin1/initrd.gz', headers: { range: 'bytes=0-1,3-4' } });
    expect([r.statusCode, r.body]).toEqual([200, 'initrd']);
    const h = await app.inject({ method: 'HEAD', url: '/boot/boot.ipxe' });
    expect(h.statusCode).toBe(200);
    expect(Number(h.headers['content-length'])).toBeGreaterThan(50);
    expect(h.body).toBe('');
  });

  it('parseRange follows RFC 9110 §14.1.2', () => {
    expect(parseRange('bytes=0-0', 10)).toEqual({ start: 0, end: 0 });
    expect(parseRange('bytes=5-100', 10)).toEqual({ start: 5, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=-30', 10)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-2', 10)).toBeNull();
    expect(parseRange('items=0-1', 10)).toBeNull();
    expect(parseRange(undefined, 10)).toBeNull();
  });
});
