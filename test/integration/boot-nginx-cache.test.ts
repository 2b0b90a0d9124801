/**
 * `/boot/` behind nginx as a cache (issue 18 item 5): the example configuration shipped in
 * docs/examples/nginx-boot-cache.conf, run by Debian's nginx in front of a real `statelesx serve`
 * child, with real curl as the host. Image files are fetched from statelesx once and then served
 * from nginx's cache (ETag → 304, Range → 206 from the cache); files rendered per host are never
 * cached and statelesx sees the host's own address (X-Forwarded-For from a trusted proxy only).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { importImage } from '../../src/images/import.js';
import { createUsers, login, spawnServe, stopServe, type ServeProcess } from '../helpers/serve.js';
import { freePort } from '../helpers/ports.js';

const EXAMPLE = resolve(import.meta.dirname, '../../docs/examples/nginx-boot-cache.conf');
const HOST_ADDRESS = '127.0.0.5';

let dir: string;
let server: ServeProcess;
let nginx: ChildProcess | undefined;
let cacheBase: string;
let kernel: Buffer;

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Real curl from the host's address (HOST_ADDRESS), asynchronous. */
function curl(url: string, args: string[] = []): Promise<CurlResult> {
  const hdr = join(dir, `h-${randomBytes(4).toString('hex')}`);
  return new Promise((res, rej) => {
    const p = spawn('curl', ['-sS', '--max-time', '20', '--interface', HOST_ADDRESS, '-D', hdr, ...args, url]);
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', rej);
    p.on('close', (code) => {
      if (code !== 0) return rej(new Error(`curl ${url} failed (${code}): ${err}`));
      const lines = readFileSync(hdr, 'utf8').trim().split(/\r?\n/);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      res({ status: Number(lines[0]!.split(' ')[1]), headers, body: Buffer.concat(out) });
    });
  });
}

/** statelesx's count of complete /boot/ downloads (its /metrics, no token configured). */
async function downloadsAtStatelesx(): Promise<number> {
  const text = await (await fetch(`${server.base}/metrics`)).text();
  const m = /^statelesx_http_boot_downloads_total\{result="complete"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

beforeAll(async () => {
  if (spawnSync('sh', ['-c', 'command -v nginx || test -x /usr/sbin/nginx']).status !== 0)
    throw new Error('nginx is missing: run scripts/install-test-deps');
  dir = mkdtempSync(join(tmpdir(), 'sx-nginx-cache-'));
  const src = join(dir, 'src');
  mkdirSync(src);
  kernel = randomBytes(2 * 1024 * 1024 + 77);
  writeFileSync(join(src, 'vmlinuz'), kernel);
  writeFileSync(join(src, 'initrd.gz'), 'initrd');
  writeFileSync(
    join(src, 'image.json'),
    JSON.stringify({ kind: 'linux', linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0' } }),
  );
  await importImage({ source: src, imagesDir: join(dir, 'images'), name: 'lin1' });
  const nginxPort = await freePort();
  // Every setting at its default but the two a cache in front needs.
  writeFileSync(
    join(dir, 'statelesx.yaml'),
    `boot-http:\n  trusted-proxies: [127.0.0.1]\n  advertise-port: ${nginxPort}\nboot:\n  default-image: lin1\n`,
  );
  await createUsers(join(dir, 'data'), [['admin', 'correct horse battery', 'admin']]);
  server = await spawnServe(dir, ['--config', join(dir, 'statelesx.yaml')]);
  const bootPort = new URL(server.bootBase).port;

  const prefix = join(dir, 'nginx');
  mkdirSync(join(prefix, 'tmp'), { recursive: true });
  const conf = readFileSync(EXAMPLE, 'utf8')
    .replaceAll('@PREFIX@', prefix)
    .replaceAll('@LISTEN@', `127.0.0.1:${nginxPort}`)
    .replaceAll('@UPSTREAMS@', `server 127.0.0.1:${bootPort};`);
  // Root in CI: workers as root so they can read the temporary prefix.
  writeFileSync(join(prefix, 'nginx.conf'), `user root;\ndaemon off;\n${conf}`);
  nginx = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cacheBase = `http://127.0.0.1:${nginxPort}`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`${cacheBase}/boot/lin1/image.json`)
      .then((r) => r.status === 200)
      .catch(() => false);
    if (ok) break;
    if (i > 100) throw new Error(`nginx did not answer: ${readFileSync(join(prefix, 'error.log'), 'utf8')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 60_000);

afterAll(async () => {
  nginx?.kill('SIGQUIT');
  if (server) await stopServe(server);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('nginx in front of /boot/ (docs/examples/nginx-boot-cache.conf)', () => {
  it('fetches an image file from statelesx once, then serves it from the cache', async () => {
    const before = await downloadsAtStatelesx();
    const first = await curl(`${cacheBase}/boot/lin1/vmlinuz`);
    expect(first.status).toBe(200);
    expect(first.body.equals(kernel)).toBe(true);
    expect(first.headers['x-cache-status']).toBe('MISS');
    const second = await curl(`${cacheBase}/boot/lin1/vmlinuz`);
    expect(second.headers['x-cache-status']).toBe('HIT');
    expect(second.body.equals(kernel)).toBe(true);
    expect(await downloadsAtStatelesx()).toBe(before + 1);
  });

  it('answers If-None-Match with 304 and Range with 206 from the cache', async () => {
    const full = await curl(`${cacheBase}/boot/lin1/vmlinuz`);
    const etag = full.headers['etag'];
    expect(etag).toMatch(/^"/);
    const nm = await curl(`${cacheBase}/boot/lin1/vmlinuz`, ['-H', `If-None-Match: ${etag}`]);
    expect(nm.status).toBe(304);
    expect(nm.body.length).toBe(0);
    const before = await downloadsAtStatelesx();
    const part = await curl(`${cacheBase}/boot/lin1/vmlinuz`, ['-H', 'Range: bytes=1048570-1048589']);
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 1048570-1048589/${kernel.length}`);
    expect(part.body.equals(kernel.subarray(1048570, 1048590))).toBe(true);
    expect(await downloadsAtStatelesx()).toBe(before);
  });

  it('never caches a file rendered per host, and statelesx sees the host address, not the proxy', async () => {
    const a = await curl(`${cacheBase}/boot/boot.ipxe`);
    expect(a.status).toBe(200);
    expect(a.headers['cache-control']).toBe('no-store');
    // The rendered script names the advertised port (the cache), not the boot listener's own.
    expect(a.body.toString()).toContain(cacheBase.replace('http://127.0.0.1', ''));
    const b = await curl(`${cacheBase}/boot/boot.ipxe`);
    expect(b.headers['x-cache-status']).not.toBe('HIT');
    const admin = await login(server.base, 'admin', 'correct horse battery');
    const events = (await (await admin.call('GET', '/api/v1/boots?limit=20')).json()) as Array<{
      address: string | null;
      path?: string;
    }>;
    const addresses = new Set(events.map((e) => e.address));
    expect(addresses.has(HOST_ADDRESS)).toBe(true);
    expect(addresses.has('127.0.0.1')).toBe(false);
  });
});
