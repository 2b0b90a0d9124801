/**
 * The TCP phone-home listener (port 1974 by default, the 2008 tool's port).
 *
 * One message per connection (see ./parse.ts), ended by `\n` or by the client closing its side.
 * The server answers one line — `OK <job-id>`, `UNREGISTERED` or `ERR <reason>` — then closes.
 * The 2008 scripts never read that line and close right after sending: their message is handled
 * on end-of-stream all the same, and the failed reply (EPIPE/ECONNRESET) is ignored.
 *
 * A client that sends a legacy message (1.0/1.1, see ./parse.ts) without a newline and never
 * closes (the 2008 scripts through classic `nc` without `-q`) is answered at the read deadline as
 * if it had closed; any other incomplete message is refused there as `slow`.
 *
 * Limits: a message is at most 1 KiB; a client has `readTimeoutMs` (10 s) to send it; at most
 * `maxConnectionsPerSource` connections per source address and `maxConnections` overall are open
 * at once (extra ones get `ERR busy`). Garbage, non-UTF-8, oversized, slow and half-open clients
 * are closed with a log line and a count (`statelesx_phone_homes_total{result="rejected"}`);
 * nothing is stored for them.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Service } from '../net/service.js';
import { toBindError } from '../net/bind-error.js';
import { normalizeAddress, phoneHomesTotal } from '../hosts/registry.js';
import { PhoneHomeConnection, type PhoneHomeHandler } from './connection.js';
import { ConnectionLimits } from './limits.js';

export type { PhoneHomeHandler } from './connection.js';
export { replyLine } from './reply.js';

export interface PhoneHomeListenerOptions {
  /** Address to bind, e.g. `0.0.0.0` or `127.0.0.1`. */
  host: string;
  /** TCP port (1974; 0 = any free port, see {@link PhoneHomeListener.address}). */
  port: number;
  handler: PhoneHomeHandler;
  log: Logger;
  /** `initiator.read-timeout-ms`: time a client has to send its whole message (default 10 000). */
  readTimeoutMs?: number;
  /** `initiator.max-connections-per-source` (default 16). */
  maxConnectionsPerSource?: number;
  /** Open connections overall (default 4096). */
  maxConnections?: number;
}

/** Counts kept by one listener (the Prometheus counter is process-wide). */
export interface PhoneHomeStats {
  /** Connections accepted by the OS. */
  connections: number;
  /** Messages handed to the registry, by result. */
  handled: { ok: number; unregistered: number; refused: number };
  /** Connections closed without a stored message, by reason. */
  rejected: Record<string, number>;
}

export interface PhoneHomeListener extends Service {
  /** Bound address; throws before {@link Service.start} resolved. */
  address(): { address: string; port: number };
  stats(): PhoneHomeStats;
}

/**
 * Creates the listener (not yet bound).
 * `start()` rejects with a BindError naming the port and `--initiator-port` when the bind fails.
 */
export function createPhoneHomeListener(opts: PhoneHomeListenerOptions): PhoneHomeListener {
  const log = opts.log.child({ subsystem: 'initiator' });
  const readTimeoutMs = opts.readTimeoutMs ?? 10_000;
  const limits = new ConnectionLimits(opts.maxConnections ?? 4096, opts.maxConnectionsPerSource ?? 16);
  const open = limits.open;
  const stats: PhoneHomeStats = { connections: 0, handled: { ok: 0, unregistered: 0, refused: 0 }, rejected: {} };
  const idPrefix = randomBytes(3).toString('hex');
  let seq = 0;
  let bound: { address: string; port: number } | undefined;

  const reject = (reason: string) => {
    stats.rejected[reason] = (stats.rejected[reason] ?? 0) + 1;
    phoneHomesTotal.inc({ transport: 'tcp', result: 'rejected', reason });
  };

  const onConnection = (socket: Socket) => {
    stats.connections++;
    const address = normalizeAddress(socket.remoteAddress);
    const client = `${address}:${socket.remotePort ?? 0}`;
    const req = `${idPrefix}-${(++seq).toString(36)}`;
    const clog = log.child({ client, req });
    const { fromSource, refused } = limits.admit(socket, address);
    const conn = new PhoneHomeConnection({
      socket,
      address,
      requestId: req,
      log: clog,
      handler: opts.handler,
      readTimeoutMs,
      reject,
      handled: (result) => stats.handled[result]++,
    });
    socket.on('close', () => {
      limits.release(socket, address);
      conn.closed();
    });
    if (refused) {
      reject(refused);
      clog.warn({ reason: refused, open: open.size, fromSource }, 'phone-home connection refused: limit reached');
      conn.refuseBusy();
      return;
    }
    conn.serve();
  };

  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
  server.on('error', (e) => log.error({ err: e }, 'initiator listener error'));

  return {
    name: 'initiator',
    address() {
      if (!bound) throw new Error('initiator listener is not started');
      return bound;
    },
    stats() {
      return { connections: stats.connections, handled: { ...stats.handled }, rejected: { ...stats.rejected } };
    },
    async start() {
      bound = await listen(server, opts.host, opts.port);
      log.info({ address: bound.address, port: bound.port }, 'initiator listening (tcp)');
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        if (!server.listening) {
          resolve();
          return;
        }
        server.close(() => resolve());
      });
    },
  };
}

/**
 * Binds `server` on host:port (backlog 2048).
 * @returns the bound address (the real port when `port` is 0)
 * @throws BindError naming the port and `--initiator-port`
 */
function listen(server: Server, host: string, port: number): Promise<{ address: string; port: number }> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => {
      server.off('listening', onListening);
      reject(toBindError(e, 'initiator (tcp)', host, port, '--initiator-port'));
    };
    const onListening = () => {
      server.off('error', onError);
      const a = server.address();
      resolve(typeof a === 'object' && a ? { address: a.address, port: a.port } : { address: host, port });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, backlog: 2048 });
  });
}
