/**
 * The one way the console reaches the server: an in-process request to the public API
 * (`app.inject` on `/api/v1`) carrying the caller's own session cookie, CSRF token and client
 * address, with the API's problem (RFC 9457) turned back into an {@link HttpProblem}.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, InjectOptions } from 'fastify';
import { HttpProblem, reasonPhrase, type FieldError } from '../problem.js';
import { one, type Form } from './forms.js';

/**
 * The one way the console reaches the server: a request to the public API in the same process.
 * Returns the parsed JSON (text for other types, undefined for 204).
 * @throws HttpProblem carrying the API's problem (status, title, detail, errors, extension members)
 */
export type ApiCall = <T = unknown>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  body?: unknown,
) => Promise<T>;

/** See src/web/auth/plugin.ts: forwarded so that one login attempt is counted once. */
const COUNTED_HEADER = 'x-statelesx-console-call';

/**
 * Makes the {@link ApiCall} of one console request: the caller's cookies (kept up to date with
 * what earlier calls set, and every Set-Cookie forwarded to the caller), the caller's client
 * address (the login rate limit counts per address), and for state-changing calls the CSRF token
 * the caller presented.
 */
export function apiFor(app: FastifyInstance, req: FastifyRequest, reply: FastifyReply): ApiCall {
  const jar: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.cookies ?? {})) if (typeof v === 'string') jar[k] = v;
  const header = req.headers['x-csrf-token'];
  const presented = typeof header === 'string' ? header : one(req.body as Form | undefined, '_csrf');
  const counted = req.headers[COUNTED_HEADER];
  return async <T>(method: string, url: string, body?: unknown): Promise<T> => {
    const opts: InjectOptions = {
      method: method,
      url,
      cookies: { ...jar },
      remoteAddress: req.ip,
      headers: {
        accept: 'application/json',
        // Set by the auth hooks on the console's /login and /setup, which counted the attempt already.
        ...(typeof counted === 'string' ? { [COUNTED_HEADER]: counted } : {}),
        ...(method !== 'GET' && presented ? { 'x-csrf-token': presented } : {}),
        ...(req.headers['user-agent'] ? { 'user-agent': req.headers['user-agent'] } : {}),
      },
      ...(body !== undefined ? { payload: body as string } : {}),
    };
    const res = await app.inject(opts);
    const set = res.headers['set-cookie'];
    if (set) {
      reply.header('set-cookie', Array.isArray(set) ? set : [set]);
      for (const c of res.cookies as Array<{ name: string; value: string; maxAge?: number; expires?: Date }>) {
        if (c.value === '' || c.maxAge === 0 || (c.expires && c.expires.getTime() < Date.now())) delete jar[c.name];
        else jar[c.name] = c.value;
      }
    }
    const type = String(res.headers['content-type'] ?? '');
    if (res.statusCode >= 400) {
      const p = /json/.test(type) ? res.json<Record<string, unknown>>() : {};
      const { type: _t, title, status: _s, detail, instance: _i, errors, ...extra } = p;
      throw new HttpProblem(
        res.statusCode,
        typeof title === 'string' ? title : reasonPhrase(res.statusCode),
        typeof detail === 'string' ? detail : res.body.slice(0, 500),
        Array.isArray(errors) ? (errors as FieldError[]) : undefined,
        Object.keys(extra).length ? extra : undefined,
      );
    }
    if (res.statusCode === 204 || res.body === '') return undefined as T;
    return (/json/.test(type) ? res.json() : res.body) as T;
  };
}

/** The value of `call`, or null when the API says that part is not available on this server (503). */
export async function unlessMissing<T>(call: Promise<T>): Promise<T | null> {
  try {
    return await call;
  } catch (e) {
    if (e instanceof HttpProblem && e.status === 503) return null;
    throw e;
  }
}
