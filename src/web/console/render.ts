/**
 * What every console plugin is given: the {@link ApiCall} of the request and the two ways of
 * answering with HTML — a whole page (eta layout with the session's user and CSRF token, CSP
 * headers) or an htmx fragment.
 */
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { apiFor, type ApiCall } from './api-call.js';

export const VIEWS_DIR = fileURLToPath(new URL('../../../src/web/views/', import.meta.url));

/** Date and value formatting shared by the templates. */
export const fmt = {
  time: (ms: number | null | undefined) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '—'),
  json: (v: unknown) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v)),
};

/** The session as `GET /api/v1/session` answers it. */
export interface SessionView {
  authenticated: boolean;
  user?: { id: number; username: string; role: string };
  csrfToken: string;
  setupRequired?: boolean;
}

/** The options every console plugin is registered with. */
export interface ConsoleOptions {
  /** The {@link ApiCall} of this request (one per request: its cookie jar follows the calls). */
  api: (req: FastifyRequest, reply: FastifyReply) => ApiCall;
  /** Renders `view` as a whole page (layout, navigation for the session's user, CSRF token). */
  page: (
    req: FastifyRequest,
    reply: FastifyReply,
    view: string,
    data: Record<string, unknown>,
  ) => Promise<FastifyReply>;
  /** Renders `view` as an htmx fragment. */
  fragment: (reply: FastifyReply, view: string, data: Record<string, unknown>) => FastifyReply;
  /** Renders `view` with `data` only (no session read): the last resort of the error handler. */
  render: (view: string, data: Record<string, unknown>) => string;
}

/** The {@link ConsoleOptions} of the console scope `app` (its API calls are injected into `app`). */
export function consoleOptions(app: FastifyInstance): ConsoleOptions {
  const eta = new Eta({ views: VIEWS_DIR, cache: true, autoEscape: true });
  const apiOf = new WeakMap<FastifyRequest, ApiCall>();
  const api = (req: FastifyRequest, reply: FastifyReply): ApiCall => {
    let a = apiOf.get(req);
    if (!a) apiOf.set(req, (a = apiFor(app, req, reply)));
    return a;
  };
  const page = async (req: FastifyRequest, reply: FastifyReply, view: string, data: Record<string, unknown>) => {
    const s = await api(req, reply)<SessionView>('GET', '/api/v1/session');
    reply.header(
      'content-security-policy',
      "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    );
    reply.header('x-content-type-options', 'nosniff');
    return reply
      .type('text/html; charset=utf-8')
      .send(eta.render(view, { ...data, user: s.user, csrf: s.csrfToken, fmt, path: req.url }));
  };
  const fragment = (reply: FastifyReply, view: string, data: Record<string, unknown>) =>
    reply.type('text/html; charset=utf-8').send(eta.render(view, { ...data, fmt }));
  return { api, page, fragment, render: (view, data) => eta.render(view, data) };
}

/** Route options of a console action: a session is enough here, the API decides what the role may do. */
export const signedIn = { config: { auth: 'viewer' as const } };
