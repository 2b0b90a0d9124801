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
import { gauge } from '../metrics.js';
import { MAX_MESSAGE_BYTES, parsePhoneHomeLine } from './parse.js';
import { normalizeAddress, phoneHomesTotal, type PhoneHomeOutcome, type PhoneHomeRequest } from '../hosts/registry.js';

/** What the listener hands a parsed message to (the HostRegistry). */
export interface PhoneHomeHandler {
  phoneHome(req: PhoneHomeRequest): PhoneHomeOutcome;
}

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
 * True when `bytes` (received without a newline, the client still open) are exactly one complete
 * legacy message — 1.0 `<uuid>` or 1.1 `<hostname>:<uuid>` — with no whitespace anywhere (so no
 * extension keys and nothing that announces more to come) and a full, valid, non-nil UUID.
 */
export function isCompleteLegacyMessage(bytes: Uint8Array): boolean {
  if (bytes.length === 0 || bytes.some((b) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d)) return false;
  const parsed = parsePhoneHomeLine(bytes);
  return parsed.ok && (parsed.message.form === '1.0' || parsed.message.form === '1.1');
}

const QUIET_SOCKET_ERRORS = new Set([
  'EPIPE',
  'ECONNRESET',
  'ECONNABORTED',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_WRITE_AFTER_END',
]);

/**
 * Creates the listener (not yet bound).
 * `start()` rejects with a BindError naming the port and `--initiator-port` when the bind fails.
 */
export function createPhoneHomeListener(opts: PhoneHomeListenerOptions): PhoneHomeListener {
  const log = opts.log.child({ subsystem: 'initiator' });
  const readTimeoutMs = opts.readTimeoutMs ?? 10_000;
  const perSource = opts.maxConnectionsPerSource ?? 16;
  const maxConnections = opts.maxConnections ?? 4096;
  const open = new Set<Socket>();
  const bySource = new Map<string, number>();
  const stats: PhoneHomeStats = { connections: 0, handled: { ok: 0, unregistered: 0, refused: 0 }, rejected: {} };
  const openGauge = gauge('initiator_open_connections', 'Open TCP phone-home connections');
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
    open.add(socket);
    openGauge.set(open.size);
    const count = (bySource.get(address) ?? 0) + 1;
    bySource.set(address, count);

    let done = false;
    const timers: { read?: NodeJS.Timeout; linger?: NodeJS.Timeout } = {};
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (QUIET_SOCKET_ERRORS.has(e.code ?? '')) clog.debug({ code: e.code }, 'client went away before the reply');
      else clog.warn({ err: e }, 'socket error');
    });
    socket.on('close', () => {
      open.delete(socket);
      openGauge.set(open.size);
      const n = (bySource.get(address) ?? 1) - 1;
      if (n <= 0) bySource.delete(address);
      else bySource.set(address, n);
      clearTimeout(timers.linger);
      clearTimeout(timers.read);
    });

    /** Sends the one reply line and closes; a client that never reads or closes is destroyed after the timeout. */
    const finish = (line: string | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timers.read);
      socket.removeAllListeners('data');
      if (socket.destroyed) return;
      if (line !== undefined && socket.writable) socket.end(line);
      else socket.end();
      timers.linger = setTimeout(() => socket.destroy(), Math.min(readTimeoutMs, 5000));
      timers.linger.unref();
    };
    const refuseInput = (reason: string, detail: string, answer: boolean) => {
      reject(reason);
      clog.info({ reason, detail }, 'phone-home connection rejected');
      finish(answer ? `ERR ${reason}\n` : undefined);
    };

    if (open.size > maxConnections || count > perSource) {
      const reason = count > perSource ? 'too-many-from-source' : 'too-many-connections';
      reject(reason);
      clog.warn({ reason, open: open.size, fromSource: count }, 'phone-home connection refused: limit reached');
      done = true;
      socket.end('ERR busy\n');
      timers.linger = setTimeout(() => socket.destroy(), 1000);
      timers.linger.unref();
      return;
    }

    const chunks: Buffer[] = [];
    let size = 0;
    const handle = (bytes: Buffer) => {
      const parsed = parsePhoneHomeLine(bytes);
      if (!parsed.ok) {
        refuseInput(parsed.reason, parsed.detail, true);
        return;
      }
      let outcome: PhoneHomeOutcome;
      try {
        outcome = opts.handler.phoneHome({
          claim: parsed.message,
          address,
          transport: 'tcp',
          requestId: req,
          log: clog,
        });
      } catch (e) {
        clog.error({ err: e }, 'phone-home could not be handled');
        reject('internal');
        finish('ERR internal\n');
        return;
      }
      stats.handled[outcome.result]++;
      finish(replyLine(outcome));
    };

    // A deadline for the whole message, not an idle timeout: a client dripping one byte at a time
    // must not hold the connection longer than readTimeoutMs.
    timers.read = setTimeout(() => {
      if (done) return;
      // A 2008 client piping into classic nc (no -q) sends the bare message, no newline, and never
      // closes: when the bytes so far are a complete legacy message, take them as if it had closed.
      if (size > 0) {
        const bytes = Buffer.concat(chunks, size);
        if (isCompleteLegacyMessage(bytes)) {
          clog.info({ bytes: size }, 'legacy phone-home without newline or close: handled at the read deadline');
          handle(bytes);
          return;
        }
      }
      // Slow (partial message) or idle/half-open (nothing at all): either way, nothing is stored.
      const reason = size > 0 ? 'slow' : 'idle';
      refuseInput(reason, `no complete message within ${readTimeoutMs} ms (${size} bytes received)`, true);
    }, readTimeoutMs);
    timers.read.unref();
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      const nl = chunk.indexOf(0x0a);
      if (nl >= 0) {
        chunks.push(chunk.subarray(0, nl + 1));
        size += nl + 1;
        handle(Buffer.concat(chunks, size));
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_MESSAGE_BYTES + 2)
        refuseInput('oversized', `more than ${MAX_MESSAGE_BYTES} bytes without a newline`, true);
    });
    socket.on('end', () => {
      if (done) {
        if (!socket.writableEnded) socket.end();
        return;
      }
      if (size === 0) {
        refuseInput('empty', 'closed without sending anything', false);
        return;
      }
      handle(Buffer.concat(chunks, size));
    });
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
    start() {
      return new Promise<void>((resolve, reject) => {
        const onError = (e: Error) => {
          server.off('listening', onListening);
          reject(toBindError(e, 'initiator (tcp)', opts.host, opts.port, '--initiator-port'));
        };
        const onListening = () => {
          server.off('error', onError);
          const a = server.address();
          bound =
            typeof a === 'object' && a ? { address: a.address, port: a.port } : { address: opts.host, port: opts.port };
          log.info({ address: bound.address, port: bound.port }, 'initiator listening (tcp)');
          resolve();
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen({ host: opts.host, port: opts.port, backlog: 2048 });
      });
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
