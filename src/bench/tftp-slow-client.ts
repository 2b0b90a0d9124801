/**
 * A slow TFTP client for the benchmark (src/bench/tftp.ts): RRQ with `blksize` (RFC 2347/2348),
 * lock-step, and every ACK sent only after the client has slept `delayUs` µs since the DATA
 * arrived — a host whose firmware or link answers slowly. It sleeps (Atomics.wait, a futex with a
 * timeout), it never spins, so it does not take the server's core; the sleep is at least `delayUs`
 * (timer slack adds some tens of µs). Retransmitted DATA is ACKed again; 10 s of silence fails.
 *
 *   node dist/bench/tftp-slow-client.js HOST PORT FILE DEST BLKSIZE DELAY_US
 *
 * Writes the file to DEST and exits 0; exits 1 with a message on stderr on a TFTP ERROR or
 * timeout. Prints the mean measured ACK delay, µs, on stdout.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { openSync, writeSync, closeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const [host = '127.0.0.1', portS = '69', file = '', dest = '', blkS = '1468', delayS = '200'] = process.argv.slice(2);
const blksize = Number(blkS);
const delayMs = Number(delayS) / 1000;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const out = openSync(dest, 'w');
const sock = createSocket('udp4');
let expected = 1;
let size = 512;
let delaySum = 0;
let acks = 0;
let idle: NodeJS.Timeout | undefined;

function fail(msg: string): never {
  process.stderr.write(`tftp-slow-client: ${msg}\n`);
  process.exit(1);
}

function arm(): void {
  if (idle) clearTimeout(idle);
  idle = setTimeout(() => fail(`no DATA ${expected} for 10 s`), 10_000);
}

/** Sleeps until `delayMs` after `t0`, then ACKs `block` to `to`. */
function ackLater(block: number, to: RemoteInfo, t0: number): void {
  const left = delayMs - (performance.now() - t0);
  if (left > 0) Atomics.wait(sleeper, 0, 0, left);
  delaySum += performance.now() - t0;
  acks++;
  const ack = Buffer.from([0, 4, (block >> 8) & 0xff, block & 0xff]);
  sock.send(ack, to.port, to.address);
}

sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
  const t0 = performance.now();
  const op = msg.readUInt16BE(0);
  if (op === 5) fail(`server error ${msg.readUInt16BE(2)}: ${msg.subarray(4).toString('latin1').replace(/\0.*$/, '')}`);
  if (op === 6) {
    // OACK: the server's blksize (it may lower ours); ACK 0 starts the data.
    const parts = msg.subarray(2).toString('latin1').split('\0');
    const i = parts.findIndex((p) => p.toLowerCase() === 'blksize');
    if (i >= 0) size = Number(parts[i + 1]);
    arm();
    return ackLater(0, rinfo, t0);
  }
  if (op !== 3) return;
  const block = msg.readUInt16BE(2);
  if (block === (expected & 0xffff)) {
    writeSync(out, msg, 4, msg.length - 4);
    expected++;
    arm();
    ackLater(block, rinfo, t0);
    if (msg.length - 4 < size) {
      closeSync(out);
      process.stdout.write(`${((delaySum / acks) * 1000).toFixed(0)}\n`);
      process.exit(0);
    }
  } else if (block === ((expected - 1) & 0xffff)) {
    ackLater(block, rinfo, t0); // our ACK was lost or late: the server sent it again
  }
});

const rrq = Buffer.from(`\0\x01${file}\0octet\0blksize\0${blksize}\0`, 'latin1');
sock.send(rrq, Number(portS), host);
arm();
