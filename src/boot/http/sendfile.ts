/**
 * Zero-copy HTTP boot bodies: sendfile(2) into the response's TCP socket on the native sender
 * thread (src/boot/http/native/sendfile.c, built by scripts/build-native.mjs into
 * build/Release/http_sendfile.node), instead of reading the file into user-space buffers and
 * writing them back (file-stream.ts's copy loop, which stays the path for TLS sockets, pipelined
 * responses and a missing addon).
 *
 * Node owns the socket: the headers go out through Node first (`flushHeaders`, then an empty write
 * whose callback says the kernel has them), then the addon sends the body from a dup() of the
 * socket's descriptor while Node writes nothing to that socket; when the addon reports, the
 * response is ended through Node (no bytes: `Content-Length` was set), so keep-alive and the next
 * request work as before. A client that goes away cancels the send; the file descriptor is closed
 * only after the addon let go of it.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import type { ServerResponse } from 'node:http';

/** How a native send ended (the addon's `resultCodes`, checked at load). */
export const SENDFILE_RESULTS = ['ok', 'cancelled', 'socket-error', 'short-file', 'io-error'] as const;
export type SendfileResult = (typeof SENDFILE_RESULTS)[number];

/** Opaque handle of one native send. */
export type SendfileHandle = { readonly __brand: 'SendfileHandle' };

/** The addon as the rest of the code uses it (see sendfile.c for the contract). */
export interface Sendfile {
  /**
   * Sends `length` bytes of `fileFd` from `offset` (bytes) into the TCP socket `socketFd`.
   * `onDone(sent, result, errno)` runs once on the main thread: `sent` = bytes the socket
   * accepted. `fileFd` must stay open until then.
   * @throws TypeError on bad arguments; Error when the socket cannot be duplicated
   */
  start(
    socketFd: number,
    fileFd: number,
    offset: number,
    length: number,
    onDone: (sent: number, result: SendfileResult, errno: number) => void,
  ): SendfileHandle;
  /** Ends the send early (`onDone` with `cancelled`); a no-op once `onDone` ran. */
  cancel(h: SendfileHandle): void;
}

interface Addon extends Sendfile {
  resultCodes: unknown;
}

const cached = new Map<string, { sendfile: Sendfile } | { error: string }>();

/**
 * The native sender, or why it cannot be used (not built, not Linux); loaded once per path.
 * STATELESX_HTTP_SENDFILE_ADDON names another build (tests of the fallback set it to a missing file).
 * @throws Error when the addon loads but its result codes are not {@link SENDFILE_RESULTS} (a stale build)
 */
export function loadSendfile(): { sendfile: Sendfile } | { error: string } {
  // Same depth from src/boot/http (tests) and dist/boot/http (built): the package root is three up.
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const path = process.env['STATELESX_HTTP_SENDFILE_ADDON'] ?? resolve(root, 'build/Release/http_sendfile.node');
  const known = cached.get(path);
  if (known) return known;
  let result: { sendfile: Sendfile } | { error: string };
  if (process.platform !== 'linux') {
    result = { error: `HTTP sendfile is Linux-only (this is ${process.platform})` };
  } else {
    let addon: Addon | undefined;
    try {
      addon = createRequire(import.meta.url)(path) as Addon;
    } catch (e) {
      result = { error: `cannot load ${path} (run npm install or npm run build:native): ${(e as Error).message}` };
    }
    if (addon) {
      const codes = addon.resultCodes;
      if (!Array.isArray(codes) || codes.join() !== SENDFILE_RESULTS.join())
        throw new Error(
          `the HTTP sendfile addon ${path} does not match this version of statelesx: run npm run build:native`,
        );
      const a = addon;
      result = { sendfile: { start: (...args) => a.start(...args), cancel: (h) => a.cancel(h) } };
    }
  }
  cached.set(path, result!);
  return result!;
}

/**
 * The descriptor of `res`'s plain TCP socket when the body may be sent past Node, else null: a TLS
 * socket (the kernel cannot encrypt), a response queued behind another on a keep-alive connection
 * (it does not own the socket yet), or a socket without a descriptor.
 */
export function socketFd(res: ServerResponse): number | null {
  // Node internals read on purpose: `encrypted` (tls.TLSSocket), `_httpMessage` (the response that
  // owns the socket now), `_handle.fd` (libuv's descriptor; -1 or absent for a TLS wrap).
  const s = res.socket as unknown as {
    encrypted?: boolean;
    destroyed: boolean;
    _httpMessage?: unknown;
    _handle?: { fd?: unknown } | null;
  } | null;
  if (!s || s.encrypted || s.destroyed || s._httpMessage !== res) return null;
  const fd = s._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

const EMPTY = Buffer.alloc(0);

/**
 * Sends bytes `start`..`end` (inclusive) of the open `fd` as `res`'s body with `sf` (status and
 * headers already set with `writeHead`), ends `res`, closes `fd` and calls `done` once: with
 * nothing when the body was sent or the client went away, with the error that destroyed the
 * response when the file came up short or could not be read.
 * @param onWritten called once with the bytes the socket accepted (an aborted download: its part)
 */
export function sendRange(
  res: ServerResponse,
  fd: number,
  path: string,
  start: number,
  end: number,
  sf: Sendfile,
  onWritten: ((bytes: number) => void) | undefined,
  done: (err?: Error) => void,
  closeFd: (fd: number) => void,
): void {
  let handle: SendfileHandle | null = null;
  let settled = false;
  const settle = (err?: Error) => {
    if (settled) return;
    settled = true;
    res.off('close', onClose);
    closeFd(fd);
    if (err) res.destroy(err);
    else if (!res.destroyed && !res.writableEnded) res.end();
    done(err);
  };
  // Before the native send started: nothing holds fd but us. After: cancel, and wait for onDone.
  const onClose = () => (handle ? sf.cancel(handle) : settle());
  res.once('close', onClose);
  res.flushHeaders();
  res.socket!.write(EMPTY, (werr) => {
    if (settled) return;
    const sock = werr ? null : socketFd(res);
    if (sock === null) return settle(); // the client went away while the headers were written
    try {
      handle = sf.start(sock, fd, start, end - start + 1, (sent, result, errno) => {
        if (sent > 0) onWritten?.(sent);
        if (result === 'ok') return settle();
        if (result === 'cancelled' || result === 'socket-error') {
          // The client is gone (or the server closes): not the file's fault, nothing to report.
          if (!res.destroyed) res.destroy();
          return settle();
        }
        settle(
          new Error(
            result === 'short-file'
              ? `${path}: file shrank while being served (short read at byte ${start + sent})`
              : `${path}: read failed at byte ${start + sent} (errno ${errno})`,
          ),
        );
      });
    } catch (e) {
      settle(e instanceof Error ? e : new Error(String(e)));
    }
  });
}
