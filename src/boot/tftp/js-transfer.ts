/**
 * The JS data plane: one TFTP read transfer (RFC 1350 §2/§4, RFC 2347 OACK, RFC 7440 windows) on
 * the Node event loop, on its own ephemeral UDP socket — the server's transfer ID (TID) — bound to
 * the local address the request arrived on. It implements {@link TftpTransfer} like the native data
 * plane (native-transfer.ts) and is the fallback when the addon is not built (or `tftp.data-plane:
 * js`); this comment is the protocol specification of both.
 *
 * Sending: blocks live in a ring of preallocated slots (header + blksize bytes each). The ring
 * holds at least one window and reads ahead ~128 KiB with one scatter read (`fs.readv`), so a
 * lock-step transfer does one disk read per many blocks and never holds more than the ring.
 * A window [lastAcked+1 … lastAcked+windowsize] is sent, then the transfer waits for an ACK:
 *  - ACK of a block inside the window (the client saw a gap) → go back and send from ack+1,
 *    except for ACKs provoked by our own last resend (below the resend mark), which only slide;
 *  - ACK of the last block of the file → done;
 *  - a duplicate or stale ACK → ignored: only the timer resends (no sorcerer's apprentice); the
 *    one exception is the first repeat of an ACK that only slid the window, which goes back once.
 * Block numbers are tracked as absolute integers; on the wire they wrap 65535 → 0 (tftp-hpa,
 * dnsmasq, iPXE and ESXi's mboot all expect 0 after 65535).
 *
 * Retransmission timer (RFC 6298 shape, rto.ts): initial RTO = negotiated timeout or config timeout-ms;
 * smoothed RTT from ACKs of windows that were not retransmitted (Karn); RTO doubles on timeout,
 * bounded by [minRto, maxRto]; after `retries` timeouts without progress, and no sooner than
 * `retries` × the initial timeout since the last progress, the transfer is dropped and its socket
 * and file descriptor are freed (abandoned tsize probes, vanished clients). The second bound is
 * for clients whose own retry timer is slow: with the RTO adapted down to a few ms on a fast
 * link, six quick resends can all fall inside one client timeout (atftp waits 5 s before it
 * repeats its ACK, and ignores a resent window of blocks it already has), and the transfer must
 * still be alive when that ACK comes.
 *
 * Slots held by silence are bounded whatever the client negotiated (issue 16 finding 6): the
 * RTO, the timer and the give-up never go past `maxSilenceMs` of silence (config
 * `tftp.max-silence-ms`; RFC 2349 timeout=255 is accepted and echoed but does not hold a slot for
 * 6 × 255 s). Before the client's first ACK its source address is unproven: the wait is bounded
 * by `firstAckTimeoutMs` and at most PRE_ACK_RETRANSMITS (2) resends go out (finding 9). The
 * server counts transfers that have not ACKed yet and caps them (`onFirstAck`).
 *
 * Datagrams from another address/port get ERROR 5 "Unknown transfer ID" (RFC 1350 §4), at most 4
 * per second per transfer (a spoofed source must not turn the socket into a reflector), and do not
 * touch the transfer.
 */
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { BlockSource } from './blocks.js';
import { decodePacket, encodeError, encodeOack, writeDataHeader, ErrorCode, Opcode } from './packet.js';
import type { FailReason } from './metrics.js';
import type { RingPool } from './ring-pool.js';
import { givesUp, ringSlots, transferTimers, type TftpTransfer, type TransferCommon } from './contract.js';
import { RtoEstimator } from './rto.js';

/** ERROR 5 replies to foreign TIDs per transfer: at most ERR_BURST at once, ERR_PER_S per second. */
const ERR_BURST = 4;
const ERR_PER_S = 4;
/** Bytes sent back to back before yielding to the event loop (see JsTransfer.burst). */
const BURST_BYTES = 64 * 1024;
/** Flush the bytes-sent counter to prom-client at least this often (bytes). */
const METRIC_FLUSH_BYTES = 16 * 1024 * 1024;

/** Everything a transfer on the JS data plane needs; built by the server after the file is resolved and opened. */
export interface JsTransferParams extends TransferCommon {
  source: BlockSource;
  /** Where the ring comes from and goes back to (default: a fresh Buffer, left to the GC). */
  rings?: RingPool;
}

type State = 'init' | 'oack' | 'data' | 'done';

/** A running read transfer on the JS data plane; see the module comment for the protocol. */
export class JsTransfer implements TftpTransfer {
  readonly id: string;
  readonly clientAddress: string;
  readonly clientPort: number;
  private readonly p: JsTransferParams;
  private readonly blksize: number;
  private readonly windowsize: number;
  private socket: Socket | null = null;
  private state: State = 'init';

  // Ring of slots: slot i at i*stride holds a 4-byte DATA header then blksize bytes.
  private ring: Buffer | null = null;
  private slots: Buffer[] = [];
  private slotLen: Int32Array = new Int32Array(0);
  private nslots = 0;
  private stride = 0;

  // Absolute block numbers (1-based; 0 = the OACK).
  private lastAcked = 0;
  private lastSent = 0;
  private filledUpTo = 0;
  /** Blocks of the current window still to send on later event-loop turns. */
  private burstNext = 0;
  private burstEnd = -1;
  private burstImmediate: NodeJS.Immediate | null = null;
  private readonly burstBound = (): void => this.burst();
  /** Next block `pump` sends. */
  private sendFrom = 1;
  /** Block whose ACK only slid the window (see onAck); -1 when none. */
  private slidAt = -1;
  /** Highest block sent when the last resend (go-back or timeout) went out. */
  private resendMark = 0;
  private lastBlock = Number.POSITIVE_INFINITY;
  private reading = false;

  // Retransmission timer.
  private retries = 0;
  private readonly rto: RtoEstimator;
  private sentAt = 0;
  private retransmitted = false;
  private timer: NodeJS.Timeout | null = null;
  private timerMs = 0;
  /** When the client last made progress (an ACK that moved the window, or the start), ms. */
  private progressAt = performance.now();
  /** Give-up bounds (see the module comment and contract.ts givesUp), ms. */
  private readonly limits: { maxRetries: number; giveUpMs: number; maxSilenceMs: number; firstAckMs: number };
  /** The client has ACKed: its source address is proven. */
  private verified = false;
  /** ERROR 5 replies to foreign TIDs: token bucket (ERR_BURST, refilled ERR_PER_S per second). */
  private errTokens = ERR_BURST;
  private errAt = performance.now();

  private bytesSent = 0;
  private bytesUnflushed = 0;
  private readonly startedAt = performance.now();
  private readonly oack: Buffer | null;

  private readonly onMessageBound = (msg: Buffer, rinfo: RemoteInfo): void => this.onMessage(msg, rinfo);
  private readonly onTimeoutBound = (): void => this.onTimeout();
  private readonly onSocketErrorBound = (err: Error): void => this.fail('socket-error', err.message, false);

  constructor(params: JsTransferParams) {
    this.p = params;
    this.id = params.id;
    this.clientAddress = params.clientAddress;
    this.clientPort = params.clientPort;
    this.blksize = params.negotiated.blksize;
    this.windowsize = params.negotiated.windowsize;
    const neg = params.negotiated;
    const timers = transferTimers(neg, params);
    this.rto = new RtoEstimator(timers.rtoMs, params.minRtoMs, timers.maxRtoMs);
    this.limits = {
      maxRetries: params.maxRetries,
      giveUpMs: timers.giveUpMs,
      maxSilenceMs: timers.maxSilenceMs,
      firstAckMs: timers.firstAckMs,
    };
    this.oack = neg.oack ? encodeOack(neg.oack) : null;
  }

  /** Payload bytes sent so far (retransmissions included). */
  get sent(): number {
    return this.bytesSent;
  }

  /**
   * Binds the transfer socket and sends the OACK or the first window.
   * Never rejects: a bind failure ends the transfer with reason `socket-error`.
   */
  async start(): Promise<void> {
    const socket = createSocket({ type: 'udp4' });
    this.socket = socket;
    socket.on('error', this.onSocketErrorBound);
    try {
      await new Promise<void>((res, rej) => {
        socket.once('error', rej);
        socket.bind({ address: this.p.localAddress, port: 0, exclusive: true }, () => {
          socket.off('error', rej);
          res();
        });
      });
    } catch (e) {
      this.fail(
        'socket-error',
        `cannot bind transfer socket on ${this.p.localAddress}: ${(e as Error).message}`,
        false,
      );
      return;
    }
    if (this.state === 'done') return; // aborted while binding
    socket.on('message', this.onMessageBound);
    this.p.metrics.started.inc();
    if (this.oack) {
      this.state = 'oack';
      this.sendOack();
    } else {
      this.enterData();
    }
  }

  /** Ends the transfer now (server shutdown): ERROR 0 to the client, resources freed. */
  abort(reason: FailReason, detail: string): void {
    this.fail(reason, detail, true);
  }

  private sendOack(): void {
    this.sentAt = performance.now();
    this.socket!.send(this.oack!, this.clientPort, this.clientAddress);
    this.armTimer();
  }

  private enterData(): void {
    this.state = 'data';
    this.stride = this.blksize + 4;
    this.nslots = ringSlots(this.p.negotiated, this.p.readAheadBytes, this.p.transferSize);
    this.ring = this.p.rings
      ? this.p.rings.acquire(this.nslots * this.stride)
      : Buffer.allocUnsafe(this.nslots * this.stride);
    this.slotLen = new Int32Array(this.nslots);
    this.slots = new Array<Buffer>(this.nslots);
    for (let i = 0; i < this.nslots; i++) {
      this.slots[i] = this.ring.subarray(i * this.stride + 4, (i + 1) * this.stride);
    }
    this.retransmitted = false;
    this.sendFrom = 1;
    this.pump();
  }

  /**
   * Sends blocks [sendFrom … lastAcked+windowsize] (clipped to the last block), reading ahead
   * first when they are not in the ring yet. `sendFrom` is lastAcked+1 for a new window, a go-back
   * or a timeout, and lastSent+1 when the window only slides.
   */
  private pump(): void {
    if (this.reading || this.state !== 'data') return;
    this.cancelBurst();
    const end = Math.min(this.lastAcked + this.windowsize, this.lastBlock);
    if (end > this.filledUpTo) {
      void this.fill();
      return;
    }
    const start = this.sendFrom;
    if (start > end) return;
    if (start <= this.lastSent) {
      this.retransmitted = true;
      this.p.metrics.retransmitted.inc(Math.min(end, this.lastSent) - start + 1);
    } else {
      this.retransmitted = false;
      this.sentAt = performance.now();
    }
    if (this.retransmitted) this.resendMark = Math.max(end, this.lastSent);
    this.sendFrom = end + 1;
    this.burstNext = start;
    this.burstEnd = end;
    this.burst();
  }

  /** A newer ACK or timeout supersedes the unsent rest of the previous burst. */
  private cancelBurst(): void {
    if (this.burstImmediate === null) return;
    clearImmediate(this.burstImmediate);
    this.burstImmediate = null;
  }

  /**
   * Sends blocks burstNext…burstEnd, at most BURST_BYTES at once; the rest follows on the next
   * event-loop turn so a receiver with a small socket buffer (atftp at blksize 8192) can drain it
   * between bursts instead of dropping the window's tail.
   */
  private burst(): void {
    this.burstImmediate = null;
    if (this.state !== 'data') return;
    const socket = this.socket!;
    const ring = this.ring!;
    const n = this.nslots;
    let bytes = 0;
    let b = this.burstNext;
    const end = this.burstEnd;
    for (; b <= end && bytes < BURST_BYTES; b++) {
      const slot = b % n;
      const off = slot * this.stride;
      const len = this.slotLen[slot]!;
      writeDataHeader(ring, off, b);
      socket.send(ring, off, 4 + len, this.clientPort, this.clientAddress);
      bytes += len;
    }
    this.burstNext = b;
    if (b - 1 > this.lastSent) this.lastSent = b - 1;
    this.bytesSent += bytes;
    this.bytesUnflushed += bytes;
    if (this.bytesUnflushed >= METRIC_FLUSH_BYTES) this.flushBytes();
    if (b <= end) this.burstImmediate = setImmediate(this.burstBound);
    else this.armTimer();
  }

  /** Reads blocks filledUpTo+1 … lastAcked+nslots into their (free) slots, then sends. */
  private async fill(): Promise<void> {
    this.reading = true;
    const first = this.filledUpTo + 1;
    const last = this.lastAcked + this.nslots;
    const views: Buffer[] = [];
    for (let b = first; b <= last; b++) views.push(this.slots[b % this.nslots]!);
    let total: number;
    try {
      total = await this.p.source.fill(first, views);
    } catch (e) {
      this.reading = false;
      if (this.state === 'done') this.releaseBuffers();
      else this.fail('io-error', `read error: ${(e as Error).message}`, true);
      return;
    }
    this.reading = false;
    if (this.state !== 'data') {
      // Ended while the read was in flight: release() left the ring and the file to us.
      if (this.state === 'done') this.releaseBuffers();
      return;
    }
    let rem = total;
    let upTo = last;
    for (let i = 0; i < views.length; i++) {
      const len = rem < this.blksize ? rem : this.blksize;
      this.slotLen[(first + i) % this.nslots] = len;
      rem -= len;
      if (len < this.blksize) {
        this.lastBlock = first + i;
        upTo = first + i;
        break;
      }
    }
    this.filledUpTo = upTo;
    this.pump();
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (rinfo.port !== this.clientPort || rinfo.address !== this.clientAddress) {
      // RFC 1350 §4: answer a foreign TID with ERROR 5 and carry on undisturbed.
      this.p.metrics.dropped.inc({ reason: 'unknown-tid' });
      this.p.log.debug({ from: `${rinfo.address}:${rinfo.port}` }, 'datagram from unknown transfer ID');
      const now = performance.now();
      this.errTokens = Math.min(ERR_BURST, this.errTokens + ((now - this.errAt) * ERR_PER_S) / 1000);
      this.errAt = now;
      if (this.errTokens < 1) return; // rate-limited: the source may be spoofed (reflection)
      this.errTokens--;
      this.socket?.send(encodeError(ErrorCode.UNKNOWN_TID, 'Unknown transfer ID'), rinfo.port, rinfo.address);
      return;
    }
    // Hot path: a 4-byte ACK.
    if (msg.length === 4 && msg[0] === 0 && msg[1] === Opcode.ACK) {
      this.onAck((msg[2]! << 8) | msg[3]!);
      return;
    }
    const d = decodePacket(msg);
    if (!d.ok) {
      this.p.metrics.dropped.inc({ reason: d.error.reason });
      this.p.log.debug(
        { reason: d.error.reason, detail: d.error.detail, bytes: msg.length },
        'dropped malformed datagram',
      );
      return;
    }
    if (d.packet.op === Opcode.ERROR) {
      this.fail('client-error', `client sent ERROR ${d.packet.code} "${d.packet.message}"`, false);
      return;
    }
    this.p.metrics.dropped.inc({ reason: 'unexpected' });
    this.p.log.debug({ op: d.packet.op }, 'dropped unexpected packet on transfer socket');
  }

  private onAck(ack16: number): void {
    if (this.state === 'oack') {
      if (ack16 !== 0) return;
      this.verify();
      this.retries = 0;
      this.progressAt = performance.now();
      if (!this.retransmitted) this.rto.sample(performance.now() - this.sentAt);
      this.enterData();
      return;
    }
    if (this.state !== 'data') return;
    this.cancelBurst();
    const abs = this.lastAcked + ((ack16 - (this.lastAcked & 0xffff)) & 0xffff);
    if (abs === this.lastAcked && abs === this.slidAt) {
      // We only slid the window on the first ACK of this block (it came after a resend); the client
      // repeating it means the gap after it is real: go back once, never again for this block.
      this.slidAt = -1;
      this.sendFrom = abs + 1;
      this.pump();
      return;
    }
    if (abs === this.lastAcked || abs > this.lastSent) return; // duplicate or stale: the timer resends
    if (!this.verified) this.verify();
    this.lastAcked = abs;
    this.retries = 0;
    this.progressAt = performance.now();
    if (!this.retransmitted) this.rto.sample(performance.now() - this.sentAt);
    else this.rto.reset();
    if (abs === this.lastBlock) {
      this.finish();
      return;
    }
    // An ACK inside the window means the client saw a gap after `abs` (RFC 7440): go back to abs+1.
    // But after a resend, clients (atftp) also ACK on every duplicate they see, so ACKs below the
    // resend mark only slide the window; going back again would resend what is still in flight
    // and feed a duplicate cycle. A real second loss there is recovered by the timer.
    if (abs < this.lastSent && abs < this.resendMark) {
      this.slidAt = abs;
      this.sendFrom = this.lastSent + 1;
    } else {
      this.slidAt = -1;
      this.sendFrom = abs + 1;
    }
    this.pump();
  }

  /** The client's first ACK: its address is proven (the server's count of unverified transfers). */
  private verify(): void {
    this.verified = true;
    this.p.onFirstAck?.();
  }

  /** Arms the retransmission timer: one RTO, but never past the silence the transfer may hold its slot. */
  private armTimer(): void {
    const cap = this.progressAt + (this.verified ? this.limits.maxSilenceMs : this.limits.firstAckMs);
    const ms = Math.max(1, Math.min(this.rto.rto, Math.ceil(cap - performance.now())));
    if (this.timer !== null && this.timerMs === ms) {
      this.timer.refresh();
      return;
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerMs = ms;
    this.timer = setTimeout(this.onTimeoutBound, ms);
  }

  private onTimeout(): void {
    if (this.state === 'done' || this.state === 'init' || this.reading) return;
    this.retries++;
    const silentMs = performance.now() - this.progressAt;
    if (givesUp(this.verified, this.retries, silentMs, this.limits)) {
      const what = this.state === 'oack' ? 'ACK of the OACK' : `ACK of block ${this.lastAcked + 1}`;
      this.fail(
        'timeout',
        `no ${what} after ${this.retries - 1} retransmissions over ${(silentMs / 1000).toFixed(1)} s`,
        false,
      );
      return;
    }
    this.cancelBurst();
    this.rto.backoff();
    this.p.log.debug({ retry: this.retries, rtoMs: this.rto.rto, block: this.lastAcked + 1 }, 'retransmitting');
    if (this.state === 'oack') {
      this.retransmitted = true;
      this.p.metrics.retransmitted.inc();
      this.socket!.send(this.oack!, this.clientPort, this.clientAddress);
      this.armTimer();
    } else {
      this.sendFrom = this.lastAcked + 1;
      this.pump();
    }
  }

  private flushBytes(): void {
    if (this.bytesUnflushed > 0) this.p.metrics.bytesSent.inc(this.bytesUnflushed);
    this.bytesUnflushed = 0;
  }

  private release(): void {
    this.state = 'done';
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.burstImmediate !== null) clearImmediate(this.burstImmediate);
    this.burstImmediate = null;
    this.flushBytes();
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.off('message', this.onMessageBound);
      try {
        s.close();
      } catch {
        /* not yet bound */
      }
    }
    // A disk read still in flight writes into the ring and reads the file descriptor: the ring
    // going back to the pool (and the fd number being reused) must wait until fill() settles.
    if (!this.reading) this.releaseBuffers();
  }

  /** Closes the file and returns the ring to the pool; only when no read is in flight. */
  private releaseBuffers(): void {
    this.p.source.close();
    if (this.ring && this.p.rings) this.p.rings.release(this.ring); // the socket is closed: no send still refers to it
    this.ring = null;
    this.slots = [];
  }

  private finish(): void {
    if (this.state === 'done') return;
    this.release();
    this.p.metrics.completed.inc();
    const blocks = this.lastBlock === Number.POSITIVE_INFINITY ? 0 : this.lastBlock;
    this.p.onEnd(this, { ok: true, bytes: this.bytesSent, blocks, ms: performance.now() - this.startedAt });
  }

  private fail(reason: FailReason, detail: string, notifyClient: boolean): void {
    if (this.state === 'done') return;
    if (notifyClient && this.socket && this.state !== 'init') {
      try {
        this.socket.send(encodeError(ErrorCode.NOT_DEFINED, detail), this.clientPort, this.clientAddress);
      } catch {
        /* socket already unusable */
      }
    }
    this.release();
    this.p.metrics.failed.inc({ reason });
    this.p.onEnd(this, { ok: false, reason, detail, bytes: this.bytesSent, ms: performance.now() - this.startedAt });
  }
}
