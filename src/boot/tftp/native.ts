/**
 * Loader and types of the native TFTP data plane (src/boot/tftp/native/dataplane.c, built by
 * scripts/build-native.mjs at `npm install` into build/Release/tftp_dataplane.node).
 *
 * {@link loadDataPlane} returns the addon, or the reason it is unavailable (not built, wrong
 * platform): the server then runs every transfer on the JS data plane (js-transfer.ts) and says
 * so once in its start-up log. An addon that loads but does not export the done codes and
 * counter names this module handles (a stale build) is an error, not a fallback: loading throws.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

/** Options of one data-phase run; see dataplane.c for the protocol. */
export interface DataPlaneStart {
  /** Local IPv4 address the transfer socket binds (port 0: the kernel picks the TID). */
  localAddress: string;
  clientAddress: string;
  clientPort: number;
  /** Open file descriptor to read blocks from with pread(2), or -1 when `data` is given. */
  fd: number;
  /** Convert `fd` to netascii (RFC 1350: LF → CR LF, CR → CR NUL) while sending. */
  netascii?: boolean | undefined;
  /** In-memory file (rendered per host, already converted for netascii); kept alive by the addon until "done". */
  data?: Buffer | undefined;
  /** Negotiated RFC 2348 block size, bytes (8..65464). */
  blksize: number;
  /** Negotiated RFC 7440 window, blocks (1..64). */
  windowsize: number;
  /** Blocks read ahead per pread (at least windowsize). */
  slots: number;
  /** The OACK to send first (RFC 2347), or undefined to start with DATA 1. */
  oack?: Buffer | undefined;
  /** Initial retransmission timeout, ms. */
  rtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  /** Timeouts without progress before giving up. */
  maxRetries: number;
  /** Least silence before giving up, ms. */
  giveUpMs: number;
  /** Spin for the client's answer this long after a send before blocking, µs (0: never; see dataplane.c). */
  busyPollUs: number;
  /** Most silence after the client's first ACK, ms, whatever the timeout (config `tftp.max-silence-ms`). */
  maxSilenceMs: number;
  /** Most wait for the client's first ACK, ms (config `tftp.first-ack-timeout-ms`). */
  firstAckMs: number;
  /** Read-ahead bytes all native transfers may hold together; each still gets at least one window. */
  budgetBytes: number;
}

/** How a native transfer ended: the "done" event's code (names exported by the addon, checked at load). */
export const DONE_CODES = ['ok', 'timeout', 'client-error', 'io-error', 'socket-error', 'aborted'] as const;
export type DoneCode = (typeof DONE_CODES)[number];

/**
 * The counters of a native transfer (names exported by the addon, checked at load): payload bytes
 * sent, blocks retransmitted, datagrams dropped by reason, datagrams received on the transfer
 * socket (from the client or not), waits whose datagram arrived while busy-polling.
 */
export const STAT_NAMES = [
  'bytes',
  'retransmitted',
  'truncated',
  'oversized',
  'unknown-opcode',
  'unknown-tid',
  'unexpected',
  'received',
  'spin-hits',
] as const;
export type StatName = (typeof STAT_NAMES)[number];
export type DataPlaneStats = Record<StatName, number>;

/** Opaque handle of a running native transfer. */
export type DataPlaneHandle = { readonly __brand: 'DataPlaneHandle' };

/**
 * Events from the transfer thread, delivered on the main thread: `retransmit` after each timeout
 * (a debug log line; skipped while the previous one is still queued), and exactly once `done`
 * (`bytes` sent in all; `blocks` of the file when `code` is ok, else 0) — after which the handle
 * is dead (abort/stats throw).
 */
export type DataPlaneEvent =
  | { type: 'retransmit'; retry: number; rtoMs: number; block: number }
  /** The client's first ACK (its source address is proven); sent once, before "done". */
  | { type: 'acked' }
  | { type: 'done'; code: DoneCode; bytes: number; blocks: number; detail: string };

/** The native data plane as the rest of the code uses it. */
export interface DataPlane {
  /** @throws TypeError on bad options; Error when the socket cannot be bound or the thread started (message names the errno) */
  start(opts: DataPlaneStart, onEvent: (e: DataPlaneEvent) => void): DataPlaneHandle;
  /** Sends `errorPacket` (an encoded TFTP ERROR) to the client and ends the transfer ("done" code aborted). */
  abort(h: DataPlaneHandle, errorPacket: Buffer): void;
  /** Cumulative counters, by name. @throws Error after "done" */
  stats(h: DataPlaneHandle): DataPlaneStats;
  /** Read-ahead bytes all native transfers hold now (mapped after each one's first ACK). */
  bufferedBytes(): number;
}

/** What the addon exports (dataplane.c, init). */
interface Addon {
  doneCodes: unknown;
  statNames: unknown;
  start(opts: DataPlaneStart, onEvent: (e: DataPlaneEvent) => void): DataPlaneHandle;
  abort(h: DataPlaneHandle, errorPacket: Buffer): void;
  stats(h: DataPlaneHandle): number[];
  bufferedBytes(): number;
}

/** Why `got` (an addon's exported name list) is not exactly `want` (order free), or null when it is. */
function nameMismatch(what: string, got: unknown, want: readonly string[]): string | null {
  if (!Array.isArray(got) || !got.every((x) => typeof x === 'string')) return `${what} is not a list of names`;
  const missing = want.filter((n) => !got.includes(n));
  const extra = got.filter((n: string) => !want.includes(n));
  if (missing.length === 0 && extra.length === 0 && got.length === want.length) return null;
  return `${what}: missing [${missing.join(', ')}], unexpected [${extra.join(', ')}]`;
}

/**
 * Wraps a loaded addon after checking its exported names against {@link DONE_CODES} and
 * {@link STAT_NAMES}.
 * @throws Error naming the mismatch and the file (rebuild with `npm run build:native`)
 */
export function wrapAddon(addon: Addon, path: string): DataPlane {
  const why =
    nameMismatch('doneCodes', addon.doneCodes, DONE_CODES) ?? nameMismatch('statNames', addon.statNames, STAT_NAMES);
  if (why)
    throw new Error(
      `the native TFTP data plane ${path} does not match this version of statelesx (${why}): run npm run build:native`,
    );
  const order = addon.statNames as StatName[];
  return {
    start: (opts, onEvent) => addon.start(opts, onEvent),
    abort: (h, packet) => addon.abort(h, packet),
    bufferedBytes: () => addon.bufferedBytes(),
    stats(h) {
      const values = addon.stats(h);
      const out = {} as DataPlaneStats;
      order.forEach((name, i) => (out[name] = values[i]!));
      return out;
    },
  };
}

const cached = new Map<string, { plane: DataPlane } | { error: string }>();

/**
 * The native data plane, or why it cannot be used; loaded once per process and path.
 * STATELESX_TFTP_ADDON names another build of the same addon (the sanitizer and race builds of
 * scripts/build-native.mjs); only tests and `npm run fuzz` set it.
 * @throws Error when the addon loads but its exported names do not match (see {@link wrapAddon})
 */
export function loadDataPlane(): { plane: DataPlane } | { error: string } {
  // Same depth from src/boot/tftp (tests) and dist/boot/tftp (built): the package root is three up.
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const path = process.env['STATELESX_TFTP_ADDON'] ?? resolve(root, 'build/Release/tftp_dataplane.node');
  const known = cached.get(path);
  if (known) return known;
  let result: { plane: DataPlane } | { error: string };
  if (process.platform !== 'linux') {
    result = { error: `the native TFTP data plane is Linux-only (this is ${process.platform})` };
  } else {
    let addon: Addon;
    try {
      addon = createRequire(import.meta.url)(path) as Addon;
    } catch (e) {
      result = { error: `cannot load ${path} (run npm install or npm run build:native): ${(e as Error).message}` };
      cached.set(path, result);
      return result;
    }
    result = { plane: wrapAddon(addon, path) };
  }
  cached.set(path, result);
  return result;
}
