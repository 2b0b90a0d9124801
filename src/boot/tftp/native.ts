/**
 * Loader and types of the native TFTP data plane (src/boot/tftp/native/dataplane.c, built by
 * `node-gyp rebuild` at `npm install` into build/Release/tftp_dataplane.node).
 *
 * {@link loadDataPlane} returns the addon, or the reason it is unavailable (not built, wrong
 * platform): the server then runs every transfer on the JavaScript engine (transfer.ts) and says
 * so in its start-up log.
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
  /** In-memory file (rendered per host); kept alive by the addon until "done". */
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
}

/** The "done" event's code. */
export const DoneCode = { OK: 0, TIMEOUT: 1, CLIENT_ERROR: 2, IO_ERROR: 3, SOCKET_ERROR: 4, ABORTED: 5 } as const;

/** Indexes of {@link DataPlane.stats}. */
export const Stat = {
  BYTES: 0,
  RETRANSMITTED: 1,
  TRUNCATED: 2,
  OVERSIZED: 3,
  UNKNOWN_OPCODE: 4,
  UNKNOWN_TID: 5,
  UNEXPECTED: 6,
  /** Datagrams received on the transfer socket, from the client or not. */
  RECEIVED: 7,
  /** Waits whose datagram arrived while the thread was busy-polling. */
  SPIN_HITS: 8,
} as const;

/** Opaque handle of a running native transfer. */
export type DataPlaneHandle = { readonly __brand: 'DataPlaneHandle' };

/**
 * Events from the transfer thread, delivered on the main thread:
 * `('retransmit', retry, rtoMs, block, '')` after each timeout, and exactly once
 * `('done', code, bytesSent, blocks, detail)` — after which the handle must not be used.
 */
export type DataPlaneEvent = (type: 'retransmit' | 'done', a: number, b: number, c: number, detail: string) => void;

/** The addon's functions. */
export interface DataPlane {
  /** @throws Error when the socket cannot be created or bound (message names the errno) */
  start(opts: DataPlaneStart, onEvent: DataPlaneEvent): DataPlaneHandle;
  /** Sends `errorPacket` (an encoded TFTP ERROR) to the client and ends the transfer ("done" code ABORTED). */
  abort(h: DataPlaneHandle, errorPacket: Buffer): void;
  /** Cumulative counters, indexed by {@link Stat}. */
  stats(h: DataPlaneHandle): number[];
}

let cached: { plane: DataPlane } | { error: string } | undefined;

/** The native data plane, or why it cannot be used; loaded once per process. */
export function loadDataPlane(): { plane: DataPlane } | { error: string } {
  if (cached) return cached;
  if (process.platform !== 'linux')
    return (cached = { error: `the native TFTP data plane is Linux-only (this is ${process.platform})` });
  // Same depth from src/boot/tftp (tests) and dist/boot/tftp (built): the package root is three up.
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  // STATELESX_TFTP_ADDON: another build of the same addon (the sanitizer and race test builds of
  // scripts/build-native.mjs); only tests and `npm run fuzz` set it.
  const path = process.env['STATELESX_TFTP_ADDON'] ?? resolve(root, 'build/Release/tftp_dataplane.node');
  try {
    cached = { plane: createRequire(import.meta.url)(path) as DataPlane };
  } catch (e) {
    cached = { error: `cannot load ${path} (run npm install or npm run build:native): ${(e as Error).message}` };
  }
  return cached;
}
