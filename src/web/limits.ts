/**
 * What one unauthenticated client may cost an HTTP listener (each of the administration and boot
 * listeners applies these limits on its own). The listeners share one process, so a request that
 * stalls the event loop stalls booting hosts too (issue 16, finding 3: an 8 MB nested JSON body to `POST /login` stalled `/healthz`
 * for 4.5 s; a body sent a byte every 10 s held its connection for minutes).
 *
 * - request and headers timeouts (`http.request-timeout-ms`, `http.headers-timeout-ms`), checked
 *   every second rather than Node's default 30 s;
 * - a connection cap, overall (`http.max-connections`) and per client address
 *   (`http.max-connections-per-source`): connections beyond it are closed at once;
 * - JSON nested deeper than {@link MAX_JSON_DEPTH} is refused before it is parsed;
 * - login-like routes take small bodies ({@link LOGIN_BODY_LIMIT}; see ./auth/plugin.ts, which
 *   also runs their rate limit before the body is read).
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.js';
import { HttpProblem } from './problem.js';

/** Largest body of `POST /login`, `/setup`, `/api/v1/session` and `/api/v1/setup`, in bytes. */
export const LOGIN_BODY_LIMIT = 8 * 1024;

/** Deepest nesting of arrays and objects accepted in a JSON body. */
export const MAX_JSON_DEPTH = 32;

/** The HTTP limits of the configuration, with their defaults when no configuration is given. */
export interface HttpLimits {
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerSource: number;
}

/** Reads {@link HttpLimits} from `config.http` (schema defaults when `config` is undefined). */
export function httpLimits(config: Config | undefined): HttpLimits {
  const h = config?.http;
  return {
    requestTimeoutMs: h?.['request-timeout-ms'] ?? 30_000,
    headersTimeoutMs: Math.min(h?.['headers-timeout-ms'] ?? 10_000, h?.['request-timeout-ms'] ?? 30_000),
    maxConnections: h?.['max-connections'] ?? 2048,
    maxConnectionsPerSource: h?.['max-connections-per-source'] ?? 256,
  };
}

/**
 * Options for `http.createServer`/`https.createServer` (Node's `headersTimeout`, and
 * `connectionsCheckingInterval`, how often both timeouts are enforced: 1 s, or the headers
 * timeout when shorter). `requestTimeout` is fastify's own option.
 */
export function serverTimeoutOptions(l: HttpLimits): { headersTimeout: number; connectionsCheckingInterval: number } {
  return {
    headersTimeout: l.headersTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, l.headersTimeoutMs)),
  };
}

/**
 * Caps the connections of `server`: beyond `maxConnections` in all (Node's `server.maxConnections`)
 * or `maxConnectionsPerSource` from one address, a new connection is closed at once.
 */
export function capConnections(server: HttpServer, l: HttpLimits): void {
  server.maxConnections = l.maxConnections;
  const perSource = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const from = socket.remoteAddress ?? '?';
    const n = (perSource.get(from) ?? 0) + 1;
    if (n > l.maxConnectionsPerSource) {
      socket.destroy();
      return;
    }
    perSource.set(from, n);
    socket.once('close', () => {
      const left = (perSource.get(from) ?? 1) - 1;
      if (left <= 0) perSource.delete(from);
      else perSource.set(from, left);
    });
  });
}

/**
 * True when `text`, read as JSON, nests arrays and objects deeper than `max` (brackets inside
 * strings do not count). Linear, and stops at the first level too deep.
 */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * Replaces fastify's JSON body parser with one that refuses (400 problem) a body nested deeper
 * than {@link MAX_JSON_DEPTH} before parsing it, then parses as fastify does (`__proto__` and
 * `constructor.prototype` keys refused).
 */
export function installJsonDepthLimit(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (jsonTooDeep(text)) {
      done(new HttpProblem(400, 'Bad Request', `JSON body nested deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      return;
    }
    void parse(req, text, done);
  });
}
