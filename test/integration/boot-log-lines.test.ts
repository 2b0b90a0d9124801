/**
 * The logging requirement "client address and transfer/request id on every line", checked on the
 * JSON lines a real root logger (pino to a stream) writes during boot traffic on 127.0.0.1:
 * TFTP (a whole transfer, a refused traversal path at warn, a missing file) and HTTP boot through
 * the web app (a download, a refused traversal at warn, a 404). Every line must also be valid JSON
 * without duplicate keys (a child logger re-binding a key its parent bound writes it twice).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createSocket } from 'node:dgram';
import { Writable } from 'node:stream';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { createLogger, type Logger } from '../../src/log.js';
import { createTftpServer, type TftpServer } from '../../src/boot/tftp/server.js';
import { decodePacket, encodeAck, encodeRequest, Opcode } from '../../src/boot/tftp/packet.js';
import { bootHttpPlugin } from '../../src/boot/http/plugin.js';
import { DefaultBootFileSource } from '../../src/boot/files/source.js';
import { ImageLibrary } from '../../src/images/image.js';
import { openStore, type Store } from '../../src/store/index.js';
import { BootTokens } from '../../src/hosts/tokens.js';
import { configSchema } from '../../src/config/schema.js';
import { buildApp } from '../../src/web/app.js';
import { waitFor } from '../helpers/wait.js';

/** Raw log lines as written, and a parser that rejects duplicate keys at any depth. */
const raw: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) raw.push(l);
    cb();
  },
});

/**
 * Keys that occur twice in one JSON object of `line` (JSON.parse keeps the last silently).
 * A small scanner over the JSON text: tracks object nesting and the keys seen per object.
 */
function duplicateKeys(line: string): string[] {
  const dups: string[] = [];
  const stack: Array<Set<string> | null> = []; // null: inside an array
  let i = 0;
  let expectKey = false;
  while (i < line.length) {
    const ch = line[i]!;
    if (ch === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      const s = JSON.parse(line.slice(i, j + 1)) as string;
      i = j + 1;
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        if (top.has(s)) dups.push(s);
        top.add(s);
        expectKey = false;
      }
      continue;
    }
    if (ch === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (ch === '[') {
      stack.push(null);
    } else if (ch === '}' || ch === ']') {
      stack.pop();
    } else if (ch === ',') {
      expectKey = stack[stack.length - 1] != null;
    }
    i++;
  }
  return dups;
}

let dir: string;
let log: Logger;
let store: Store;
let tftp: TftpServer;
let app: FastifyInstance;
let base: string;
const file = randomBytes(2000);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-boot-log-'));
  const root = join(dir, 'tftp');
  mkdirSync(root);
  writeFileSync(join(root, 'loader.bin'), file);
  writeFileSync(join(dir, 'secret.txt'), 'no');
  log = createLogger('debug', sink);
  store = await openStore(':memory:');
  const source = new DefaultBootFileSource({
    tftpRoot: root,
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
    log,
  });
  tftp = createTftpServer({ source, address: '127.0.0.1', port: 0, limits: configSchema.parse({}).tftp, log });
  await tftp.start();
  app = await buildApp({
    store,
    log,
    bootPlugin: async (s) => {
      await s.register(bootHttpPlugin, { source });
    },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/boot`;
});

afterAll(async () => {
  await app?.close();
  await tftp?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One RRQ from a fresh 127.0.0.1 socket; ACKs every DATA block; returns the error code, if any. */
async function rrq(name: string): Promise<{ data: Buffer; error?: number; clientPort: number }> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const chunks: Buffer[] = [];
  try {
    return await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`TFTP ${name}: no answer`)), 5000);
      s.on('message', (m, from) => {
        const d = decodePacket(m);
        if (!d.ok) return;
        if (d.packet.op === Opcode.ERROR) {
          clearTimeout(t);
          resolve({ data: Buffer.alloc(0), error: d.packet.code, clientPort: s.address().port });
          return;
        }
        if (d.packet.op !== Opcode.DATA) return;
        chunks.push(Buffer.from(d.packet.data));
        s.send(encodeAck(d.packet.block), from.port, '127.0.0.1');
        if (d.packet.data.length < 512) {
          clearTimeout(t);
          resolve({ data: Buffer.concat(chunks), clientPort: s.address().port });
        }
      });
      s.send(encodeRequest(Opcode.RRQ, name, 'octet'), tftp.address().port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

/** GET with the request target sent exactly as given; resolves to the status code. */
function rawGet(path: string): Promise<number> {
  const port = (app.server.address() as { port: number }).port;
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    r.on('error', reject);
    r.end();
  });
}

/** fastify's own per-request lines (logged by fastify, not by the boot handler). */
const FASTIFY_REQUEST_LINES = new Set(['incoming request', 'request completed']);

describe('boot traffic log lines', () => {
  it('TFTP: every line of a transfer, a refused traversal (warn) and a miss names the client and the transfer', async () => {
    raw.length = 0;
    const ok = await rrq('loader.bin');
    expect(ok.data.equals(file)).toBe(true);
    const bad = await rrq('../secret.txt');
    expect(bad.error).toBe(2);
    const encoded = await rrq('%2e%2e/secret.txt');
    expect(encoded.error).toBe(2);
    const miss = await rrq('missing.bin');
    expect(miss.error).toBe(1);
    await waitFor('the transfer completed line', () => raw.some((l) => l.includes('transfer completed')), 3000);
    const lines = raw.map((l) => ({ l, o: JSON.parse(l) as Record<string, unknown> }));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const { l, o } of lines) {
      expect(duplicateKeys(l), l).toEqual([]);
      expect(String(o['client']), l).toMatch(/^127\.0\.0\.1(:\d+)?$/);
      expect(o['transfer'] ?? o['req'], l).toMatch(/^[0-9a-f]{8}$/);
    }
    const refused = lines.find(({ o }) => o['file'] === '../secret.txt' && o['level'] === 40);
    expect(refused, 'traversal logged at warn').toBeDefined();
    expect(refused!.o).toMatchObject({ subsystem: 'tftp', client: `127.0.0.1:${bad.clientPort}` });
    expect(lines.find(({ o }) => o['file'] === '%2e%2e/secret.txt')?.o).toMatchObject({
      level: 40,
      client: `127.0.0.1:${encoded.clientPort}`,
    });
    expect(
      lines.some(({ o }) => o['msg'] === 'transfer completed' && o['client'] === `127.0.0.1:${ok.clientPort}`),
    ).toBe(true);
  });

  it("HTTP boot: the boot handler's lines (a refused traversal at warn) carry the client address:port and repeat no key", async () => {
    raw.length = 0;
    const ok = await fetch(`${base}/loader.bin`);
    expect(Buffer.from(await ok.arrayBuffer()).equals(file)).toBe(true);
    expect(await rawGet('/boot/%2e%2e/secret.txt')).toBe(403); // fetch() would normalise %2e%2e away
    expect(await rawGet('/boot/a/../../secret.txt')).toBe(403);
    expect((await fetch(`${base}/missing.bin`)).status).toBe(404);
    await waitFor(
      '4 request completed lines',
      () => raw.filter((l) => l.includes('request completed')).length >= 4,
      3000,
    );
    const lines = raw.map((l) => ({ l, o: JSON.parse(l) as Record<string, unknown> }));
    const own = lines.filter(({ o }) => !FASTIFY_REQUEST_LINES.has(String(o['msg'])));
    const refused = own.filter(({ o }) => o['level'] === 40 && o['msg'] === 'boot path refused');
    expect(refused.map(({ o }) => o['path'])).toEqual(['%2e%2e/secret.txt', 'a/../../secret.txt']);
    for (const { l, o } of own) {
      expect(duplicateKeys(l), l).toEqual([]); // was: "subsystem":"http" … "subsystem":"http-boot"
      expect(o['subsystem'], l).toBe('http');
      expect(String(o['client']), l).toMatch(/^127\.0\.0\.1:\d+$/);
    }
  });

  // The app binds the request id as `reqId` and the client address on every request's logger
  // (src/web/app.ts); `req` is only the serialized request of fastify's own request lines.
  it('HTTP boot: every line, fastify request lines included, carries the client address and the request id, no key twice', async () => {
    raw.length = 0;
    await (await fetch(`${base}/loader.bin`)).arrayBuffer();
    expect(await rawGet('/boot/%2e%2e/secret.txt')).toBe(403);
    await waitFor(
      '2 request completed lines',
      () => raw.filter((l) => l.includes('request completed')).length >= 2,
      3000,
    );
    expect(raw.length).toBeGreaterThanOrEqual(5);
    for (const l of raw) {
      const o = JSON.parse(l) as Record<string, unknown>;
      expect(duplicateKeys(l), l).toEqual([]);
      expect(String(o['client'] ?? (o['req'] as { remoteAddress?: unknown } | undefined)?.remoteAddress), l).toMatch(
        /^127\.0\.0\.1/,
      );
      expect(o['reqId'] ?? o['req'], l).toMatch(/^[0-9a-f]{8}$/);
    }
  });
});
