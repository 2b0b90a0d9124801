/**
 * One TFTP read transfer whose data phase runs on the native data plane (native/dataplane.c): a
 * thread per transfer blocking in recvfrom()/sendmsg(), two system calls per lock-step block
 * instead of an event-loop turn (see docs/benchmarks.md, "Findings").
 *
 * It implements {@link TftpTransfer} like the JS data plane (js-transfer.ts, whose module comment
 * specifies the protocol of both); this class only bridges: it starts the thread with the
 * negotiated options and the OACK bytes, turns the thread's counters into the TFTP metrics (every
 * second while it runs, and at the end), logs its retransmissions, releases the file when the
 * thread is done and reports the outcome once through `onEnd`.
 */
import { performance } from 'node:perf_hooks';
import { encodeError, encodeOack, ErrorCode } from './packet.js';
import type { FailReason } from './metrics.js';
import {
  READ_AHEAD_TOTAL_BYTES,
  ringSlots,
  transferTimers,
  type TftpTransfer,
  type TransferCommon,
  type TransferOutcome,
} from './contract.js';
import {
  STAT_NAMES,
  type DataPlane,
  type DataPlaneHandle,
  type DataPlaneStats,
  type DoneCode,
  type StatName,
} from './native.js';

/**
 * Where the blocks come from: an open file (closed by `close` after the thread ends; `netascii`:
 * converted while sending) or memory (already converted).
 */
export type NativeSource = { fd: number; netascii?: boolean; close(): void } | { data: Buffer };

/** What a native transfer needs; the counterpart of TransferParams. */
export interface NativeTransferParams extends TransferCommon {
  plane: DataPlane;
  /** Busy-poll after each send, µs (config `tftp.busy-poll-us`; 0: never). */
  busyPollUs: number;
  source: NativeSource;
}

/** Interval of the metrics flush of running native transfers, ms. */
const FLUSH_MS = 1000;
const running = new Set<NativeTransfer>();
/** Datagrams received by the sockets of native transfers that have ended, in this process. */
let receivedByEnded = 0;

/**
 * Datagrams received on native transfer sockets (ended transfers only): the fuzz tests use it to
 * show their replies reached the transfer sockets, which are not Node sockets.
 */
export function nativeDatagramsReceived(): number {
  return receivedByEnded;
}
let flusher: NodeJS.Timeout | null = null;

function flushAll(): void {
  for (const t of running) t.flushMetrics();
}

// The native parser has no 'malformed' case: it reads nothing but an ACK's 4 bytes and an ERROR's
// bounded message, so a datagram is too short, too long, of the wrong opcode, or fine.
const DROP_STATS = ['truncated', 'oversized', 'unknown-opcode', 'unknown-tid', 'unexpected'] as const;

/** The failure reason of each "done" code but ok and aborted (aborted takes the reason abort() was given). */
const FAIL_BY_CODE: Record<Exclude<DoneCode, 'ok' | 'aborted'>, FailReason> = {
  timeout: 'timeout',
  'client-error': 'client-error',
  'io-error': 'io-error',
  'socket-error': 'socket-error',
};

/** A running read transfer on the native data plane. */
export class NativeTransfer implements TftpTransfer {
  readonly id: string;
  readonly clientAddress: string;
  readonly clientPort: number;
  private readonly p: NativeTransferParams;
  private handle: DataPlaneHandle | null = null;
  private ended = false;
  private abortReason: { reason: FailReason; detail: string } | null = null;
  /** Counters already added to the metrics (same indexes as the addon's stats). */
  private readonly flushed = Object.fromEntries(STAT_NAMES.map((n) => [n, 0])) as Record<StatName, number>;
  private bytes = 0;
  private readonly startedAt = performance.now();

  constructor(params: NativeTransferParams) {
    this.p = params;
    this.id = params.id;
    this.clientAddress = params.clientAddress;
    this.clientPort = params.clientPort;
  }

  /** Payload bytes sent so far (retransmissions included). */
  get sent(): number {
    if (this.handle) this.bytes = this.p.plane.stats(this.handle).bytes;
    return this.bytes;
  }

  /**
   * Binds the transfer socket and starts the thread, which sends the OACK or the first window.
   * Never rejects: a bind failure ends the transfer with reason `socket-error`.
   */
  start(): Promise<void> {
    this.launch();
    return Promise.resolve();
  }

  /** {@link start}'s work: it is synchronous (the addon binds and spawns the thread before returning). */
  private launch(): void {
    if (this.ended) return;
    const { negotiated: neg, source } = this.p;
    const timers = transferTimers(neg, this.p);
    try {
      this.handle = this.p.plane.start(
        {
          localAddress: this.p.localAddress,
          clientAddress: this.clientAddress,
          clientPort: this.clientPort,
          fd: 'fd' in source ? source.fd : -1,
          netascii: 'fd' in source && source.netascii === true,
          data: 'data' in source ? source.data : undefined,
          blksize: neg.blksize,
          windowsize: neg.windowsize,
          slots: ringSlots(neg, this.p.readAheadBytes, this.p.transferSize),
          oack: neg.oack ? encodeOack(neg.oack) : undefined,
          rtoMs: timers.rtoMs,
          minRtoMs: this.p.minRtoMs,
          maxRtoMs: timers.maxRtoMs,
          maxRetries: this.p.maxRetries,
          giveUpMs: timers.giveUpMs,
          busyPollUs: this.p.busyPollUs,
          maxSilenceMs: timers.maxSilenceMs,
          firstAckMs: timers.firstAckMs,
          budgetBytes: READ_AHEAD_TOTAL_BYTES,
        },
        (e) => {
          if (e.type === 'done') this.onDone(e.code, e.bytes, e.blocks, e.detail);
          else if (e.type === 'acked') this.p.onFirstAck?.();
          else this.p.log.debug({ retry: e.retry, rtoMs: e.rtoMs, block: e.block }, 'retransmitting');
        },
      );
    } catch (e) {
      // The addon's message says which step failed (binding the socket, or starting the thread).
      this.end({
        ok: false,
        reason: 'socket-error',
        detail: `transfer on ${this.p.localAddress}: ${(e as Error).message}`,
        bytes: 0,
        ms: 0,
      });
      return;
    }
    this.p.metrics.started.inc();
    running.add(this);
    if (!flusher) {
      flusher = setInterval(flushAll, FLUSH_MS);
      flusher.unref();
    }
  }

  /** Ends the transfer now (server shutdown): ERROR 0 to the client; `onEnd` follows when the thread has stopped. */
  abort(reason: FailReason, detail: string): void {
    if (this.ended || this.abortReason) return;
    this.abortReason = { reason, detail };
    if (this.handle) this.p.plane.abort(this.handle, encodeError(ErrorCode.NOT_DEFINED, detail));
    else this.end({ ok: false, reason, detail, bytes: 0, ms: performance.now() - this.startedAt });
  }

  /** Adds the thread's counters since the last flush to the TFTP metrics; returns them (null once ended). */
  flushMetrics(): DataPlaneStats | null {
    if (!this.handle) return null;
    const s = this.p.plane.stats(this.handle);
    const m = this.p.metrics;
    const delta = (name: StatName): number => {
      const d = s[name] - this.flushed[name];
      this.flushed[name] = s[name];
      return d;
    };
    const bytes = delta('bytes');
    if (bytes > 0) m.bytesSent.inc(bytes);
    const re = delta('retransmitted');
    if (re > 0) m.retransmitted.inc(re);
    for (const reason of DROP_STATS) {
      const d = delta(reason);
      if (d > 0) m.dropped.inc({ reason }, d);
    }
    this.bytes = s.bytes;
    return s;
  }

  private onDone(code: DoneCode, bytes: number, blocks: number, detail: string): void {
    const final = this.flushMetrics()!; // the handle is valid until this callback returns
    receivedByEnded += final.received;
    this.handle = null;
    running.delete(this);
    if (running.size === 0 && flusher) {
      clearInterval(flusher);
      flusher = null;
    }
    this.bytes = bytes;
    const ms = performance.now() - this.startedAt;
    if (code === 'ok') {
      this.end({ ok: true, bytes, blocks, ms, busyPollHits: final['spin-hits'] });
      return;
    }
    const aborted = code === 'aborted' ? this.abortReason : null;
    const reason = aborted?.reason ?? (code === 'aborted' ? 'shutdown' : FAIL_BY_CODE[code]);
    this.end({ ok: false, reason, detail: aborted?.detail ?? detail, bytes, ms });
  }

  private end(outcome: TransferOutcome): void {
    if (this.ended) return;
    this.ended = true;
    if ('fd' in this.p.source) this.p.source.close();
    if (outcome.ok) this.p.metrics.completed.inc();
    else this.p.metrics.failed.inc({ reason: outcome.reason });
    this.p.onEnd(this, outcome);
  }
}
