/**
 * The contract of a TFTP read transfer, whichever data plane runs its DATA phase: the native one
 * (native-transfer.ts over native/dataplane.c, a thread per transfer) or the JS one
 * (js-transfer.ts, the fallback). The server (server.ts) only ever holds a {@link TftpTransfer};
 * both implementations follow the protocol specified in js-transfer.ts's module comment and share
 * the sizing and timer rules below.
 */
import type { Logger } from 'pino';
import type { Negotiated } from './options.js';
import type { FailReason, TftpMetrics } from './metrics.js';

/** A running read transfer (RFC 1350 §2, RFC 2347/2348/2349/7440) on either data plane. */
export interface TftpTransfer {
  /** Short id on every log line (`transfer`). */
  readonly id: string;
  readonly clientAddress: string;
  readonly clientPort: number;
  /** Payload bytes sent so far (retransmissions included). */
  readonly sent: number;
  /**
   * Binds the transfer socket and sends the OACK or the first window. Never rejects: a bind
   * failure ends the transfer with reason `socket-error` (through `onEnd`).
   */
  start(): Promise<void>;
  /** Ends the transfer now (server shutdown): ERROR 0 with `detail` to the client; `onEnd` follows. */
  abort(reason: FailReason, detail: string): void;
}

/** How a transfer ended. */
export type TransferOutcome =
  | {
      ok: true;
      bytes: number;
      blocks: number;
      ms: number;
      /** native data plane: ACKs caught while busy-polling */ busyPollHits?: number;
    }
  | { ok: false; reason: FailReason; detail: string; bytes: number; ms: number };

/** What a transfer needs on either data plane (js-transfer.ts, native-transfer.ts). */
export interface TransferCommon {
  /** Short id on every log line (`transfer`). */
  id: string;
  clientAddress: string;
  clientPort: number;
  /** Local address the RRQ arrived on; the transfer socket binds here (port 0). */
  localAddress: string;
  negotiated: Negotiated;
  /** Timeouts without progress before giving up (config `tftp.retries`). */
  maxRetries: number;
  /** Floor of the adaptive RTO in ms. */
  minRtoMs: number;
  /** Ceiling of the adaptive RTO in ms (the negotiated timeout wins when smaller). */
  maxRtoMs: number;
  /** Bytes to read ahead (default 128 KiB; see {@link readAheadFor}). */
  readAheadBytes?: number;
  /** Bytes the transfer will send when known (tsize): the ring never holds more blocks than that. */
  transferSize?: number | null;
  /** Most silence after the client's first ACK, ms, whatever timeout it negotiated (config `tftp.max-silence-ms`). */
  maxSilenceMs: number;
  /** Most wait for the client's first ACK, ms (config `tftp.first-ack-timeout-ms`). */
  firstAckTimeoutMs: number;
  /** Called once at the client's first ACK (its source address is proven), before `onEnd`. */
  onFirstAck?(): void;
  log: Logger;
  metrics: TftpMetrics;
  /** Called exactly once when the transfer ends (socket released; the file too, or as soon as no read is in flight). */
  onEnd(t: TftpTransfer, outcome: TransferOutcome): void;
}

/** Bytes read ahead per transfer when few run (rounded to whole blocks, at least one window). */
const READ_AHEAD_BYTES = 128 * 1024;
/** Smallest read-ahead a transfer gets however many run. */
const READ_AHEAD_MIN_BYTES = 16 * 1024;
/** Read-ahead budget shared by all transfers (a boot storm must not grow memory per host). */
export const READ_AHEAD_TOTAL_BYTES = 8 * 1024 * 1024;

/**
 * Retransmissions before the client's first ACK: its source address is unproven then (a spoofed
 * RRQ names a victim), so a 20-byte request earns at most this many resends (issue 16 finding 9).
 */
export const PRE_ACK_RETRANSMITS = 2;

/**
 * Whether a transfer gives up at a timeout (both data planes; see js-transfer.ts's module comment).
 * Before the first ACK: after {@link PRE_ACK_RETRANSMITS} (or `retries` if fewer) or `firstAckMs`
 * of silence. After it: after `retries` timeouts AND `giveUpMs` of silence (slow client timers),
 * or after `maxSilenceMs` of silence whatever the count (a negotiated timeout of 255 s included).
 * @param retries timeouts without progress so far, this one included
 * @param silentMs since the start or the last ACK that made progress
 */
export function givesUp(
  verified: boolean,
  retries: number,
  silentMs: number,
  t: { maxRetries: number; giveUpMs: number; maxSilenceMs: number; firstAckMs: number },
): boolean {
  if (!verified) return retries > Math.min(t.maxRetries, PRE_ACK_RETRANSMITS) || silentMs >= t.firstAckMs;
  return (retries > t.maxRetries && silentMs >= t.giveUpMs) || silentMs >= t.maxSilenceMs;
}

/**
 * Read-ahead for a new transfer when `active` others are running: 128 KiB while the shared
 * 8 MiB budget allows (up to 63 transfers), shrinking to 16 KiB in a storm (500 transfers ≈ 8 MiB, not 64 MiB).
 * @returns bytes (the transfer rounds to whole blocks and never goes below one window)
 */
export function readAheadFor(active: number): number {
  return Math.max(READ_AHEAD_MIN_BYTES, Math.min(READ_AHEAD_BYTES, Math.floor(READ_AHEAD_TOTAL_BYTES / (active + 1))));
}
/** Upper bound of ring slots from read-ahead alone (small blksize). */
const READ_AHEAD_MAX_SLOTS = 256;

/**
 * Blocks a transfer holds for sending and read-ahead: at least one window, else the read-ahead
 * (at most 256 blocks) but never more blocks than the file has.
 * @param readAheadBytes bytes to read ahead (default 128 KiB; see {@link readAheadFor})
 * @param transferSize file size in bytes when known
 */
export function ringSlots(
  neg: Pick<Negotiated, 'blksize' | 'windowsize'>,
  readAheadBytes?: number,
  transferSize?: number | null,
): number {
  const byReadAhead = Math.min(READ_AHEAD_MAX_SLOTS, Math.ceil((readAheadBytes ?? READ_AHEAD_BYTES) / neg.blksize));
  // A file of n bytes has floor(n / blksize) + 1 blocks (the last one short, possibly empty).
  const blocks =
    transferSize === undefined || transferSize === null
      ? Number.POSITIVE_INFINITY
      : Math.floor(transferSize / neg.blksize) + 1;
  return Math.max(neg.windowsize, Math.min(byReadAhead, blocks));
}

/**
 * Retransmission timer bounds of a transfer (see js-transfer.ts's module comment), all in ms: the initial
 * RTO, its ceiling (a negotiated RFC 2349 timeout is the most the client expects to wait;
 * otherwise back off up to `maxRtoMs`), and the least silence before giving up.
 */
export function transferTimers(
  neg: Pick<Negotiated, 'timeoutMs' | 'timeoutNegotiated'>,
  p: { minRtoMs: number; maxRtoMs: number; maxRetries: number; maxSilenceMs: number; firstAckTimeoutMs: number },
): { rtoMs: number; maxRtoMs: number; giveUpMs: number; maxSilenceMs: number; firstAckMs: number } {
  // The silence caps bound the RTO too: a timeout of 255 s must not mean one resend per 255 s.
  const maxRtoMs = Math.min(
    neg.timeoutNegotiated ? neg.timeoutMs : Math.max(p.maxRtoMs, neg.timeoutMs),
    Math.max(p.minRtoMs, p.maxSilenceMs / 2),
  );
  const giveUpMs = Math.min(p.maxRetries * neg.timeoutMs, p.maxSilenceMs);
  return {
    rtoMs: Math.max(p.minRtoMs, Math.min(neg.timeoutMs, maxRtoMs)),
    maxRtoMs,
    giveUpMs,
    maxSilenceMs: p.maxSilenceMs,
    firstAckMs: Math.min(p.firstAckTimeoutMs, p.maxSilenceMs),
  };
}
