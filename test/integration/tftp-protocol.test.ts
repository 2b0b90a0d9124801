/**
 * The TFTP server on the wire, with a raw UDP client on 127.0.0.1 (exact opcodes, error codes,
 * block numbers): path safety, WRQ refusal, TID check, duplicate ACKs, go-back (windowsize 4 and 8),
 * retransmission in the OACK and the DATA phase, abandoned transfers, caps (per client and overall
 * `max-transfers`), malformed datagrams.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync, symlinkSync, mkdirSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TftpServer } from '../../src/boot/tftp/server.js';
import { encodeAck, encodeRequest, encodeError, Opcode, type TftpPacket } from '../../src/boot/tftp/packet.js';
import { toNetascii } from '../../src/boot/tftp/blocks.js';
import type { Received } from '../helpers/tftp-peer.js';
import { TftpRig } from '../helpers/tftp-rig.js';
import { counterValue } from '../helpers/metrics.js';
import { waitFor } from '../helpers/wait.js';

let root: string;
const file5200 = randomBytes(5200); // 10 full blocks of 512 + 80 bytes
/** Text with CR, LF, CR LF and runs of them (netascii expands each CR and LF to two bytes). */
const crlfText = Buffer.from(
  Array.from({ length: 1500 }, (_, i) => ['ab', '\n', '\r', '\r\n', 'c', '\n\n', '\r\r'][(i * 5 + (i >> 2)) % 7]).join(
    '',
  ),
);

const rig = new TftpRig('sx-tftp-proto-');
const { startServer, peer } = rig;

let server: TftpServer;

beforeAll(async () => {
  root = rig.open();
  writeFileSync(join(root, 'f5200'), file5200);
  writeFileSync(join(root, 'small'), 'hello\n');
  writeFileSync(join(root, 'crlf.txt'), crlfText);
  mkdirSync(join(root, 'dir'));
  symlinkSync('/etc', join(root, 'etclink'));
  symlinkSync('/etc/hostname', join(root, 'hostlink'));
  server = await startServer();
});

afterAll(() => rig.close());

describe('TFTP request handling', () => {
  it.each([
    ['../x'],
    ['a/../../etc/passwd'],
    ['/etc/passwd'],
    ['pxelinux.cfg\\default'],
    ['..\\..\\etc\\passwd'],
    ['%2e%2e/%2e%2e/etc/passwd'],
    ['..%2fetc%2fpasswd'],
    ['small\0../../etc/passwd'],
    ['etclink/passwd'],
    ['hostlink'],
  ])('refuses %j with ERROR 2 (access violation)', async (name) => {
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, name, 'octet'), server.address().port);
    const r = await p.recv();
    expect(r?.packet).toMatchObject({ op: Opcode.ERROR, code: 2 });
  });

  it('one leading "/" names the boot tree (GRUB asks /grub/grub.cfg); an absolute name outside it stays ERROR 2', async () => {
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, '/small', 'octet'), server.address().port);
    expect((await p.recv())?.packet).toMatchObject({ op: Opcode.DATA, block: 1, data: Buffer.from('hello\n') });
    for (const name of ['/nope', '//small', '/dir']) {
      const q = await peer();
      q.send(encodeRequest(Opcode.RRQ, name, 'octet'), server.address().port);
      expect((await q.recv())?.packet, name).toMatchObject({ op: Opcode.ERROR, code: 2 });
    }
  });

  it('missing file → ERROR 1; a directory → ERROR 1', async () => {
    for (const name of ['nope', 'dir']) {
      const p = await peer();
      p.send(encodeRequest(Opcode.RRQ, name, 'octet'), server.address().port);
      expect((await p.recv())?.packet).toEqual({ op: Opcode.ERROR, code: 1, message: 'File not found' });
    }
  });

  it('WRQ → ERROR 2 and nothing is written', async () => {
    const p = await peer();
    p.send(encodeRequest(Opcode.WRQ, 'upload.bin', 'octet'), server.address().port);
    expect((await p.recv())?.packet).toMatchObject({ op: Opcode.ERROR, code: 2 });
    expect(readdirSync(root)).not.toContain('upload.bin');
  });

  it('mode "mail" → ERROR 4', async () => {
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'small', 'mail'), server.address().port);
    expect((await p.recv())?.packet).toMatchObject({ op: Opcode.ERROR, code: 4 });
  });

  it('OACK carries blksize capped at 65464, tsize, and netascii tsize of the converted file', async () => {
    const p = await peer();
    p.send(
      encodeRequest(Opcode.RRQ, 'f5200', 'octet', [
        ['tsize', '0'],
        ['blksize', '70000'],
        ['foo', 'bar'],
      ]),
      server.address().port,
    );
    const first = await p.recv();
    expect(first?.packet).toEqual({
      op: Opcode.OACK,
      options: new Map([
        ['tsize', '5200'],
        ['blksize', '65464'],
      ]),
    });
    p.send(encodeError(8, 'just probing'), first!.from.port);
    const q = await peer();
    q.send(encodeRequest(Opcode.RRQ, 'small', 'netascii', [['tsize', '0']]), server.address().port);
    const oack = await q.recv();
    expect(oack?.packet).toEqual({ op: Opcode.OACK, options: new Map([['tsize', '7']]) });
    q.send(encodeAck(0), oack!.from.port);
    const data = await q.recv();
    expect(data?.packet).toMatchObject({ op: Opcode.DATA, block: 1 });
    expect((data!.packet as { data: Buffer }).data.toString('latin1')).toBe('hello\r\n');
    q.send(encodeAck(1), data!.from.port);
  });
});

// Every transfer behaviour holds on both engines: the native data plane (default) and the JS one.
describe.each(['native', 'js'] as const)('TFTP transfer behaviour (%s data plane)', (plane) => {
  const planeLimits = { 'data-plane': plane } as const;
  let planeServer: TftpServer;
  beforeAll(async () => {
    planeServer = await startServer(planeLimits);
  });

  it('a forged packet from another port gets ERROR 5 and does not disturb the transfer', async () => {
    const p = await peer();
    const forger = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'f5200', 'octet'), planeServer.address().port);
    const chunks: Buffer[] = [];
    let tid: number;
    for (let block = 1; ; block++) {
      const r = await p.recvAfterDuplicates(block);
      expect(r?.packet).toMatchObject({ op: Opcode.DATA, block });
      tid = r!.from.port;
      const data = (r!.packet as { data: Buffer }).data;
      chunks.push(Buffer.from(data));
      if (block === 3) {
        // Forged ACK and forged ERROR from another port, at the transfer's TID.
        forger.send(encodeAck(3), tid);
        expect((await forger.recv())?.packet).toEqual({ op: Opcode.ERROR, code: 5, message: 'Unknown transfer ID' });
        forger.send(encodeError(0, 'abort!'), tid);
        expect((await forger.recv())?.packet).toMatchObject({ op: Opcode.ERROR, code: 5 });
      }
      p.send(encodeAck(block), tid);
      if (data.length < 512) break;
    }
    expect(Buffer.concat(chunks)).toEqual(file5200);
  });

  it('duplicate ACKs do not cause a duplicate burst; an ACK inside the window goes back to ack+1', async () => {
    // Long timers so that any packet seen below can only be a reaction to our ACKs.
    const s = await startServer({ ...planeLimits, 'timeout-ms': 5000 }, { minRtoMs: 5000 });
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'f5200', 'octet', [['windowsize', '4']]), s.address().port);
    const oack = await p.recv();
    expect(oack?.packet).toEqual({ op: Opcode.OACK, options: new Map([['windowsize', '4']]) });
    const tid = oack!.from.port;
    const blocks = async (n: number) => {
      const got: number[] = [];
      for (let i = 0; i < n; i++) {
        const r = await p.recv();
        got.push(r?.packet.op === Opcode.DATA ? r.packet.block : -1);
      }
      return got;
    };
    p.send(encodeAck(0), tid);
    expect(await blocks(4)).toEqual([1, 2, 3, 4]);
    p.send(encodeAck(4), tid);
    expect(await blocks(4)).toEqual([5, 6, 7, 8]);
    p.send(encodeAck(4), tid); // duplicates
    p.send(encodeAck(4), tid);
    p.send(encodeAck(2), tid); // stale
    expect(await p.recv(400)).toBeNull();
    p.send(encodeAck(6), tid); // gap after 6: go back
    expect(await blocks(4)).toEqual([7, 8, 9, 10]);
    p.send(encodeAck(10), tid);
    const last = await p.recv();
    expect(last?.packet).toMatchObject({ op: Opcode.DATA, block: 11 });
    expect((last!.packet as { data: Buffer }).data.length).toBe(80);
    p.send(encodeAck(11), tid);
    expect(await waitFor('0 active transfers', () => s.activeTransfers() === 0, 3000)).toBe(true);
  });

  it('retransmits after a timeout, a bounded number of times, then frees the transfer', async () => {
    const s = await startServer({ ...planeLimits, 'timeout-ms': 100, retries: 2 });
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'f5200', 'octet', [['tsize', '0']]), s.address().port);
    const seen: TftpPacket[] = [];
    for (;;) {
      const r = await p.recv(2000);
      if (!r) break;
      seen.push(r.packet);
    }
    // The OACK, then 2 retransmissions, then silence.
    expect(seen.map((x) => x.op)).toEqual([Opcode.OACK, Opcode.OACK, Opcode.OACK]);
    expect(s.activeTransfers()).toBe(0);
  });

  it('abandoned tsize probes (ERROR 8 after OACK, or silence) free their sockets and files', async () => {
    const s = await startServer({ ...planeLimits, 'timeout-ms': 100, retries: 1 });
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const probes = await Promise.all(Array.from({ length: 40 }, () => peer()));
    for (const p of probes)
      p.send(
        encodeRequest(Opcode.RRQ, 'f5200', 'octet', [
          ['tsize', '0'],
          ['blksize', '1408'],
        ]),
        s.address().port,
      );
    const oacks = await Promise.all(probes.map((p) => p.recv()));
    expect(oacks.every((o) => o?.packet.op === Opcode.OACK)).toBe(true);
    // Half say "option refused" like mboot.c32 after its tsize probe, half just go away.
    probes.slice(0, 20).forEach((p, i) => p.send(encodeError(8, 'tsize probe done'), oacks[i]!.from.port));
    expect(await waitFor('0 active transfers', () => s.activeTransfers() === 0, 10_000)).toBe(true);
    // Every transfer socket and file descriptor is closed again.
    for (const p of probes) p.close();
    expect(await waitFor('the fds to be closed', () => readdirSync('/proc/self/fd').length <= fdsBefore, 5000)).toBe(
      true,
    );
  });

  it('caps concurrent transfers per client address with ERROR 0', async () => {
    const s = await startServer({ ...planeLimits, 'max-transfers-per-client': 2, 'timeout-ms': 5000 });
    const ps = await Promise.all([peer(), peer(), peer()]);
    for (const p of ps.slice(0, 2)) {
      p.send(encodeRequest(Opcode.RRQ, 'f5200', 'octet', [['tsize', '0']]), s.address().port);
      expect((await p.recv())?.packet.op).toBe(Opcode.OACK);
    }
    ps[2].send(encodeRequest(Opcode.RRQ, 'f5200', 'octet'), s.address().port);
    expect((await ps[2].recv())?.packet).toMatchObject({ op: Opcode.ERROR, code: 0 });
    await s.close();
    expect(s.activeTransfers()).toBe(0);
  });

  it('caps all transfers at max-transfers with ERROR 0 "Server busy"; a freed slot is used again', async () => {
    const s = await startServer({
      ...planeLimits,
      'max-transfers': 3,
      'max-transfers-per-client': 10,
      'timeout-ms': 5000,
    });
    const ps = await Promise.all([peer(), peer(), peer(), peer()]);
    const oacks: Received[] = [];
    for (const p of ps.slice(0, 3)) {
      p.send(encodeRequest(Opcode.RRQ, 'f5200', 'octet', [['tsize', '0']]), s.address().port);
      const r = await p.recv();
      expect(r?.packet.op).toBe(Opcode.OACK);
      oacks.push(r!);
    }
    expect(s.activeTransfers()).toBe(3);
    ps[3].send(encodeRequest(Opcode.RRQ, 'f5200', 'octet', [['tsize', '0']]), s.address().port);
    const busy = await ps[3].recv();
    expect(busy?.packet).toEqual({
      op: Opcode.ERROR,
      code: 0,
      message: 'Server busy: too many transfers, try again later',
    });
    expect(busy!.from.port).toBe(s.address().port); // refused from the listening port, no transfer socket
    expect(s.activeTransfers()).toBe(3);
    // One transfer ends (the client gives up after the OACK): the next request is accepted.
    ps[0].send(encodeError(8, 'done'), oacks[0]!.from.port);
    expect(await waitFor('2 active transfers', () => s.activeTransfers() === 2, 3000)).toBe(true);
    const late = await peer();
    late.send(encodeRequest(Opcode.RRQ, 'f5200', 'octet', [['tsize', '0']]), s.address().port);
    expect((await late.recv())?.packet).toEqual({ op: Opcode.OACK, options: new Map([['tsize', '5200']]) });
    expect(s.activeTransfers()).toBe(3);
    await s.close();
  });

  it('retransmits an unacknowledged DATA block after the RTO with the same bytes, and the transfer completes', async () => {
    const s = await startServer({ ...planeLimits, 'timeout-ms': 1000 }, { minRtoMs: 150 });
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'f5200', 'octet'), s.address().port);
    const chunks: Buffer[] = [];
    let dropped: { data: Buffer; at: number } | null = null;
    for (let block = 1; ; block++) {
      const r = await p.recv();
      expect(r?.packet).toMatchObject({ op: Opcode.DATA, block });
      let data = Buffer.from((r!.packet as { data: Buffer }).data);
      if (block === 2) {
        // "Lose" DATA 2: no ACK. The server must send block 2 again, not block 3, after its RTO.
        dropped = { data, at: Date.now() };
        const again = await p.recv(3000);
        expect(again?.packet).toMatchObject({ op: Opcode.DATA, block: 2 });
        expect(Date.now() - dropped.at).toBeGreaterThanOrEqual(120);
        expect(Buffer.from((again!.packet as { data: Buffer }).data).equals(dropped.data)).toBe(true);
        data = Buffer.from((again!.packet as { data: Buffer }).data);
      }
      chunks.push(data);
      p.send(encodeAck(block), r!.from.port);
      if (data.length < 512) break;
    }
    expect(dropped).not.toBeNull();
    expect(Buffer.concat(chunks)).toEqual(file5200);
    expect(await p.recv(400)).toBeNull(); // no stray duplicate after the end
    expect(await waitFor('0 active transfers', () => s.activeTransfers() === 0, 3000)).toBe(true);
  });

  it('stays alive through a client silence longer than its quick resends, up to retries × timeout-ms (atftp re-ACKs only after 5 s)', async () => {
    // On a fast link the RTO adapts down to the floor (5 ms here), so the 3 resends of a lost ACK's
    // window all go out within ~100 ms; the transfer must still be there when the slow client's own
    // timer repeats its ACK 1.5 s later (give-up: 3 retries × 1000 ms timeout = 3 s of silence).
    const s = await startServer({ ...planeLimits, 'timeout-ms': 1000, retries: 3 }, { minRtoMs: 5 });
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'f5200', 'octet'), s.address().port);
    const chunks: Buffer[] = [];
    for (let block = 1; ; block++) {
      // With a 5 ms RTO floor, a resend of the previous block can overtake our ACK of it on a
      // loaded machine (the native data plane's timer runs on its own thread).
      let r = await p.recvAfterDuplicates(block);
      expect(r?.packet).toMatchObject({ op: Opcode.DATA, block });
      if (block === 6) {
        // Our ACK of block 6 "is lost": the server resends DATA 6 quickly, then we stay silent.
        const t0 = Date.now();
        while (Date.now() - t0 < 1500) {
          const again = await p.recv(1600 - (Date.now() - t0));
          if (!again) break;
          expect(again.packet).toMatchObject({ op: Opcode.DATA, block: 6 });
          r = again;
        }
      }
      const data = Buffer.from((r!.packet as { data: Buffer }).data);
      chunks.push(data);
      p.send(encodeAck(block), r!.from.port);
      if (data.length < 512) break;
    }
    expect(Buffer.concat(chunks)).toEqual(file5200);
    expect(await waitFor('0 active transfers', () => s.activeTransfers() === 0, 3000)).toBe(true);
  });

  it('windowsize 8: an ACK of block 3 inside the window → the server goes back and sends from block 4', async () => {
    const s = await startServer({ ...planeLimits, 'timeout-ms': 5000 }, { minRtoMs: 5000 });
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'f5200', 'octet', [['windowsize', '8']]), s.address().port);
    const oack = await p.recv();
    expect(oack?.packet).toEqual({ op: Opcode.OACK, options: new Map([['windowsize', '8']]) });
    const tid = oack!.from.port;
    const window = async (n: number) => {
      const got: Array<{ block: number; data: Buffer }> = [];
      for (let i = 0; i < n; i++) {
        const r = await p.recv();
        expect(r?.packet.op).toBe(Opcode.DATA);
        const d = r!.packet as { block: number; data: Buffer };
        got.push({ block: d.block, data: Buffer.from(d.data) });
      }
      return got;
    };
    const expectBytes = (got: Array<{ block: number; data: Buffer }>) => {
      for (const g of got) expect(g.data.equals(file5200.subarray((g.block - 1) * 512, g.block * 512))).toBe(true);
    };
    p.send(encodeAck(0), tid);
    const first = await window(8);
    expect(first.map((g) => g.block)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    p.send(encodeAck(3), tid); // blocks 4..8 "lost"
    const resent = await window(8);
    expect(resent.map((g) => g.block)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    expectBytes([...first, ...resent]);
    expect(resent[7]!.data.length).toBe(80);
    p.send(encodeAck(11), tid);
    expect(await waitFor('0 active transfers', () => s.activeTransfers() === 0, 3000)).toBe(true);
    expect(await p.recv(300)).toBeNull();
  });

  it('netascii from disk, blksize 16 windowsize 4 with a go-back: the blocks are the converted file', async () => {
    // ~6 KB converted: more than the 256 blocks read ahead at once, so the converter refills
    // while keeping the blocks a go-back may resend; CR/LF expansions straddle block edges.
    const s = await startServer({ ...planeLimits, 'timeout-ms': 5000 }, { minRtoMs: 5000 });
    const p = await peer();
    p.send(
      encodeRequest(Opcode.RRQ, 'crlf.txt', 'netascii', [
        ['blksize', '16'],
        ['windowsize', '4'],
      ]),
      s.address().port,
    );
    const oack = await p.recv();
    expect(oack?.packet.op).toBe(Opcode.OACK);
    const tid = oack!.from.port;
    const got = new Map<number, Buffer>();
    /** Receives up to 4 DATA blocks (fewer when the last block comes); returns the highest. */
    const window = async (): Promise<{ last: number; end: boolean }> => {
      let last = -1;
      for (let i = 0; i < 4; i++) {
        const r = await p.recv();
        expect(r?.packet.op).toBe(Opcode.DATA);
        const d = r!.packet as { block: number; data: Buffer };
        const prev = got.get(d.block);
        if (prev) expect(d.data.equals(prev)).toBe(true); // a resent block carries the same bytes
        got.set(d.block, Buffer.from(d.data));
        last = d.block;
        if (d.data.length < 16) return { last, end: true };
      }
      return { last, end: false };
    };
    p.send(encodeAck(0), tid);
    expect((await window()).last).toBe(4);
    p.send(encodeAck(2), tid); // blocks 3 and 4 "lost": go back
    let w = await window();
    expect(w.last).toBe(6);
    while (!w.end) {
      p.send(encodeAck(w.last), tid);
      w = await window();
    }
    p.send(encodeAck(w.last), tid);
    const blocks = [...got.keys()].sort((a, b) => a - b);
    expect(blocks).toEqual(Array.from({ length: blocks.length }, (_, i) => i + 1));
    expect(Buffer.concat(blocks.map((b) => got.get(b)!)).equals(toNetascii(crlfText))).toBe(true);
    expect(await waitFor('0 active transfers', () => s.activeTransfers() === 0, 3000)).toBe(true);
  });

  it('drops truncated, oversized and random datagrams (counted) and keeps serving', async () => {
    const before = await counterValue('statelesx_tftp_dropped_packets_total');
    const junk = await peer();
    const port = planeServer.address().port;
    const bad = [
      Buffer.alloc(0),
      Buffer.from([0]),
      Buffer.from([0, 1, 0x41]),
      Buffer.from([0, 4, 0]),
      Buffer.from([0, 9, 1, 2]),
      Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(3000, 0x41)]),
      Buffer.from('\x00\x01f\x00octet\x00blksize\x00'),
    ];
    for (let i = 0; i < 200; i++) {
      const b = randomBytes(1 + (i % 600));
      b[0] = 0;
      b[1] = 7 + (i % 200); // never a valid opcode
      bad.push(b);
    }
    for (const b of bad) junk.send(b, port);
    // Junk also at a running transfer's socket, from the client's own port.
    const p = await peer();
    p.send(encodeRequest(Opcode.RRQ, 'f5200', 'octet'), port);
    const first = await p.recv();
    expect(first?.packet).toMatchObject({ op: Opcode.DATA, block: 1 });
    for (let i = 0; i < 20; i++) p.send(randomBytes(3 + i), first!.from.port);
    const chunks: Buffer[] = [Buffer.from((first!.packet as { data: Buffer }).data)];
    p.send(encodeAck(1), first!.from.port);
    for (let block = 2; ; block++) {
      const r = await p.recv();
      expect(r?.packet).toMatchObject({ op: Opcode.DATA, block });
      const data = (r!.packet as { data: Buffer }).data;
      chunks.push(Buffer.from(data));
      p.send(encodeAck(block), r!.from.port);
      if (data.length < 512) break;
    }
    expect(Buffer.concat(chunks)).toEqual(file5200);
    expect(await counterValue('statelesx_tftp_dropped_packets_total')).toBeGreaterThanOrEqual(before + bad.length);
  });
});
