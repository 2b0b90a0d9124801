/**
 * TFTP option negotiation (RFC 2347) for read requests:
 *  - blksize (RFC 2348): 8..65464 requested; we answer min(request, config max, what fits the
 *    link MTU); a request above 65464 is clamped, below 8 ignored.
 *  - tsize (RFC 2349): the client sends 0, we answer the transfer size in bytes when we know it
 *    (octet always; netascii only when the converted size was computed).
 *  - timeout (RFC 2349): 1..255 seconds, echoed; becomes the initial retransmission timeout.
 *  - windowsize (RFC 7440): 1..65535 requested; we answer min(request, config max, what keeps
 *    windowsize × blksize within the config's window bytes, at least 1): a window is what a
 *    transfer must buffer, so its bytes are bounded whatever blksize was granted.
 *  - timeout=255 is accepted and echoed; how long silence may hold a transfer is bounded by the
 *    server (config `tftp.max-silence-ms`), not by this value.
 * Unknown options and options with invalid values are left out of the OACK (RFC 2347 §2).
 * Pure functions: no I/O.
 */

/** Limits and facts the server supplies for one request. */
export interface NegotiationLimits {
  /** Config `tftp.max-blksize` (512..65464). */
  maxBlksize: number;
  /** Largest blksize that fits one datagram on the link (MTU − 32), or undefined when unknown. */
  linkBlksize?: number | undefined;
  /** Config `tftp.max-windowsize` (1..64). */
  maxWindowsize: number;
  /** Config `tftp.max-window-bytes`: windowsize × blksize at most this (undefined: no bound). */
  maxWindowBytes?: number;
  /** Default initial retransmission timeout in ms (config `tftp.timeout-ms`). */
  defaultTimeoutMs: number;
  /** Bytes the client will receive in this mode, or null when not known (netascii not scanned). */
  transferSize: number | null;
}

/** The parameters a transfer runs with, and the OACK to send (null: no option accepted → DATA 1). */
export interface Negotiated {
  /** Payload bytes per DATA packet (RFC 2348), 512 without the option. */
  blksize: number;
  /** Blocks sent before waiting for an ACK (RFC 7440), 1 without the option. */
  windowsize: number;
  /** Initial retransmission timeout in ms. */
  timeoutMs: number;
  /** True when the client negotiated `timeout` (the RTO never exceeds it then). */
  timeoutNegotiated: boolean;
  /** Accepted options in the client's order, values as we answer them. */
  oack: Array<[string, string]> | null;
}

/** RFC 2348 bounds. */
export const BLKSIZE_MIN = 8;
export const BLKSIZE_MAX = 65464;
/** RFC 1350 default block size. */
export const DEFAULT_BLKSIZE = 512;

/** Parses a decimal option value; null for anything but plain digits (no sign, no spaces). */
function parseDecimal(v: string): number | null {
  if (!/^\d{1,10}$/.test(v)) return null;
  return Number(v);
}

/**
 * Negotiates the options of one RRQ.
 * @param requested option names lower-cased → values as sent (from the decoded RRQ)
 * @param limits server limits and the transfer size
 * @returns the transfer parameters and the OACK entries; never throws
 */
export function negotiateOptions(requested: ReadonlyMap<string, string>, limits: NegotiationLimits): Negotiated {
  const out: Negotiated = {
    blksize: DEFAULT_BLKSIZE,
    windowsize: 1,
    timeoutMs: limits.defaultTimeoutMs,
    timeoutNegotiated: false,
    oack: null,
  };
  const oack: Array<[string, string]> = [];
  for (const [name, value] of requested) {
    const n = parseDecimal(value);
    switch (name) {
      case 'blksize': {
        if (n === null || n < BLKSIZE_MIN) break;
        let size = Math.min(n, BLKSIZE_MAX, limits.maxBlksize);
        if (limits.linkBlksize !== undefined) size = Math.min(size, Math.max(BLKSIZE_MIN, limits.linkBlksize));
        out.blksize = size;
        oack.push(['blksize', String(size)]);
        break;
      }
      case 'tsize':
        // RFC 2349 §3: in a read request the client sends 0; accept any number, answer the size.
        if (n === null || limits.transferSize === null) break;
        oack.push(['tsize', String(limits.transferSize)]);
        break;
      case 'timeout':
        if (n === null || n < 1 || n > 255) break;
        out.timeoutMs = n * 1000;
        out.timeoutNegotiated = true;
        oack.push(['timeout', String(n)]);
        break;
      case 'windowsize': {
        if (n === null || n < 1 || n > 65535) break;
        const w = Math.min(n, limits.maxWindowsize);
        out.windowsize = w;
        oack.push(['windowsize', String(w)]);
        break;
      }
      default:
        break; // unknown options are ignored (RFC 2347 §2)
    }
  }
  if (limits.maxWindowBytes !== undefined) {
    const fit = Math.max(1, Math.floor(limits.maxWindowBytes / out.blksize));
    if (out.windowsize > fit) {
      out.windowsize = fit;
      const entry = oack.find(([name]) => name === 'windowsize');
      if (entry) entry[1] = String(fit);
    }
  }
  if (oack.length > 0) out.oack = oack;
  return out;
}
