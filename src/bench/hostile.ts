/**
 * `npm run bench -- --only hostile`: what hostile load from the boot LAN costs us, each figure
 * beside the bound that holds it (issue 16, "Done when"):
 *
 * - DHCP CPU: main-thread CPU to decode one hostile datagram — the review's 65 KB of 1-byte option
 *   pieces, and the worst one still decoded — with today's decoder and with the pre-fix algorithm
 *   (parse first, concatenate at every piece), run in this process on the same bytes;
 * - DHCP database bytes per hostile datagram (largest accepted claims in 60, 77, 61, a new UUID
 *   each) through a real DHCP service (proxy mode, 127.0.0.1, SQLite store in a temporary dir),
 *   with the new-host rate limit on and off;
 * - `/healthz` latency of the real server (child process) idle and while clients send 8 MB bodies
 *   to the login routes and trickle bodies 1 byte a second;
 * - TFTP slots a silent client holds and for how long: many RRQs (blksize 65464, windowsize 64)
 *   that never ACK, and RRQs whose OACK is ACKed once and then nothing (slots read from /metrics).
 * All traffic stays on 127.0.0.0/8. One file over ~400 lines on purpose: four small measurements
 * that share one server child and one table format, each readable top to bottom.
 */
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDhcpServer } from '../boot/dhcp/server.js';
import { MAX_STORED_CLAIM } from '../boot/dhcp/client-info.js';
import { DhcpDecodeError, MAX_DECODE_SIZE, MAX_OPTION_BYTES, Opt, decodePacket } from '../boot/dhcp/packet.js';
import { configSchema } from '../config/schema.js';
import { silentLogger } from '../log.js';
import { openStore } from '../store/index.js';
import { sqliteOf } from '../store/inspect.js';
import { freeUdpPort, run, startServerChild, type ServerChild } from './proc.js';
import { benchServerConfig } from './http.js';
import { fmt, summarize, type BenchTable, type Summary } from './report.js';

/** Options of {@link benchHostile}. */
export interface HostileOptions {
  /** Reduced counts and durations (smoke test). */
  quick?: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ── DHCP decode CPU ──────────────────────────────────────────────────────────────────────────

/** A BOOTREQUEST header + cookie, then `n` one-byte pieces of option 60 and option 57 = `mms`. */
export function onePieceDatagram(n: number, mms: number): Buffer {
  const b = Buffer.alloc(240 + 7 + n * 3 + 1);
  b.set([1, 1, 6], 0);
  b.writeUInt32BE(0x63825363, 236);
  b.set([53, 1, 1, Opt.MAX_MESSAGE_SIZE, 2, mms >> 8, mms & 255], 240);
  for (let k = 0; k < n; k++) b.set([Opt.VENDOR_CLASS_ID, 1, 0x41 + (k % 26)], 247 + k * 3);
  b[b.length - 1] = 255;
  return b;
}

/** The pre-fix option parse (e2f3b49^): every piece of a split option concatenated as it came. */
function quadraticOptions(buf: Buffer): Map<number, Buffer> {
  const into = new Map<number, Buffer>();
  for (let i = 240; i < buf.length;) {
    const code = buf[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) break;
    const len = buf[i + 1]!;
    const data = buf.subarray(i + 2, i + 2 + len);
    const prev = into.get(code);
    into.set(code, prev ? Buffer.concat([prev, data]) : data);
    i += 2 + len;
  }
  return into;
}

/** CPU µs (user + system) per call of `f`, over at least `minMs` of calls. */
function cpuPerCall(f: () => void, minMs: number): number {
  f(); // warm-up
  let n = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < minMs) {
    f();
    n++;
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

function decodeOutcome(b: Buffer): string {
  try {
    decodePacket(b);
    return 'decoded';
  } catch (e) {
    return e instanceof DhcpDecodeError ? `dropped: ${e.reason}` : 'error';
  }
}

function dhcpCpuTable(quick: boolean): BenchTable {
  const ms = quick ? 300 : 1500;
  const big = onePieceDatagram(21_700, 0xffff); // 65,351 bytes: the review's datagram
  const largest = onePieceDatagram(Math.floor((MAX_DECODE_SIZE - 248) / 3), MAX_DECODE_SIZE); // largest still decoded
  const rows: Array<Array<string | number>> = [];
  for (const [label, b] of [
    [`${big.length} B, 1-byte pieces, option 57 = 65535`, big],
    [`${largest.length} B, 1-byte pieces (largest decoded)`, largest],
  ] as const) {
    const after = cpuPerCall(() => decodeOutcome(b), ms);
    const before = cpuPerCall(() => quadraticOptions(b), ms);
    rows.push([label, fmt(before, 1), fmt(after, 1), decodeOutcome(b), fmt(1e6 / after / 1e3, 0)]);
  }
  return {
    title: 'Hostile DHCP datagrams: main-thread CPU per datagram, before and after the fix (issue 16, finding 7)',
    columns: [
      'datagram',
      'before µs (parse first, concat per piece)',
      'after µs',
      'after: outcome',
      'after: k datagrams/s/core',
    ],
    rows,
    notes: [
      `Bound: datagrams over ${MAX_DECODE_SIZE} bytes are refused before any option is read; at most ${MAX_OPTION_BYTES} option value bytes; each split option is joined once.`,
      '"Before" runs the pre-fix option loop (no size check first, Buffer.concat at every piece) on the same bytes in this process; "after" is decodePacket as the server runs it.',
    ],
  };
}

// ── DHCP database bytes ──────────────────────────────────────────────────────────────────────

/** A REQUEST to the proxy's 4011 port with the largest claims the decoder accepts, client `n`. */
function hostileRequest(n: number): Buffer {
  const opts: number[] = [53, 1, 3, Opt.MAX_MESSAGE_SIZE, 2, 0x10, 0x00];
  const vc = Buffer.concat([Buffer.from('PXEClient:Arch:00007:UNDI:003010:'), Buffer.alloc(222, 1)]);
  const piece = (code: number, v: Buffer) => {
    for (let o = 0; o < v.length; o += 255) {
      const p = v.subarray(o, Math.min(v.length, o + 255));
      opts.push(code, p.length, ...p);
    }
  };
  piece(Opt.VENDOR_CLASS_ID, vc); // 255 bytes
  const guid = Buffer.alloc(17);
  guid.writeUInt32BE(n, 13);
  piece(Opt.CLIENT_GUID, guid);
  const uc: number[] = [];
  for (let k = 0; k < 8; k++) uc.push(120, ...Buffer.alloc(120, 1)); // 8 RFC 3004 classes of control bytes
  piece(Opt.USER_CLASS, Buffer.from(uc)); // 968 bytes
  piece(Opt.CLIENT_ID, Buffer.alloc(MAX_OPTION_BYTES - 1 - 2 - 255 - 17 - 968 - 1, 0xab)); // the rest of the cap
  const b = Buffer.alloc(240 + opts.length + 1);
  b.set([1, 1, 6], 0);
  b.writeUInt32BE(0x10000 + n, 4);
  b.writeUInt32BE(0x7f000001, 12); // ciaddr 127.0.0.1
  b.set([0x52, 0x54, 0, 0, (n >> 8) & 255, n & 255], 28); // chaddr
  b.writeUInt32BE(0x63825363, 236);
  b.set(opts, 240);
  b[b.length - 1] = 255;
  return b;
}

async function dbBytesPerDatagram(quick: boolean, newHostsPerMinute: number) {
  const dir = mkdtempSync(join(tmpdir(), 'sx-bench-hostile-'));
  const store = await openStore(dir);
  const db = sqliteOf(store);
  const size = () => {
    db.pragma('wal_checkpoint(TRUNCATE)');
    return (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
  };
  const proxyPort = await freeUdpPort();
  const server = createDhcpServer({
    mode: 'proxy',
    dhcp: configSchema.parse({ dhcp: { 'new-hosts-per-source-per-minute': newHostsPerMinute } }).dhcp,
    store,
    log: silentLogger,
    listenAddress: '127.0.0.1',
    httpPort: 8080,
    port: 0,
    proxyPort,
  });
  await server.start();
  const client: Socket = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  const n = quick ? 300 : 2000;
  let answered = 0;
  try {
    // warm the file up (first pages, indexes) so that growth is per datagram, not per table
    for (let i = 0; i < 20; i++) answered += await send(client, hostileRequest(1_000_000 + i), proxyPort);
    const before = size();
    for (let i = 0; i < n; i++) answered += await send(client, hostileRequest(i), proxyPort);
    const grown = size() - before;
    const hosts = db.prepare('SELECT count(*) FROM hosts').pluck().get() as number;
    const detail = db.prepare('SELECT max(length(detail)) FROM boot_events').pluck().get() as number;
    return { n, answered, bytesPer: grown / n, hosts: hosts - 20, detail, datagram: hostileRequest(0).length };
  } finally {
    client.close();
    await server.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function send(client: Socket, b: Buffer, port: number): Promise<number> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      client.removeListener('message', on);
      resolve(0);
    }, 2000);
    const on = () => {
      clearTimeout(t);
      resolve(1);
    };
    client.once('message', on);
    client.send(b, port, '127.0.0.1');
  });
}

async function dhcpDbTable(quick: boolean): Promise<BenchTable> {
  const rows: Array<Array<string | number>> = [];
  for (const [label, rate] of [
    ['default (120 new hosts/min per source)', 120],
    ['rate limit off (every datagram a new host)', 1_000_000],
  ] as const) {
    const r = await dbBytesPerDatagram(quick, rate);
    rows.push([label, r.n, r.datagram, r.answered, r.hosts, r.detail, fmt(r.bytesPer, 0)]);
  }
  return {
    title: 'Hostile DHCP datagrams: database bytes each (largest claims in 60, 77, 61; a new UUID each)',
    columns: [
      'new-host limit',
      'datagrams',
      'datagram B',
      'answered',
      'host rows made',
      'largest boot event detail B',
      'DB bytes / datagram',
    ],
    rows,
    notes: [
      `Bound: each stored claim is cut to ${MAX_STORED_CLAIM} characters (at most 8 user classes), the options to ${MAX_OPTION_BYTES} bytes; one boot_events row per answer, a hosts row only within dhcp.new-hosts-per-source-per-minute; retention.boot-events-max-rows (200,000) caps the rows.`,
      'Before the fix the same claims were stored whole: the review measured ~340 KB of JSON for one 65 KB datagram.',
      'Growth is the SQLite file after a WAL checkpoint, so it includes indexes and page slack.',
    ],
  };
}

// ── /healthz under hostile bodies ──────────────────────────────────────────────────────────────

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - t0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends a body 1 byte per second until the server closes; resolves with how long it was held (ms). */
function trickle(port: number, path: string, stopAt: number): Promise<number> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': 4000 },
    });
    const timer = setInterval(() => {
      if (performance.now() > stopAt) req.destroy();
      else req.write('[');
    }, 1000);
    const done = () => {
      clearInterval(timer);
      resolve(performance.now() - t0);
    };
    req.on('response', (res) => {
      res.resume();
      done();
    });
    req.on('error', done);
    req.on('close', done);
  });
}

/**
 * Posters run as curl processes (a shell loop each), so that the probes in this process measure
 * the server, not our own event loop pushing 8 MB bodies.
 */
async function healthzTable(server: ServerChild, dir: string, quick: boolean): Promise<BenchTable> {
  const port = server.http!.port;
  const probeMs = quick ? 3000 : 10_000;
  const probe = async (until: number) => {
    const lat: number[] = [];
    while (performance.now() < until) {
      lat.push(await get(port, '/healthz'));
      await sleep(20);
    }
    return summarize(lat);
  };
  const idle = await probe(performance.now() + probeMs / 2);
  const bodyFile = join(dir, 'nested.json');
  writeFileSync(bodyFile, '{"a":' + '['.repeat(4 * 2 ** 20) + ']'.repeat(4 * 2 ** 20) + '}'); // ~8 MB nested JSON
  const end = Math.ceil(Date.now() / 1000 + probeMs / 1000);
  const posters = Array.from({ length: quick ? 4 : 8 }, (_, k) => {
    const path = ['/login', '/setup', '/api/v1/session', '/api/v1/phone-home'][k % 4]!;
    const loop =
      `while [ "$(date +%s)" -lt ${end} ]; do curl -s -o /dev/null -w '%{http_code}\\n' ` +
      `-H 'content-type: application/json' --data-binary @${bodyFile} http://127.0.0.1:${port}${path}; done`;
    return run('sh', ['-c', loop], probeMs + 60_000);
  });
  // bodies under the phone-home route's 8 KiB limit, one byte a second: held until the request timeout
  const trickles = Array.from({ length: 32 }, () => trickle(port, '/api/v1/phone-home', performance.now() + 90_000));
  const loaded = await probe(performance.now() + probeMs);
  const statuses = new Map<string, number>();
  for (const r of await Promise.all(posters))
    for (const code of r.stdout.split('\n').filter(Boolean)) statuses.set(code, (statuses.get(code) ?? 0) + 1);
  const held = summarize(await Promise.all(trickles));
  const row = (label: string, s: Summary): Array<string | number> => [
    label,
    s.count,
    fmt(s.p50, 2),
    fmt(s.p99, 2),
    fmt(s.max, 1),
  ];
  return {
    title: '/healthz latency while hostile HTTP bodies arrive (real server, child process, 127.0.0.1)',
    columns: ['load', 'probes', 'p50 ms', 'p99 ms', 'max ms'],
    rows: [row('idle', idle), row(`${quick ? 4 : 8} curl loops posting 8 MB nested JSON + 32 trickling 1 B/s`, loaded)],
    notes: [
      `Hostile answers (curl, 8 MB each): ${[...statuses].map(([k, v]) => `${k} ×${v}`).join(', ')} (413: over the route's body limit, 8 KiB for login, setup, session and phone-home, refused before parsing; 429: the login rate limit, checked before the body is read; 000: closed by the server mid-upload).`,
      `32 connections trickling a phone-home body 1 byte a second were closed by the server after ${fmt(held.p50 / 1000, 1)} s (max ${fmt(held.max / 1000, 1)} s): bound http.request-timeout-ms (30 s); connections per source capped by http.max-connections-per-source (256).`,
      'Before the fix the review measured /healthz stalled 4.5 s by one 8 MB nested body, and a 1 B/10 s body held its connection 80 s+.',
    ],
  };
}

// ── TFTP silent clients ──────────────────────────────────────────────────────────────────────

function rrq(file: string): Buffer {
  return Buffer.concat([
    Buffer.from([0, 1]),
    Buffer.from(`${file}\0octet\0blksize\x0065464\0windowsize\x0064\0tsize\x000\0`, 'latin1'),
  ]);
}

async function activeTransfers(port: number): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let s = '';
      res.on('data', (d: Buffer) => (s += d.toString()));
      res.on('end', () => resolve(s));
    });
    req.on('error', reject);
    req.end();
  });
  const m = /^statelesx_tftp_active_transfers (\d+)/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Sends `count` RRQs from sockets on `sources`; `ackOack` ACKs each OACK once, then all go silent. */
async function silentRun(server: ServerChild, count: number, ackOack: boolean) {
  const tftp = server.tftp!;
  const socks: Socket[] = [];
  let oacks = 0;
  const sources = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
  for (let i = 0; i < count; i++) {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, sources[i % sources.length], () => r()));
    s.on('message', (m, r) => {
      if (m.readUInt16BE(0) !== 6) return;
      oacks++;
      if (ackOack) s.send(Buffer.from([0, 4, 0, 0]), r.port, r.address);
    });
    s.send(rrq('big.bin'), tftp.port, tftp.address);
    socks.push(s);
  }
  const t0 = performance.now();
  await sleep(500);
  let peak = await activeTransfers(server.http!.port);
  let now = peak;
  while (now > 0 && performance.now() - t0 < 120_000) {
    await sleep(250);
    now = await activeTransfers(server.http!.port);
    peak = Math.max(peak, now);
  }
  const heldMs = performance.now() - t0;
  for (const s of socks) s.close();
  return { count, oacks, peak, heldMs };
}

async function tftpTable(server: ServerChild, quick: boolean): Promise<BenchTable> {
  const silent = await silentRun(server, quick ? 400 : 600, false);
  const acked = await silentRun(server, quick ? 32 : 128, true);
  return {
    title: 'TFTP slots a silent client holds (RRQ blksize 65464, windowsize 64; never an ACK, or one ACK of the OACK)',
    columns: ['client', 'RRQs', 'OACKs received (resends included)', 'peak slots held', 'all slots free after s'],
    rows: [
      ['never ACKs', silent.count, silent.oacks, silent.peak, fmt(silent.heldMs / 1000, 1)],
      ['ACKs the OACK, then silent', acked.count, acked.oacks, acked.peak, fmt(acked.heldMs / 1000, 1)],
    ],
    notes: [
      'Bounds (defaults): tftp.max-unverified-transfers 256 slots before a first ACK, tftp.first-ack-timeout-ms 10 s for it, at most 2 resends before it; tftp.max-silence-ms 30 s once a transfer has started, whatever timeout was negotiated; windows within tftp.max-window-bytes 256 KiB.',
      'Before the fix a transfer could hold its slot 6 × 255 s (timeout=255) and 4 MiB of window buffers outside the shared budget.',
      'Slots are read from /metrics (statelesx_tftp_active_transfers) every 250 ms, so times are ±0.25 s.',
    ],
  };
}

/**
 * Runs the hostile-load benchmark.
 * @returns its tables (see the module comment)
 * @throws Error when the server child does not start (dist/ not built: `npm run build`)
 */
export async function benchHostile(o: HostileOptions = {}): Promise<{ tables: BenchTable[] }> {
  const quick = o.quick ?? false;
  const tables: BenchTable[] = [dhcpCpuTable(quick), await dhcpDbTable(quick)];
  const dir = mkdtempSync(join(tmpdir(), 'sx-bench-hostile-srv-'));
  const images = join(dir, 'images');
  mkdirSync(images);
  const config = await benchServerConfig(dir, images);
  writeFileSync(join(dir, 'tftp', 'big.bin'), Buffer.alloc(8 * 2 ** 20, 7));
  const server = await startServerChild(config);
  try {
    tables.push(await healthzTable(server, dir, quick));
    tables.push(await tftpTable(server, quick));
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return { tables };
}
