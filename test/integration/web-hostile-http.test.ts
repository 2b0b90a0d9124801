/**
 * One unauthenticated client must not stall the HTTP listener (issue 16, finding 3), measured
 * with real sockets on 127.0.0.1 against `createHttpService`: an 8 MB nested JSON body to
 * `POST /login` is refused at once while `/healthz` keeps answering; a body sent a byte at a time
 * is cut at `http.request-timeout-ms`, slow headers at `http.headers-timeout-ms`; connections
 * beyond `http.max-connections-per-source` from one address are closed while other addresses are
 * served.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { connect, type Socket } from 'node:net';
import { configSchema } from '../../src/config/schema.js';
import { openStore, type Store } from '../../src/store/index.js';
import { silentLogger } from '../../src/log.js';
import { createHttpService, type HttpService } from '../../src/web/app.js';

let dir: string;
let store: Store;
let svc: HttpService;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-web-hostile-'));
  const config = configSchema.parse({
    'data-dir': join(dir, 'data'),
    'listen-address': '127.0.0.1',
    http: { port: 0, 'request-timeout-ms': 2000, 'headers-timeout-ms': 1000, 'max-connections-per-source': 8 },
  });
  store = await openStore(config['data-dir']);
  svc = createHttpService(config, { store, log: silentLogger }, () => undefined);
  await svc.start();
  port = svc.address()!.port;
});
afterAll(async () => {
  await svc?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Opens a TCP connection to the service, from `localAddress` (a 127/8 address). */
function open(localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((ok, fail) => {
    const s = connect({ host: '127.0.0.1', port, localAddress }, () => ok(s));
    s.once('error', fail);
  });
}

/** Resolves with what the server sent and when it closed, ms after the call. */
function untilClosed(s: Socket): Promise<{ data: string; afterMs: number }> {
  const t0 = performance.now();
  let data = '';
  s.on('data', (d: Buffer) => (data += d.toString('latin1')));
  s.on('error', () => undefined);
  return new Promise((ok) => s.once('close', () => ok({ data, afterMs: performance.now() - t0 })));
}

/** GET /healthz over a new connection: status and latency in ms. */
async function healthz(localAddress = '127.0.0.1'): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const s = await open(localAddress);
  const done = untilClosed(s);
  s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const { data } = await done;
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0), ms: performance.now() - t0 };
}

describe('HTTP listener under hostile clients (real sockets)', () => {
  it('refuses an 8 MB nested JSON body to POST /login at once; /healthz stays responsive meanwhile', async () => {
    const n = 4_000_000;
    const body = Buffer.from('['.repeat(n) + ']'.repeat(n));
    const s = await open();
    const closed = untilClosed(s);
    const t0 = performance.now();
    s.write(
      `POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    s.write(body);
    const latencies: number[] = [];
    let answered = false;
    void closed.then(() => (answered = true));
    while (!answered && performance.now() - t0 < 10_000) {
      const h = await healthz();
      expect(h.status).toBe(200);
      latencies.push(h.ms);
      await new Promise((r) => setTimeout(r, 20));
    }
    const { data } = await closed;
    expect(data).toMatch(/^HTTP\/1\.1 413 /);
    expect(performance.now() - t0).toBeLessThan(2000);
    latencies.push((await healthz()).ms);
    expect(Math.max(...latencies)).toBeLessThan(500);
  });

  it('cuts a body sent a byte at a time at the request timeout', async () => {
    const s = await open();
    const closed = untilClosed(s);
    s.write(
      'POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n',
    );
    const drip = setInterval(() => s.writable && s.write('a'), 200);
    const { data, afterMs } = await Promise.race([
      closed,
      new Promise<{ data: string; afterMs: number }>((r) =>
        setTimeout(() => r({ data: 'still open', afterMs: 8000 }), 8000),
      ),
    ]);
    clearInterval(drip);
    s.destroy();
    expect(data).not.toBe('still open');
    // request-timeout-ms 2000, enforced every second.
    expect(afterMs).toBeGreaterThan(1500);
    expect(afterMs).toBeLessThan(4500);
    expect((await healthz()).status).toBe(200);
  });

  it('cuts headers sent slowly at the headers timeout', async () => {
    const s = await open();
    const closed = untilClosed(s);
    s.write('GET /healthz HTTP/1.1\r\n');
    const drip = setInterval(() => s.writable && s.write('X-A: b\r\n'), 200);
    const { afterMs } = await Promise.race([
      closed,
      new Promise<{ data: string; afterMs: number }>((r) => setTimeout(() => r({ data: '', afterMs: 8000 }), 8000)),
    ]);
    clearInterval(drip);
    s.destroy();
    expect(afterMs).toBeLessThan(3500);
  });

  it('closes connections beyond max-connections-per-source from one address; others are served', async () => {
    const held: Socket[] = [];
    for (let i = 0; i < 8; i++) held.push(await open('127.0.0.3'));
    const extra = await open('127.0.0.3');
    const { afterMs } = await untilClosed(extra);
    expect(afterMs).toBeLessThan(500);
    expect((await healthz('127.0.0.4')).status).toBe(200);
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await healthz('127.0.0.3')).status).toBe(200);
  });
});
