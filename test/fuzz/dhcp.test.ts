/**
 * DHCP fuzzing (RFC 2131/2132/3396/4578), seeded from the real SeaBIOS-iPXE / OVMF captures:
 * - the decoder throws only DhcpDecodeError; whatever it accepts yields client facts and
 *   re-encodes to a message carrying the same header;
 * - the proxy and full-mode responders answer any decodable request without throwing, with a reply
 *   that encodes within the client's size limit;
 * - the live service in full mode (127.0.0.1, random ports, real SQLite lease file), structured:
 *   fast-check batches of generated and mutated datagrams; after every batch a reserved client
 *   still gets OFFER and ACK;
 * - the live service, volume: a seeded-PRNG flood of mutated captures and random bytes until its
 *   sockets have *received* `runs(4000)` datagrams (1,000,000 under `npm run fuzz`), counted on
 *   the server's own sockets; at 64 checkpoints memory (RSS, heap, external + ArrayBuffers) is
 *   sampled and the reserved client gets OFFER/ACK; memory shows no upward trend after warm-up;
 * - after each, the lease database passes `PRAGMA integrity_check` and holds only pool/reservation
 *   rows, and the server logged no error and counted no internal error.
 * Network rule: fuzzed ciaddr/giaddr are rewritten into 127.0.0.0/8 before sending (the kernel
 * refuses other destinations from a 127.0.0.1 socket anyway; broadcasts from it stay on `lo`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:dgram';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import {
  DhcpDecodeError,
  MessageType,
  Opt,
  decodePacket,
  encodePacket,
  ipBytes,
  ipToInt,
  type DhcpPacket,
} from '../../src/boot/dhcp/packet.js';
import { clientInfoOf } from '../../src/boot/dhcp/client-info.js';
import { FullModeResponder } from '../../src/boot/dhcp/full.js';
import { ProxyResponder } from '../../src/boot/dhcp/proxy.js';
import { maxReplySize } from '../../src/boot/dhcp/reply.js';
import { createDhcpServer, type DhcpServer } from '../../src/boot/dhcp/server.js';
import { configSchema } from '../../src/config/schema.js';
import { openStore, type Store } from '../../src/store/index.js';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.js';
import {
  boundedSync,
  corpus,
  counterValue,
  floodPackets,
  floodSeed,
  heapAfterGc,
  LONG_RUN,
  MemoryTrend,
  openFds,
  packets,
  runs,
  seedParams,
  within,
} from './harness.js';
import { closeSocket, flood, loopbackSocket, receive, send, SocketTracker, tick } from './udp.js';
import { bootRequest } from '../helpers/dhcp-harness.js';

const seeds = corpus('dhcp');
const boot = {
  bootFiles: { bios: 'undionly.kpxe', uefi: 'ipxe.efi', ipxe: 'boot.ipxe' },
  advertiseAddress: '127.0.0.1',
  httpPort: 8080,
};

describe('DHCP decoder and responders fuzz', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openStore(':memory:');
  });
  afterAll(() => store?.close());

  it('decoder throws only DhcpDecodeError; accepted messages give client facts and re-encode', () => {
    fc.assert(
      fc.property(packets(seeds, 4000), (buf) => {
        let p: DhcpPacket;
        try {
          p = boundedSync(2000, 'decodePacket', () => decodePacket(buf));
        } catch (e) {
          expect(e).toBeInstanceOf(DhcpDecodeError);
          return;
        }
        const c = clientInfoOf(p);
        expect(c.xid).toBe(p.xid);
        const again = decodePacket(encodePacket(p, 65_000).buffer);
        expect({
          op: again.op,
          xid: again.xid,
          ciaddr: again.ciaddr,
          giaddr: again.giaddr,
          chaddr: again.chaddr,
        }).toEqual({ op: p.op, xid: p.xid, ciaddr: p.ciaddr, giaddr: p.giaddr, chaddr: p.chaddr });
      }),
      { numRuns: runs(3000), ...seedParams() },
    );
  });

  it('proxy and full-mode responders answer any decodable request without throwing', async () => {
    const full = await FullModeResponder.create(
      {
        serverId: '10.99.0.1',
        rangeStart: '10.99.0.100',
        rangeEnd: '10.99.0.110',
        netmask: '255.255.255.0',
        router: '10.99.0.1',
        dnsServers: ['10.99.0.1'],
        domainName: 'lab.test',
        leaseTimeS: 600,
        reservations: [{ mac: '52:54:00:aa:00:01', address: '10.99.0.50' }],
      },
      store.leases,
      boot,
    );
    const proxy = new ProxyResponder('10.99.0.1', boot);
    let now = Date.parse('2025-01-01T00:00:00Z');
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(packets(seeds, 4000), fc.integer({ min: 0, max: 120_000 }), async (buf, dt) => {
        let p: DhcpPacket;
        try {
          p = decodePacket(buf);
        } catch {
          return;
        }
        now += dt;
        const c = clientInfoOf(p);
        for (const r of [await full.respond(p, c, now), proxy.respond(p, c, 'dhcp'), proxy.respond(p, c, 'pxe')]) {
          if (!r.reply) continue;
          answered++;
          const enc = encodePacket(r.reply, maxReplySize(c));
          expect(enc.buffer.length).toBeLessThanOrEqual(Math.max(300, maxReplySize(c)));
          expect(decodePacket(enc.buffer).xid).toBe(p.xid);
        }
      }),
      { numRuns: runs(3000, 4), ...seedParams() },
    );
    expect(answered).toBeGreaterThan(0);
    for (const l of await store.leases.all()) {
      const ip = ipToInt(l.address);
      expect(
        ip === ipToInt('10.99.0.50') || (ip >= ipToInt('10.99.0.100') && ip <= ipToInt('10.99.0.110')),
        l.address,
      ).toBe(true);
    }
  });
});

/** Rewrites ciaddr (12) and giaddr (24) of a BOOTP-sized datagram into 127.0.0.0/8 (network rule). */
function loopbackOnly(buf: Buffer): Buffer {
  for (const off of [12, 24]) {
    if (buf.length >= off + 4 && buf.readUInt32BE(off) !== 0) buf[off] = 127;
  }
  return buf;
}

describe('DHCP live server fuzz (full mode, 127.0.0.1)', () => {
  const PROBE_MAC = '02:00:5e:00:fa:57';
  const PROBE_IP = '127.0.0.50';
  let dir: string;
  let store: Store;
  let server: DhcpServer;
  let port: number;
  let probeSock: Socket;
  let fuzzers: Socket[];
  const errors: unknown[] = [];
  const onErr = (e: unknown) => errors.push(e);
  /** Server log lines at level error or above (a fuzz input must never cause one). */
  const errorLogs: string[] = [];
  /** Datagrams from the fuzzers (127.0.0.2–4) received by the server's sockets. */
  let rx = 0;

  beforeAll(async () => {
    process.on('uncaughtException', onErr);
    process.on('unhandledRejection', onErr);
    dir = mkdtempSync(join(tmpdir(), 'sx-fuzz-dhcp-'));
    store = await openStore(join(dir, 'data'));
    // Receives the broadcast replies (a socket bound to 127.0.0.1 does not see 255.255.255.255).
    probeSock = await loopbackSocket('127.0.0.1');
    const clientPort = probeSock.address().port;
    await closeSocket(probeSock);
    probeSock = await new Promise<Socket>((res, rej) => {
      void import('node:dgram').then(({ createSocket }) => {
        const s = createSocket({ type: 'udp4', reuseAddr: true });
        s.once('error', rej);
        s.bind({ address: '0.0.0.0', port: clientPort }, () => res(s));
      });
    });
    const dhcp = configSchema.parse({
      dhcp: {
        mode: 'full',
        'range-start': '127.0.0.100',
        'range-end': '127.0.0.120',
        netmask: '255.255.255.0',
        'lease-time-s': 600,
        reservations: [{ mac: PROBE_MAC, address: PROBE_IP }],
      },
    }).dhcp;
    const log = createLogger(
      'error',
      new Writable({
        write(c: Buffer, _e, cb) {
          errorLogs.push(c.toString());
          cb();
        },
      }),
    );
    // A fixed free server port, not 0: relay replies (giaddr set) go to the server port, which
    // createDhcpServer takes from its options (port 0 there would make them unsendable).
    const probePort = await loopbackSocket('127.0.0.1');
    const serverPort = probePort.address().port;
    await closeSocket(probePort);
    server = createDhcpServer({
      mode: 'full',
      dhcp,
      store,
      log,
      listenAddress: '127.0.0.1',
      httpPort: 8080,
      port: serverPort,
      clientPort,
    });
    // The sockets created during start() are the server's (0.0.0.0 receive + 127.0.0.1 send, same port).
    const tracker = new SocketTracker();
    await server.start();
    tracker.stop();
    for (const s of tracker.sockets)
      s.on('message', (_m, r) => {
        if (r.address !== '127.0.0.1') rx++;
      });
    port = server.address().port;
    fuzzers = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((a) => loopbackSocket(a)));
  });

  afterAll(async () => {
    for (const s of fuzzers ?? []) await closeSocket(s);
    if (probeSock) await closeSocket(probeSock);
    await server?.close();
    store?.close();
    rmSync(dir, { recursive: true, force: true });
    process.off('uncaughtException', onErr);
    process.off('unhandledRejection', onErr);
  });

  function probePacket(type: number, extra: Array<[number, Buffer]> = []): { buf: Buffer; xid: number } {
    const p = bootRequest(type, PROBE_MAC, extra);
    return { buf: encodePacket(p, 1472).buffer, xid: p.xid };
  }

  async function exchange(type: number, extra: Array<[number, Buffer]> = []): Promise<DhcpPacket> {
    const { buf, xid: id } = probePacket(type, extra);
    const got = receive(probeSock, 3000, `DHCP probe (type ${type}) after fuzz batch`, (msg) => {
      try {
        const p = decodePacket(msg);
        return p.op === 2 && p.xid === id ? p : undefined;
      } catch {
        return undefined;
      }
    });
    await send(probeSock, buf, port);
    return got;
  }

  /** DISCOVER → OFFER, REQUEST → ACK for the reserved probe client. */
  async function probe(): Promise<void> {
    const offer = await exchange(MessageType.DISCOVER);
    expect(offer.options.get(Opt.MESSAGE_TYPE)?.[0]).toBe(MessageType.OFFER);
    expect(offer.yiaddr).toBe(PROBE_IP);
    const ack = await exchange(MessageType.REQUEST, [
      [Opt.SERVER_ID, ipBytes('127.0.0.1')],
      [Opt.REQUESTED_ADDRESS, ipBytes(PROBE_IP)],
    ]);
    expect(ack.options.get(Opt.MESSAGE_TYPE)?.[0]).toBe(MessageType.ACK);
    expect(ack.yiaddr).toBe(PROBE_IP);
  }

  /** The lease file, opened by a second connection: intact, and only pool or reservation rows. */
  function checkLeaseFile(): void {
    const db = new Database(join(dir, 'data', 'statelesx.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = db.prepare('SELECT address, mac, state FROM dhcp_leases').all() as Array<{
        address: string;
        mac: string;
        state: string;
      }>;
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) {
        const ip = ipToInt(r.address);
        expect(
          r.address === PROBE_IP || (ip >= ipToInt('127.0.0.100') && ip <= ipToInt('127.0.0.120')),
          r.address,
        ).toBe(true);
        expect(['offered', 'bound', 'declined', 'released']).toContain(r.state);
      }
      expect(rows.find((r) => r.address === PROBE_IP)).toMatchObject({ mac: PROBE_MAC, state: 'bound' });
    } finally {
      db.close();
    }
  }

  it(
    'structured: survives fast-check batches of datagrams; a reserved client still gets OFFER/ACK after every batch; leases stay consistent',
    async () => {
      await probe();
      const replies0 = await counterValue('statelesx_dhcp_replies_total');
      const dropped0 = await counterValue('statelesx_dhcp_dropped_total');
      let probes = 0;
      const fds0 = openFds();
      const heap0 = heapAfterGc();
      let sent = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(packets(seeds, 1500), { minLength: 1, maxLength: 64 }), async (pkts) => {
          for (let i = 0; i < pkts.length; i++) {
            await send(fuzzers[i % fuzzers.length]!, loopbackOnly(Buffer.from(pkts[i]!)), port);
            if (i % 16 === 15) await tick();
          }
          sent += pkts.length;
          await within(10_000, 'DHCP probe', probe);
          probes++;
          expect(errors).toEqual([]);
        }),
        { numRuns: runs(40, 1000), ...seedParams() },
      );
      // The fuzz got answers of its own (beyond the probes' two each) and drops.
      expect(await counterValue('statelesx_dhcp_replies_total')).toBeGreaterThan(replies0 + 2 * probes);
      expect(await counterValue('statelesx_dhcp_dropped_total')).toBeGreaterThan(dropped0);
      expect(openFds()).toBeLessThanOrEqual(fds0 + 2);
      const grown = heapAfterGc() - heap0;
      expect(grown, `heap grew by ${grown} bytes after ${sent} datagrams`).toBeLessThan(32 * 1024 * 1024);
      checkLeaseFile();
      expect(errors).toEqual([]);
      expect(errorLogs).toEqual([]);
      expect(await counterValue('statelesx_dhcp_dropped_total', { reason: 'internal-error' })).toBe(0);
    },
    LONG_RUN ? 1_800_000 : 60_000,
  );

  it(
    'volume: the server sockets receive runs(4000) flood datagrams (1,000,000 long); OFFER/ACK at every checkpoint; memory flat; leases consistent',
    async () => {
      await probe();
      const seed = floodSeed();
      const gen = floodPackets(seeds, seed, 1500);
      const next = () => loopbackOnly(Buffer.from(gen()));
      const target = runs(4000);
      const replies0 = await counterValue('statelesx_dhcp_replies_total');
      const dropped0 = await counterValue('statelesx_dhcp_dropped_total');
      const rx0 = rx;
      const fds0 = openFds();
      const mem = new MemoryTrend();
      mem.sample(0);
      let probes = 0;
      const r = await flood({
        target,
        next,
        from: fuzzers,
        port,
        received: () => rx - rx0,
        every: Math.floor(target / (LONG_RUN ? 64 : 4)),
        checkpoint: async (n) => {
          mem.sample(n);
          await within(10_000, 'DHCP probe', probe);
          probes++;
          expect(errors).toEqual([]);
        },
      });
      mem.sample(r.received);
      const replies = (await counterValue('statelesx_dhcp_replies_total')) - replies0 - 2 * probes;
      console.log(
        `DHCP flood (seed ${seed}): ${r.received} datagrams received by the server sockets (${r.sent} sent, ${r.lost} lost in the kernel, ` +
          `${r.sendErrors} send errors), ${replies} replies to the fuzz, ${Math.round(r.ms)} ms (${Math.round(r.checkpointMs)} ms of it in checkpoints; ` +
          `${Math.round(r.received / ((r.ms - r.checkpointMs) / 1000))}/s); ${mem.summary()}`,
      );
      expect(r.received).toBeGreaterThanOrEqual(target);
      expect(replies).toBeGreaterThan(0);
      expect(await counterValue('statelesx_dhcp_dropped_total')).toBeGreaterThan(dropped0);
      expect(openFds()).toBeLessThanOrEqual(fds0 + 2);
      const g = mem.growth();
      // Bounds (see MemoryTrend): the DHCP path keeps no per-datagram state beyond the bounded
      // pool's lease rows (in SQLite's page cache, ≤ 2 MiB by default); 8 MiB covers V8 page
      // granularity and allocator caching; RSS gets 16 MiB for freed-but-cached malloc arenas.
      expect(g.heapUsed, mem.summary()).toBeLessThan(8 * 1024 * 1024);
      expect(g.external, mem.summary()).toBeLessThan(8 * 1024 * 1024);
      expect(g.rss, mem.summary()).toBeLessThan(16 * 1024 * 1024);
      checkLeaseFile();
      expect(errors).toEqual([]);
      expect(errorLogs).toEqual([]);
      expect(await counterValue('statelesx_dhcp_dropped_total', { reason: 'internal-error' })).toBe(0);
    },
    LONG_RUN ? 1_800_000 : 60_000,
  );
});
