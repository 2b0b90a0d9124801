/**
 * What a hostile or spoofing client on the boot LAN can make the TFTP server hold or send
 * (security review, issue 16 findings 6 and 9), on both data planes, with a raw client on 127.0.0.1:
 * - silence holds a slot for at most `max-silence-ms`, even with timeout=255 negotiated;
 * - the wait for the first ACK is capped (`first-ack-timeout-ms`) and earns at most 2 resends;
 * - transfers that have not ACKed yet are capped in all (`max-unverified-transfers`);
 * - windowsize × blksize is bounded (`max-window-bytes`); the native data plane maps its
 *   read-ahead only after the first ACK;
 * - ERROR replies are rate-limited (listening socket per destination, transfer sockets' ERROR 5)
 *   and never echo the client's text.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadDataPlane } from '../../src/boot/tftp/native.js';
import { encodeAck, encodeRequest, Opcode, type TftpPacket } from '../../src/boot/tftp/packet.js';
import type { RawPeer } from '../helpers/tftp-peer.js';
import { TftpRig } from '../helpers/tftp-rig.js';
import { waitFor } from '../helpers/wait.js';

const rig = new TftpRig('sx-tftp-hostile-');
const { startServer, peer } = rig;

/** Every datagram `p` receives within `ms`. */
async function drain(p: RawPeer, ms: number): Promise<TftpPacket[]> {
  const out: TftpPacket[] = [];
  const end = Date.now() + ms;
  for (;;) {
    const r = await p.recv(Math.max(1, end - Date.now()));
    if (!r) return out;
    out.push(r.packet);
  }
}

beforeAll(() => {
  writeFileSync(join(rig.open(), 'big'), randomBytes(400_000));
});

afterAll(() => rig.close());

describe.each(['native', 'js'] as const)('TFTP against hostile clients (%s data plane)', (plane) => {
  const dp = { 'data-plane': plane } as const;

  it('timeout=255 is accepted, but silence after the first ACK holds the slot only max-silence-ms', async () => {
    const s = await startServer({ ...dp, 'max-silence-ms': 1000 });
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'big', 'octet', [['timeout', '255']]), s.address().port);
    const oack = await p.recv();
    expect(oack?.packet).toEqual({ op: Opcode.OACK, options: new Map([['timeout', '255']]) });
    p.send(encodeAck(0), oack!.from.port);
    expect((await p.recv())?.packet).toMatchObject({ op: Opcode.DATA, block: 1 });
    // Silent from here: the slot is free after ~1 s (was 6 × 255 s).
    const t0 = Date.now();
    expect(await waitFor('the silent transfer to end', () => s.activeTransfers() === 0, 4000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
  });

  it('the wait for the first ACK is capped by first-ack-timeout-ms, even with timeout=255', async () => {
    const s = await startServer({ ...dp, 'first-ack-timeout-ms': 1000 });
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'big', 'octet', [['timeout', '255']]), s.address().port);
    expect((await p.recv())?.packet.op).toBe(Opcode.OACK);
    expect(await waitFor('0 active transfers', () => s.activeTransfers() === 0, 3000)).toBe(true);
  });

  it('an unverified peer gets at most 2 DATA resends before its first ACK (was one per retry)', async () => {
    const s = await startServer({ ...dp, 'timeout-ms': 100, retries: 6 });
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'big', 'octet'), s.address().port);
    const got = await drain(p, 3000);
    expect(got.length).toBeGreaterThanOrEqual(1);
    expect(got.every((x) => x.op === Opcode.DATA && x.block === 1)).toBe(true);
    expect(got.length).toBeLessThanOrEqual(3);
    expect(s.activeTransfers()).toBe(0);
  });

  it('caps transfers that have not ACKed yet (max-unverified-transfers): beyond it requests are dropped', async () => {
    const s = await startServer({ ...dp, 'max-unverified-transfers': 2, 'timeout-ms': 5000 });
    const [a, b, c, d] = await Promise.all([peer(), peer(), peer(), peer()]);
    const oacks = [];
    for (const p of [a, b]) {
      p.send(encodeRequest(Opcode.RRQ, 'big', 'octet', [['tsize', '0']]), s.address().port);
      const r = await p.recv();
      expect(r?.packet.op).toBe(Opcode.OACK);
      oacks.push(r!);
    }
    c.send(encodeRequest(Opcode.RRQ, 'big', 'octet', [['tsize', '0']]), s.address().port);
    expect(await c.recv(500)).toBeNull();
    // a proves its address: one unverified slot is free again.
    a.send(encodeAck(0), oacks[0]!.from.port);
    expect((await a.recv())?.packet).toMatchObject({ op: Opcode.DATA, block: 1 });
    d.send(encodeRequest(Opcode.RRQ, 'big', 'octet', [['tsize', '0']]), s.address().port);
    expect((await d.recv())?.packet.op).toBe(Opcode.OACK);
  });

  it('blksize 65464 windowsize 64 is granted only the windowsize that fits max-window-bytes', async () => {
    const s = await startServer({ ...dp, 'max-window-bytes': 256 * 1024 });
    const p = await peer();
    p.send(
      encodeRequest(Opcode.RRQ, 'big', 'octet', [
        ['blksize', '65464'],
        ['windowsize', '64'],
      ]),
      s.address().port,
    );
    const oack = (await p.recv())?.packet as { op: number; options: Map<string, string> };
    expect(oack.op).toBe(Opcode.OACK);
    const blksize = Number(oack.options.get('blksize'));
    const windowsize = Number(oack.options.get('windowsize'));
    expect(windowsize).toBe(Math.max(1, Math.floor((256 * 1024) / blksize)));
    expect(windowsize).toBeLessThan(64);
  });

  it('ERROR 5 to foreign TIDs is rate-limited per transfer: 40 forged datagrams get at most 5 answers', async () => {
    const s = await startServer({ ...dp, 'timeout-ms': 5000 });
    const p = await peer();
    const forger = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'big', 'octet', [['tsize', '0']]), s.address().port);
    const oack = await p.recv();
    for (let i = 0; i < 40; i++) forger.send(encodeAck(0), oack!.from.port);
    const answers = await drain(forger, 600);
    expect(answers.length).toBeGreaterThanOrEqual(1);
    expect(answers.every((x) => x.op === Opcode.ERROR && x.code === 5)).toBe(true);
    expect(answers.length).toBeLessThanOrEqual(5);
  });
});

describe('TFTP listening socket against hostile clients', () => {
  it('the bad-mode error does not echo the client text', async () => {
    const s = await startServer({});
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'big', 'echo-me-back-please'), s.address().port);
    const r = await p.recv();
    expect(r?.packet).toMatchObject({ op: Opcode.ERROR, code: 4 });
    expect(r!.raw.toString('latin1')).not.toContain('echo-me');
  });

  it('ERROR replies to one address are rate-limited: 100 requests for a missing file get at most 40 answers', async () => {
    const s = await startServer({});
    // 100 client ports of one address (a request repeated from one port is ignored while it runs).
    const ps = await Promise.all(Array.from({ length: 100 }, () => peer()));
    ps.forEach((p, i) => p.send(encodeRequest(Opcode.RRQ, `missing-${i}`, 'octet'), s.address().port));
    const answers = (await Promise.all(ps.map((p) => drain(p, 800)))).flat();
    expect(answers.length).toBeGreaterThanOrEqual(20);
    expect(answers.every((x) => x.op === Opcode.ERROR && x.code === 1)).toBe(true);
    expect(answers.length).toBeLessThanOrEqual(40);
  });

  it('native data plane: no read-ahead buffer before the first ACK, one within the budget after it', async () => {
    const loaded = loadDataPlane();
    if (!('plane' in loaded)) throw new Error(loaded.error);
    const s = await startServer({ 'timeout-ms': 5000 });
    const base = loaded.plane.bufferedBytes();
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'big', 'octet', [['blksize', '8192']]), s.address().port);
    const oack = await p.recv();
    expect(oack?.packet.op).toBe(Opcode.OACK);
    expect(loaded.plane.bufferedBytes()).toBe(base);
    p.send(encodeAck(0), oack!.from.port);
    expect((await p.recv())?.packet).toMatchObject({ op: Opcode.DATA, block: 1 });
    const held = loaded.plane.bufferedBytes() - base;
    expect(held).toBeGreaterThanOrEqual(8192);
    expect(held).toBeLessThanOrEqual(128 * 1024 + 8192);
    await s.close();
    expect(await waitFor('the read-ahead to be released', () => loaded.plane.bufferedBytes() === base, 2000)).toBe(
      true,
    );
  });
});
