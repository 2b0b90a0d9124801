/**
 * Reply writing of the TCP phone-home listener: the one line a connection is answered with, and
 * how the connection is ended after it (half-close, then destroy if the client lingers).
 */
import type { Socket } from 'node:net';
import type { PhoneHomeOutcome } from '../hosts/registry.js';

/** The reply line for an outcome. */
export function replyLine(o: PhoneHomeOutcome): string {
  switch (o.result) {
    case 'ok':
      return `OK ${o.jobId}\n`;
    case 'unregistered':
      return 'UNREGISTERED\n';
    case 'refused':
      return `ERR ${o.reason}\n`;
  }
}

/**
 * Socket errors of a client that left before reading the reply (the 2008 scripts close right after
 * sending): logged at debug level only.
 */
export const QUIET_SOCKET_ERRORS = new Set([
  'EPIPE',
  'ECONNRESET',
  'ECONNABORTED',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_WRITE_AFTER_END',
]);

/**
 * Sends `line` (nothing when undefined) and half-closes the socket; a client that neither reads nor
 * closes is destroyed after `lingerMs`. Does nothing on a destroyed socket.
 * @returns the linger timer (unref'd), to clear when the socket closes
 */
export function endWithReply(socket: Socket, line: string | undefined, lingerMs: number): NodeJS.Timeout | undefined {
  if (socket.destroyed) return undefined;
  if (line !== undefined && socket.writable) socket.end(line);
  else socket.end();
  const linger = setTimeout(() => socket.destroy(), lingerMs);
  linger.unref();
  return linger;
}
