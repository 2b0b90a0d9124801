/**
 * Keeps secrets that travel in URLs out of the HTTP log lines. fastify logs every request
 * (`incoming request`, info level) with `req.url`, query string included; some of our URLs carry
 * credentials there: the per-boot phone-home token (`GET /api/v1/phone-home?…&token=…`, the iPXE
 * form) and the one-time admin setup link (`/setup?token=…`). {@link serializeRequest} replaces
 * fastify's `req` serializer and logs the URL through {@link redactUrl}.
 */
import type { FastifyRequest } from 'fastify';

/** What a redacted query value is replaced with (the same censor pino's `redact` uses). */
export const REDACTED = '[redacted]';

/**
 * Query parameter names whose values are secrets, matched case-insensitively against the
 * percent-decoded name: `token`, `access_token`, `setupToken`, `password`, `_csrf`, `session`,
 * `api_key`, `secret`, `signature`, ...
 */
export const SECRET_QUERY_PARAM = /token|passw|secret|csrf|session|api[-_]?key|signature/i;

/** The parameter name of one `name=value` query part, percent-decoded (`+` is a space). */
function paramName(part: string): string {
  const eq = part.indexOf('=');
  const raw = (eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' ');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * A request target (`/path?query`, as in `req.url`) with the values of secret query parameters
 * (see {@link SECRET_QUERY_PARAM}) replaced by {@link REDACTED}. The path, the other parameters
 * and their order are kept byte for byte; a URL without a query string is returned unchanged.
 * @example redactUrl('/api/v1/phone-home?uuid=x&token=abc') === '/api/v1/phone-home?uuid=x&token=[redacted]'
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const query = url.slice(q + 1);
  const parts = query.split('&').map((part) => {
    if (!SECRET_QUERY_PARAM.test(paramName(part))) return part;
    const eq = part.indexOf('=');
    return eq < 0 ? part : `${part.slice(0, eq + 1)}${REDACTED}`;
  });
  return `${url.slice(0, q + 1)}${parts.join('&')}`;
}

/** The fields one request contributes to an HTTP log line (pino `req` key). */
export interface LoggedRequest {
  method: string;
  /** Request target with secret query values redacted ({@link redactUrl}). */
  url: string;
  /** `accept-version` header, as fastify logs it. */
  version?: string | undefined;
  host: string;
  remoteAddress: string;
  remotePort?: number | undefined;
}

/**
 * pino serializer for the `req` key of fastify's request log lines: the fields fastify's default
 * serializer logs (lib/logger-pino.js `asReqValue`), with the URL passed through {@link redactUrl}.
 * Install with `logger.child(bindings, { serializers: { req: serializeRequest } })`.
 */
export function serializeRequest(req: FastifyRequest): LoggedRequest {
  const version = req.headers?.['accept-version'];
  return {
    method: req.method,
    url: redactUrl(req.url ?? ''),
    version: Array.isArray(version) ? version.join(',') : version,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/**
 * pino serializer for a top-level `url` field (e.g. the CSRF warning's `{ method, url }`):
 * strings go through {@link redactUrl}, anything else is logged as is.
 */
export function serializeUrl(url: unknown): unknown {
  return typeof url === 'string' ? redactUrl(url) : url;
}
