/**
 * TFTP fuzzing (RFC 1350/2347/2348/2349/7440), seeded from the real iPXE/OVMF/pxelinux captures:
 * - the packet decoder never throws, and everything it accepts is well-formed;
 * - the live server (127.0.0.1, random port) gets generated and mutated datagrams on its listening
 *   port and mutated ACK/ERROR/DATA back on every transfer port that talks to the fuzzer; after
 *   every batch a real RRQ from another address still gets its file, and at the end no transfer,
 *   file descriptor or heap is left behind.
 * Short in `npm test`; `FUZZ_RUNS=1000000 npm run fuzz` for the long run.
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
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { boundedSync, corpus, counterValue, heapAfterGc, LONG_RUN, openFds, packets, runs, seedParams, within } from './harness.js';
import { closeSocket, loopbackSocket, receive, send, tick } from './udp.js';

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

describe('TFTP live server fuzz', () => {
  let dir: string;
  let server: TftpServer;
  let port: number;
  let fuzzers: Socket[];
  let probeBody: Buffer;
  let replies: Buffer[] = [];
  const errors: unknown[] = [];
  const onErr = (e: unknown) => errors.push(e);

  beforeAll(async () => {
    process.on('uncaughtException', onErr);
    process.on('unhandledRejection', onErr);
    dir = mkdtempSync(join(tmpdir(), 'sx-fuzz-tftp-'));
    for (const [n, size] of [['pxelinux.0', 42_430], ['ldlinux.c32', 3000], ['menu.c32', 600], ['vmlinuz', 70_000]] as const) {
      writeFileSync(join(dir, n), randomBytes(size));
    }
    mkdirSync(join(dir, 'pxelinux.cfg'));
    writeFileSync(join(dir, 'pxelinux.cfg', 'default'), 'DEFAULT local\n');
    probeBody = Buffer.from('statelesx fuzz probe\n');
    writeFileSync(join(dir, 'probe.txt'), probeBody);
    const limits = configSchema.parse({ tftp: { 'timeout-ms': 50, retries: 1 } }).tftp;
    server = createTftpServer({ source: directorySource(dir), address: '127.0.0.1', port: 0, limits, log: silentLogger, minRtoMs: 10, maxRtoMs: 100 });
    await server.start();
    port = server.address().port;
    // Fuzz traffic comes from other loopback addresses than the probe, so the per-client cap of
    // the fuzzers never refuses the probe.
    fuzzers = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'].map((a) => loopbackSocket(a)));
    for (const s of fuzzers) {
      s.on('message', (_msg, r) => {
        // Answer every transfer port with a mutated packet (a hostile client mid-transfer).
        if (r.port === port) return;
        const next = replies.shift();
        if (next) s.send(next, r.port, '127.0.0.1');
      });
    }
  });

  afterAll(async () => {
    for (const s of fuzzers ?? []) await closeSocket(s);
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    process.off('uncaughtException', onErr);
    process.off('unhandledRejection', onErr);
  });

  /** One RRQ from 127.0.0.1 for probe.txt: DATA block 1 must carry the file. */
  async function probe(): Promise<void> {
    const s = await loopbackSocket('127.0.0.1');
    try {
      const got = receive(s, 3000, 'TFTP probe RRQ after fuzz batch', (msg, r) => (msg.readUInt16BE(0) === Opcode.DATA ? { msg, r } : undefined));
      await send(s, encodeRequest(Opcode.RRQ, 'probe.txt', 'octet'), port);
      const { msg, r } = await got;
      expect(msg.readUInt16BE(2)).toBe(1);
      expect(msg.subarray(4)).toEqual(probeBody);
      await send(s, encodeAck(1), r.port);
    } finally {
      await closeSocket(s);
    }
  }

  it('survives generated and mutated datagrams and still serves a valid RRQ after every batch', async () => {
    await probe();
    const started0 = await counterValue('statelesx_tftp_transfers_started_total');
    const dropped0 = await counterValue('statelesx_tftp_dropped_packets_total');
    const fds0 = openFds();
    const heap0 = heapAfterGc();
    let sent = 0;
    const batch = fc.array(packets(seeds, 1500), { minLength: 1, maxLength: 64 });
    const replyBatch = fc.array(packets(seeds.filter((b) => b.length <= 64 || b.readUInt16BE(0) !== Opcode.DATA), 1500), { maxLength: 32 });
    await fc.assert(
      fc.asyncProperty(batch, replyBatch, async (pkts, back) => {
        replies = back;
        for (let i = 0; i < pkts.length; i++) {
          await send(fuzzers[i % fuzzers.length]!, pkts[i]!, port);
          if (i % 16 === 15) await tick();
        }
        sent += pkts.length + back.length;
        await probe();
        expect(errors).toEqual([]);
      }),
      { numRuns: runs(150, 40), ...seedParams() },
    );
    // Every transfer the fuzzers started ends (timeout 50 ms, 1 retry) and frees its socket and fd.
    await within(30_000, 'transfers draining', async () => {
      while (server.activeTransfers() > 0) await new Promise((r) => setTimeout(r, 50));
    });
    replies = [];
    // The fuzz reached both the request path (transfers started) and the drop path.
    expect(await counterValue('statelesx_tftp_transfers_started_total')).toBeGreaterThan(started0 + 1);
    expect(await counterValue('statelesx_tftp_dropped_packets_total')).toBeGreaterThan(dropped0);
    expect(openFds()).toBeLessThanOrEqual(fds0 + 2);
    const grown = heapAfterGc() - heap0;
    expect(grown, `heap grew by ${grown} bytes after ${sent} datagrams`).toBeLessThan((LONG_RUN ? 48 : 32) * 1024 * 1024);
    expect(errors).toEqual([]);
  }, LONG_RUN ? 3_600_000 : 60_000);
});
