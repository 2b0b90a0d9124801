/**
 * TFTP fuzzing (RFC 1350/2347/2348/2349/7440), seeded from the real iPXE/OVMF/pxelinux captures:
 * - the packet decoder never throws, and everything it accepts is well-formed;
 * - the live server (127.0.0.1, random port), structured: fast-check batches of generated and
 *   mutated datagrams on its listening port and mutated ACK/ERROR/DATA back on every transfer port
 *   that talks to the fuzzer; after every batch a real RRQ from another address still gets its file;
 * - the live server, volume: a seeded-PRNG flood of mutated captures and random bytes until the
 *   listening socket has *received* `runs(4000)` datagrams (1,000,000 under `npm run fuzz`),
 *   counted on the server's own socket, with mutated replies on the transfer ports; at 64
 *   checkpoints the transfers drain, a probe RRQ is served and memory (RSS, heap, external +
 *   ArrayBuffers) is sampled; at the end no transfer, file descriptor or error log is left and
 *   memory shows no upward trend after warm-up.
 * The live-server tests run on both data planes (native and JS).
 * Short in `npm test` (~1 s); `npm run fuzz` for the long run (FUZZ_SEED replays a flood);
 * `STATELESX_SANITIZE=1 npm run fuzz` runs the native data plane built with AddressSanitizer and
 * UndefinedBehaviorSanitizer (vitest.fuzz.config.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import fc from 'fast-check';
import { decodePacket, encodeAck, encodeRequest, Opcode, MAX_REQUEST_SIZE } from '../../src/boot/tftp/packet.js';
import { createTftpServer, type TftpServer } from '../../src/boot/tftp/server.js';
import { directorySource } from '../../src/boot/tftp/dir-source.js';
import type { RingPool } from '../../src/boot/tftp/ring-pool.js';
import { nativeDatagramsReceived } from '../../src/boot/tftp/native-transfer.js';
import { configSchema } from '../../src/config/schema.js';
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

const seeds = corpus('tftp');

describe('TFTP decoder fuzz', () => {
  it('never throws; accepted packets are well-formed (generated + mutated captures)', () => {
    fc.assert(
      fc.property(packets(seeds, 70_000), (buf) => {
        const d = boundedSync(2000, 'decodePacket', () => decodePacket(buf));
        if (!d.ok) {
          expect(['truncated', 'oversized', 'malformed', 'unknown-opcode']).toContain(d.error.reason);
          return;
        }
        const p = d.packet;
        expect(buf.readUInt16BE(0)).toBe(p.op);
        if (p.op === Opcode.RRQ || p.op === Opcode.WRQ) {
          expect(buf.length).toBeLessThanOrEqual(MAX_REQUEST_SIZE);
          expect(p.mode).toBe(p.mode.toLowerCase());
          for (const k of p.options.keys()) expect(k).toBe(k.toLowerCase());
        } else if (p.op === Opcode.ACK) {
          expect(buf.length).toBe(4);
          expect(p.block).toBeGreaterThanOrEqual(0);
          expect(p.block).toBeLessThanOrEqual(0xffff);
        } else if (p.op === Opcode.DATA) {
          expect(p.data.length).toBe(buf.length - 4);
        }
      }),
      { numRuns: runs(3000), ...seedParams() },
    );
  });
});

// Both data planes: the native one (default; under `STATELESX_SANITIZE=1 npm run fuzz` the ASan +
// UBSan build) and the JS one.
describe.each(['native', 'js'] as const)('TFTP live server fuzz (%s data plane)', (plane) => {
  let dir: string;
  let server: TftpServer;
  let port: number;
  let fuzzers: Socket[];
  let probeBody: Buffer;
  /** Where the fuzzers' answers to transfer ports come from (undefined: stay silent). */
  let reply: () => Buffer | undefined = () => undefined;
  const errors: unknown[] = [];
  const onErr = (e: unknown) => errors.push(e);
  /** Server log lines at level error or above (a fuzz input must never cause one). */
  const errorLogs: string[] = [];
  /** Datagrams from the fuzzers received by the listening socket / by transfer sockets. */
  let listenRx = 0;
  let transferRx = 0;
  /** Our own sockets (fuzzers, probes): not counted as transfer sockets. */
  const ours = new WeakSet<Socket>();
  let tracker: SocketTracker;

  beforeAll(async () => {
    process.on('uncaughtException', onErr);
    process.on('unhandledRejection', onErr);
    dir = mkdtempSync(join(tmpdir(), 'sx-fuzz-tftp-'));
    for (const [n, size] of [
      ['pxelinux.0', 42_430],
      ['ldlinux.c32', 3000],
      ['menu.c32', 600],
      ['vmlinuz', 70_000],
    ] as const) {
      writeFileSync(join(dir, n), randomBytes(size));
    }
    mkdirSync(join(dir, 'pxelinux.cfg'));
    writeFileSync(join(dir, 'pxelinux.cfg', 'default'), 'DEFAULT local\n');
    probeBody = Buffer.from('statelesx fuzz probe\n');
    writeFileSync(join(dir, 'probe.txt'), probeBody);
    const limits = configSchema.parse({ tftp: { 'timeout-ms': 50, retries: 1, 'data-plane': plane } }).tftp;
    const log = createLogger(
      'error',
      new Writable({
        write(c: Buffer, _e, cb) {
          errorLogs.push(c.toString());
          cb();
        },
      }),
    );
    server = createTftpServer({
      source: directorySource(dir),
      address: '127.0.0.1',
      port: 0,
      limits,
      log,
      minRtoMs: 10,
      maxRtoMs: 100,
    });
    // The sockets created during start() are the listening sockets; every later one not ours is a transfer socket.
    const listening = new SocketTracker();
    await server.start();
    listening.stop();
    for (const s of listening.sockets)
      s.on('message', (_m, r) => {
        if (r.address !== '127.0.0.1') listenRx++;
      });
    tracker = new SocketTracker((s) =>
      s.on('message', () => {
        if (!ours.has(s)) transferRx++;
      }),
    );
    port = server.address().port;
    // Fuzz traffic comes from other loopback addresses than the probe, so the per-client cap of
    // the fuzzers never refuses the probe.
    fuzzers = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'].map((a) => loopbackSocket(a)));
    for (const s of fuzzers) {
      ours.add(s);
      s.on('message', (_msg, r) => {
        // Answer every transfer port with a mutated packet (a hostile client mid-transfer).
        if (r.port === port) return;
        const next = reply();
        if (next) s.send(next, r.port, '127.0.0.1');
      });
    }
  });

  afterAll(async () => {
    tracker?.stop();
    for (const s of fuzzers ?? []) await closeSocket(s);
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    process.off('uncaughtException', onErr);
    process.off('unhandledRejection', onErr);
  });

  /** One RRQ from 127.0.0.1 for probe.txt: DATA block 1 must carry the file. */
  async function probe(): Promise<void> {
    const s = await loopbackSocket('127.0.0.1');
    ours.add(s);
    try {
      const got = receive(s, 3000, 'TFTP probe RRQ after fuzz batch', (msg, r) =>
        msg.readUInt16BE(0) === Opcode.DATA ? { msg, r } : undefined,
      );
      await send(s, encodeRequest(Opcode.RRQ, 'probe.txt', 'octet'), port);
      const { msg, r } = await got;
      expect(msg.readUInt16BE(2)).toBe(1);
      expect(msg.subarray(4)).toEqual(probeBody);
      await send(s, encodeAck(1), r.port);
    } finally {
      await closeSocket(s);
    }
  }

  /** Waits until every transfer ended (timeout 50 ms, 1 retry) and freed its socket. */
  async function drain(): Promise<void> {
    await within(30_000, 'transfers draining', async () => {
      while (server.activeTransfers() > 0) await new Promise((r) => setTimeout(r, 20));
    });
  }

  const replySeeds = seeds.filter((b) => b.length <= 64 || b.readUInt16BE(0) !== Opcode.DATA);

  it(
    'structured: survives fast-check batches of datagrams and still serves a valid RRQ after every batch',
    async () => {
      await probe();
      const started0 = await counterValue('statelesx_tftp_transfers_started_total');
      const dropped0 = await counterValue('statelesx_tftp_dropped_packets_total');
      const fds0 = openFds();
      const heap0 = heapAfterGc();
      let sent = 0;
      const batch = fc.array(packets(seeds, 1500), { minLength: 1, maxLength: 64 });
      const replyBatch = fc.array(packets(replySeeds, 1500), { maxLength: 32 });
      await fc.assert(
        fc.asyncProperty(batch, replyBatch, async (pkts, back) => {
          reply = () => back.shift();
          for (let i = 0; i < pkts.length; i++) {
            await send(fuzzers[i % fuzzers.length]!, pkts[i]!, port);
            if (i % 16 === 15) await tick();
          }
          sent += pkts.length + back.length;
          await probe();
          expect(errors).toEqual([]);
        }),
        { numRuns: runs(40, 1000), ...seedParams() },
      );
      reply = () => undefined;
      await drain();
      // The fuzz reached both the request path (transfers started) and the drop path.
      expect(await counterValue('statelesx_tftp_transfers_started_total')).toBeGreaterThan(started0 + 1);
      expect(await counterValue('statelesx_tftp_dropped_packets_total')).toBeGreaterThan(dropped0);
      expect(openFds()).toBeLessThanOrEqual(fds0 + 2);
      const grown = heapAfterGc() - heap0;
      expect(grown, `heap grew by ${grown} bytes after ${sent} datagrams`).toBeLessThan(32 * 1024 * 1024);
      expect(errors).toEqual([]);
      expect(errorLogs).toEqual([]);
    },
    LONG_RUN ? 1_800_000 : 60_000,
  );

  it(
    'volume: the listening loop receives runs(4000) flood datagrams (1,000,000 long) with mutated replies on transfer ports; memory flat',
    async () => {
      await probe();
      const seed = floodSeed();
      const next = floodPackets(seeds, seed, 1500);
      const nextReply = floodPackets(replySeeds, seed ^ 0x5f3759df, 1500);
      const target = runs(4000);
      const started0 = await counterValue('statelesx_tftp_transfers_started_total');
      const dropped0 = await counterValue('statelesx_tftp_dropped_packets_total');
      const listen0 = listenRx;
      const transfer0 = transferRx + nativeDatagramsReceived();
      let replySent = 0;
      const fds0 = openFds();
      const mem = new MemoryTrend();
      // The server's ring pool (private) keeps up to 8 MiB of idle rings for reuse by design: its
      // idle bytes are recorded with every sample so that its filling up is not taken for a leak.
      const pool = (server as unknown as { rings: RingPool }).rings;
      const poolIdle = () => ({ ringPoolIdle: pool.idleBytes });
      await drain();
      mem.sample(0, poolIdle);
      // Replies on transfer ports: at most one per four listening-port datagrams (bounded ping-pong).
      reply = () => {
        if (replySent * 4 >= listenRx - listen0) return undefined;
        replySent++;
        return nextReply();
      };
      const r = await flood({
        target,
        next,
        from: fuzzers,
        port,
        received: () => listenRx - listen0,
        every: Math.floor(target / (LONG_RUN ? 64 : 4)),
        checkpoint: async (n) => {
          // Quiesce (no replies, transfers drained) so each sample sees the steady state, then probe.
          const before = reply;
          reply = () => undefined;
          await drain();
          mem.sample(n, poolIdle);
          await probe();
          expect(errors).toEqual([]);
          reply = before;
        },
      });
      reply = () => undefined;
      await drain();
      mem.sample(r.received, poolIdle);
      const transferDatagrams = transferRx + nativeDatagramsReceived() - transfer0;
      console.log(
        `TFTP flood (seed ${seed}): ${r.received} datagrams received by the listening socket (${r.sent} sent, ${r.lost} lost in the kernel, ` +
          `${r.sendErrors} send errors), ${transferDatagrams} received by transfer sockets (${replySent} fuzz replies sent), ` +
          `${Math.round(r.ms)} ms (${Math.round(r.checkpointMs)} ms of it in checkpoints; ${Math.round(r.received / ((r.ms - r.checkpointMs) / 1000))}/s)`,
      );
      expect(r.received).toBeGreaterThanOrEqual(target);
      // The mutated replies reached the transfer sockets (native threads or JS engine sockets).
      expect(transferDatagrams).toBeGreaterThan(0);
      expect(await counterValue('statelesx_tftp_transfers_started_total')).toBeGreaterThan(started0 + 1);
      expect(await counterValue('statelesx_tftp_dropped_packets_total')).toBeGreaterThan(dropped0);
      expect(openFds()).toBeLessThanOrEqual(fds0 + 2);
      const g = mem.growth();
      const poolGrowth = mem.growthOf((x) => x.extra['ringPoolIdle'] ?? 0);
      const externalBeyondPool = mem.growthOf((x) => x.external - (x.extra['ringPoolIdle'] ?? 0));
      const why = `${mem.summary()}; ring pool idle ${(pool.idleBytes / 1048576).toFixed(1)} MiB (grew ${(poolGrowth / 1048576).toFixed(1)})`;
      console.log(`TFTP flood ${why}`);
      // Bounds (see MemoryTrend): transfers are drained at every sample, so nothing per-transfer may
      // stay. Beyond the ring pool (capped at 8 MiB of idle rings, RingPool.freeCapBytes), 4 MiB of
      // external and 8 MiB of heap cover V8 page granularity and allocator caching; RSS gets the
      // pool's 8 MiB plus 16 MiB for freed-but-cached malloc arenas and V8 pages.
      expect(g.heapUsed, why).toBeLessThan(8 * 1024 * 1024);
      expect(externalBeyondPool, why).toBeLessThan(4 * 1024 * 1024);
      expect(g.external, why).toBeLessThan(pool.freeCapBytes + 4 * 1024 * 1024);
      expect(g.rss, why).toBeLessThan(pool.freeCapBytes + 16 * 1024 * 1024);
      expect(errors).toEqual([]);
      expect(errorLogs).toEqual([]);
    },
    LONG_RUN ? 1_800_000 : 60_000,
  );
});
