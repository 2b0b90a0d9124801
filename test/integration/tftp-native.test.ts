/**
 * The native TFTP data plane (src/boot/tftp/native/dataplane.c) as the server uses it: that it is
 * built and chosen by default, that `data-plane: js` switches it off, rendered (in-memory) files and
 * netascii from disk, dead handles after "done",
 * shutdown in the middle of a transfer (ERROR 0 to the client, close() waits for the thread, no
 * socket, file descriptor or thread left), and the metrics it feeds. The protocol itself (go-back,
 * timers, TID check, caps) is tested on both engines in tftp-protocol.test.ts and with real
 * clients in tftp-clients.test.ts / tftp-loss.test.ts.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir, networkInterfaces } from 'node:os';
import { Writable } from 'node:stream';
import { createTftpServer, type TftpServer } from '../../src/boot/tftp/server.js';
import { directorySource } from '../../src/boot/tftp/dir-source.js';
import { loadDataPlane, type DataPlaneEvent, type DataPlaneHandle } from '../../src/boot/tftp/native.js';
import { NativeTransfer } from '../../src/boot/tftp/native-transfer.js';
import type { TransferOutcome } from '../../src/boot/tftp/contract.js';
import { tftpMetrics } from '../../src/boot/tftp/metrics.js';
import type { BootFileSource } from '../../src/boot/files/types.js';
import { encodeAck, encodeRequest, Opcode } from '../../src/boot/tftp/packet.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { counterValue } from '../helpers/metrics.js';
import { RawPeer } from '../helpers/tftp-peer.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
let root: string;
const big = randomBytes(3 * 1024 * 1024 + 77);
const servers: TftpServer[] = [];
const handles: DataPlaneHandle[] = [];

/** Log lines (parsed) of one server. */
function capture(): { lines: Array<Record<string, unknown>>; stream: Writable } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(c: Buffer, _e, cb) {
      for (const l of c.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, stream };
}

async function start(over: Partial<Config['tftp']> = {}, source?: BootFileSource) {
  const logs = capture();
  const limits = { ...configSchema.parse({}).tftp, ...over };
  const s = createTftpServer({
    source: source ?? directorySource(root),
    address: '127.0.0.1',
    port: 0,
    limits,
    log: createLogger('info', logs.stream),
  });
  await s.start();
  servers.push(s);
  return { s, logs: logs.lines };
}

const threads = (): number => Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
const fds = (): number => readdirSync('/proc/self/fd').length;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sx-tftp-native-'));
  writeFileSync(join(root, 'big'), big);
});

afterAll(async () => {
  for (const s of servers) await s.close();
  rmSync(root, { recursive: true, force: true });
});

describe('native TFTP data plane', () => {
  it('is built by npm install and loads', () => {
    const loaded = loadDataPlane();
    expect('error' in loaded ? loaded.error : 'loaded').toBe('loaded');
  });

  it('is the default: the start-up line and every transfer say dataPlane "native"; data-plane: js switches it off', async () => {
    const { s, logs } = await start();
    expect(logs.find((l) => l['msg'] === 'TFTP server listening')).toMatchObject({ dataPlane: 'native' });
    const out = join(root, 'out-default');
    await run('curl', ['-s', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${s.address().port}/big`]);
    expect(readFileSync(out).equals(big)).toBe(true);
    expect(logs.find((l) => l['msg'] === 'transfer starting')).toMatchObject({ dataPlane: 'native' });
    expect(logs.find((l) => l['msg'] === 'transfer completed')).toMatchObject({
      bytes: big.length,
      blocks: Math.floor(big.length / 1468) + 1,
    });

    const js = await start({ 'data-plane': 'js' });
    expect(js.logs.find((l) => l['msg'] === 'TFTP server listening')).toMatchObject({ dataPlane: 'js' });
    await run('curl', ['-s', '-o', out, `tftp://127.0.0.1:${js.s.address().port}/big`]);
    expect(readFileSync(out).equals(big)).toBe(true);
    expect(js.logs.find((l) => l['msg'] === 'transfer starting')).toMatchObject({ dataPlane: 'js' });
  });

  it('busy-poll: a lone lock-step transfer on loopback catches its ACKs spinning; busy-poll-us 0 never spins', async () => {
    const out = join(root, 'out-spin');
    // 1 ms (the maximum) rather than the default 50 µs: other test files load both cores in
    // parallel and a busy machine answers later than 50 µs; the default's gain is in npm run bench.
    const on = await start({ 'busy-poll-us': 1000 });
    await run('curl', ['-s', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${on.s.address().port}/big`]);
    expect(readFileSync(out).equals(big)).toBe(true);
    // Asserts that spinning ran and caught ACKs at all (a spin that never polls, or polls the
    // wrong way, gives 0); how many depends on the load (a transfer stops spinning after 32 misses
    // in 64).
    // curl exits on sending its last ACK: the server's "done" (and its log line) may come just after.
    await waitFor(
      'the transfer completed log line',
      () => on.logs.some((l) => l['msg'] === 'transfer completed'),
      2000,
    );
    const hits = on.logs.find((l) => l['msg'] === 'transfer completed')?.['busyPollHits'];
    expect(hits).toBeGreaterThan(0);
    const off = await start({ 'busy-poll-us': 0 });
    await run('curl', ['-s', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${off.s.address().port}/big`]);
    expect(readFileSync(out).equals(big)).toBe(true);
    await waitFor(
      'the transfer completed log line',
      () => off.logs.some((l) => l['msg'] === 'transfer completed'),
      2000,
    );
    expect(off.logs.find((l) => l['msg'] === 'transfer completed')).toMatchObject({ busyPollHits: 0 });
  });

  it('serves rendered (in-memory) files, octet and netascii, byte-exact', async () => {
    const text = Buffer.from(Array.from({ length: 4000 }, (_, i) => `line ${i}\n`).join(''));
    const source: BootFileSource = {
      resolve: (name: string) => Promise.resolve(name === 'rendered.cfg' ? { kind: 'rendered', data: text } : null),
    } as unknown as BootFileSource;
    const { s, logs } = await start({}, source);
    const out = join(root, 'out-rendered');
    await run('curl', ['-s', '--tftp-blksize', '512', '-o', out, `tftp://127.0.0.1:${s.address().port}/rendered.cfg`]);
    expect(readFileSync(out).equals(text)).toBe(true);
    expect(logs.filter((l) => l['msg'] === 'transfer starting').every((l) => l['dataPlane'] === 'native')).toBe(true);
    // netascii (tftp-hpa's client converts back): LF went out as CR LF and comes back as LF.
    await run('tftp', ['127.0.0.1', String(s.address().port), '-m', 'netascii', '-c', 'get', 'rendered.cfg', out]);
    expect(readFileSync(out).equals(text)).toBe(true);
  });

  it('netascii from disk runs on the native data plane too, byte-exact through tftp-hpa', async () => {
    // CR alone, LF alone, CR LF and runs of them, so expansions straddle 512-byte blocks.
    const pieces = ['a', '\n', '\r', '\r\n', 'xyz', '\n\n', '\r\r'];
    const text = Buffer.from(
      Array.from({ length: 3000 }, (_, i) => pieces[(i * 7 + (i >> 3)) % pieces.length]).join(''),
    );
    writeFileSync(join(root, 'text.cfg'), text);
    const { s, logs } = await start();
    const out = join(root, 'out-netascii-disk');
    await run('tftp', ['127.0.0.1', String(s.address().port), '-m', 'netascii', '-c', 'get', 'text.cfg', out]);
    // tftp-hpa's client turns CR LF back into LF and CR NUL into CR.
    expect(readFileSync(out).equals(text)).toBe(true);
    expect(logs.find((l) => l['msg'] === 'transfer starting')).toMatchObject({ mode: 'netascii', dataPlane: 'native' });
  });

  it('a handle is dead after "done": stats() and abort() throw instead of touching freed memory', async () => {
    const loaded = loadDataPlane();
    if (!('plane' in loaded)) throw new Error(loaded.error);
    const plane = loaded.plane;
    const p = await new RawPeer().open();
    const done = new Promise<DataPlaneEvent>((res) => {
      const h = plane.start(
        {
          localAddress: '127.0.0.1',
          clientAddress: '127.0.0.1',
          clientPort: p.socket.address().port,
          fd: -1,
          data: Buffer.from('tiny'),
          blksize: 512,
          windowsize: 1,
          slots: 1,
          rtoMs: 1000,
          minRtoMs: 20,
          maxRtoMs: 1000,
          maxRetries: 1,
          giveUpMs: 1000,
          busyPollUs: 0,
          maxSilenceMs: 30_000,
          firstAckMs: 10_000,
          budgetBytes: 8 << 20,
        },
        (e) => {
          if (e.type !== 'done') return;
          expect(plane.stats(h).bytes).toBe(4); // still valid inside the done callback
          setImmediate(() => res(e));
        },
      );
      handles.push(h);
    });
    const d1 = await p.recv();
    expect(d1?.packet).toMatchObject({ op: Opcode.DATA, block: 1 });
    p.send(encodeAck(1), d1!.from.port);
    expect(await done).toEqual({ type: 'done', code: 'ok', bytes: 4, blocks: 1, detail: '' });
    expect(() => plane.stats(handles[0]!)).toThrow('the transfer has ended');
    expect(() => plane.abort(handles[0]!, Buffer.alloc(0))).toThrow('the transfer has ended');
    p.close();
  });

  it('shutdown mid-transfer: the client gets ERROR 0, close() returns after the thread ended, nothing is left open', async () => {
    const threads0 = threads();
    const fds0 = fds();
    const { s } = await start();
    const peers = await Promise.all([0, 1, 2].map(() => new RawPeer().open()));
    for (const p of peers) p.send(encodeRequest(Opcode.RRQ, 'big', 'octet'), s.address().port);
    for (const p of peers) {
      const d1 = await p.recv();
      expect(d1?.packet).toMatchObject({ op: Opcode.DATA, block: 1 });
      p.send(encodeAck(1), d1!.from.port); // DATA 2 follows; then the client goes quiet
      expect((await p.recv())?.packet).toMatchObject({ op: Opcode.DATA, block: 2 });
    }
    expect(s.activeTransfers()).toBe(3);
    expect(threads()).toBeGreaterThanOrEqual(threads0 + 3);
    await s.close();
    expect(s.activeTransfers()).toBe(0);
    for (const p of peers) {
      // Skip DATA resends that were in flight; the last word is ERROR 0 naming the shutdown.
      let last = await p.recv();
      while (last && last.packet.op === Opcode.DATA) last = await p.recv(1000);
      expect(last?.packet).toMatchObject({ op: Opcode.ERROR, code: 0, message: 'server shutting down' });
      p.close();
    }
    // The transfer sockets and the file descriptors are closed, and the threads have exited.
    expect(
      await waitFor('the threads and fds to be released', () => threads() <= threads0 && fds() <= fds0 + 1, 2000),
    ).toBe(true);
  });

  it('a transfer socket that cannot be bound ends the transfer with socket-error naming the errno, and closes the file', async () => {
    const loaded = loadDataPlane();
    if (!('plane' in loaded)) throw new Error(loaded.error);
    // A documentation address (RFC 5737) that this machine does not have (test VMs may use 192.0.2.x).
    const local = new Set(
      Object.values(networkInterfaces())
        .flat()
        .map((a) => a?.address),
    );
    const notLocal = ['192.0.2.251', '198.51.100.251', '203.0.113.251'].find((a) => !local.has(a))!;
    let closed = 0;
    const outcome = await new Promise<TransferOutcome>((res) => {
      const t = new NativeTransfer({
        plane: loaded.plane,
        id: 't1',
        clientAddress: '127.0.0.1',
        clientPort: 9,
        // An address of no local interface: bind() fails with EADDRNOTAVAIL; nothing is sent.
        localAddress: notLocal,
        source: { fd: 0, close: () => closed++ },
        negotiated: { blksize: 512, windowsize: 1, timeoutMs: 1000, timeoutNegotiated: false, oack: null },
        maxRetries: 1,
        minRtoMs: 20,
        maxRtoMs: 100,
        busyPollUs: 0,
        maxSilenceMs: 30_000,
        firstAckTimeoutMs: 10_000,
        log: silentLogger,
        metrics: tftpMetrics(),
        onEnd: (_t, o) => res(o),
      });
      void t.start();
    });
    expect(outcome).toMatchObject({ ok: false, reason: 'socket-error' });
    expect((outcome as { detail: string }).detail).toBe(
      `transfer on ${notLocal}: cannot bind transfer socket: Cannot assign requested address`,
    );
    expect(closed).toBe(1);
  });

  it('feeds the TFTP metrics: bytes sent and completed transfers when done, foreign TIDs as dropped', async () => {
    const { s } = await start();
    const bytes0 = await counterValue('statelesx_tftp_bytes_sent_total');
    const done0 = await counterValue('statelesx_tftp_transfers_completed_total');
    const foreign0 = await counterValue('statelesx_tftp_dropped_packets_total', { reason: 'unknown-tid' });
    const p = await new RawPeer().open();
    const forger = await new RawPeer().open();
    p.send(encodeRequest(Opcode.RRQ, 'big', 'octet', [['blksize', '8192']]), s.address().port);
    const oack = await p.recv();
    expect(oack?.packet.op).toBe(Opcode.OACK);
    const tid = oack!.from.port;
    forger.send(encodeAck(0), tid);
    expect((await forger.recv())?.packet).toMatchObject({ op: Opcode.ERROR, code: 5 });
    p.send(encodeAck(0), tid);
    let received = 0;
    for (;;) {
      const d = await p.recv();
      if (!d || d.packet.op !== Opcode.DATA) throw new Error(`expected DATA, got ${JSON.stringify(d?.packet)}`);
      received += d.packet.data.length;
      p.send(encodeAck(d.packet.block), tid);
      if (d.packet.data.length < 8192) break;
    }
    expect(received).toBe(big.length);
    expect(await waitFor('0 active transfers', () => s.activeTransfers() === 0, 2000)).toBe(true);
    expect((await counterValue('statelesx_tftp_bytes_sent_total')) - bytes0).toBe(big.length);
    expect((await counterValue('statelesx_tftp_transfers_completed_total')) - done0).toBe(1);
    expect((await counterValue('statelesx_tftp_dropped_packets_total', { reason: 'unknown-tid' })) - foreign0).toBe(1);
    p.close();
    forger.close();
  });
});
