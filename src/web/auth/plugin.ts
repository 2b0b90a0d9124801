/**
 * Authentication for the API and console: the session hook (who is calling), the role check, the
 * CSRF check on state-changing requests, and the session/setup endpoints. Registered inside the
 * authenticated scope of the app; `/boot/`, phone-home and health routes live outside it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { HttpProblem, problems } from '../problem.js';
import type { WebContext } from '../context.js';
import { accessOf, allows, isStateChanging } from './roles.js';
import {
  CSRF_HEADER,
  PRELOGIN_COOKIE,
  SESSION_COOKIE,
  consumeSetupToken,
  csrfMatches,
  csrfTokenFor,
  randomToken,
  setupTokenValid,
  sha256,
} from './tokens.js';
import { dummyHash, hashPassword, passwordProblem, usernameProblem, verifyPassword } from './passwords.js';
import { auditChange } from '../audit.js';
import type { UserRecord } from '../../store/users.js';

/** True for console (HTML) paths, which redirect to /login instead of answering 401. */
export function isConsolePath(url: string): boolean {
  return !url.startsWith('/api/');
}

/** Cookie options for the session and pre-login cookies. */
function cookieOpts(ctx: WebContext, maxAgeS?: number) {
  return {
    path: '/',
    httpOnly: true,
    sameSite: 'strict' as const,
    secure: ctx.secure,
    ...(maxAgeS ? { maxAge: maxAgeS } : {}),
  };
}

/** The CSRF key of a request: the session cookie when logged in, else the pre-login cookie. */
function csrfKey(req: FastifyRequest): string | undefined {
  return req.sessionKey ?? req.cookies[PRELOGIN_COOKIE];
}

/** The pre-login cookie value, set on the reply when missing. Used by the login and setup forms. */
export function ensurePreloginKey(ctx: WebContext, req: FastifyRequest, reply: FastifyReply): string {
  let key = req.cookies[PRELOGIN_COOKIE];
  if (!key) {
    key = randomToken();
    reply.setCookie(PRELOGIN_COOKIE, key, cookieOpts(ctx, 3600));
    req.cookies[PRELOGIN_COOKIE] = key;
  }
  return key;
}

/** The CSRF token the page or client must send back. */
export function csrfTokenOf(ctx: WebContext, req: FastifyRequest, reply: FastifyReply): string {
  return csrfTokenFor(req.sessionKey ?? ensurePreloginKey(ctx, req, reply));
}

/**
 * Starts a session for `user`: cookie + store row. Returns the new CSRF token. Expired sessions
 * (of every user) are deleted first, so the table holds only live ones plus those expired since
 * the last login.
 */
function startSession(ctx: WebContext, reply: FastifyReply, user: UserRecord): string {
  const key = randomToken();
  const now = ctx.now();
  ctx.deps.store.users.pruneSessions(now);
  ctx.deps.store.users.createSession(sha256(key), user.id, now, now + ctx.sessionTtlMs);
  reply.setCookie(SESSION_COOKIE, key, cookieOpts(ctx, Math.floor(ctx.sessionTtlMs / 1000)));
  reply.clearCookie(PRELOGIN_COOKIE, { path: '/' });
  return csrfTokenFor(key);
}

/**
 * Checks a user name and password; starts a session on success.
 * @returns the user and the new CSRF token
 * @throws HttpProblem 401 on a wrong name or password (same answer for both)
 */
export async function login(
  ctx: WebContext,
  req: FastifyRequest,
  reply: FastifyReply,
  username: string,
  password: string,
): Promise<{ user: UserRecord; csrfToken: string }> {
  const found = ctx.deps.store.users.passwordHash(username);
  const ok = await verifyPassword(found?.hash ?? (await dummyHash()), password);
  if (!found || !ok || found.user.disabled) {
    req.log.warn({ username }, 'login failed');
    throw new HttpProblem(401, 'Unauthenticated', 'wrong user name or password');
  }
  req.user = found.user;
  const csrfToken = startSession(ctx, reply, found.user);
  auditChange(ctx.deps.store.audit, req, 'session.login', found.user.username, null, null, ctx.now());
  return { user: found.user, csrfToken };
}

/**
 * Creates the first admin with the one-time setup token, and logs them in.
 * @throws HttpProblem 403 for a wrong/used token, 422 for a refused name or password
 */
export async function setupFirstAdmin(
  ctx: WebContext,
  req: FastifyRequest,
  reply: FastifyReply,
  body: { token: string; username: string; password: string },
): Promise<{ user: UserRecord; csrfToken: string }> {
  const { store } = ctx.deps;
  if (!setupTokenValid(store.settings, body.token))
    throw problems.forbidden('the setup token is wrong or has already been used');
  const errs = [
    ...(usernameProblem(body.username) ? [{ path: '/body/username', message: usernameProblem(body.username)! }] : []),
    ...(passwordProblem(body.password) ? [{ path: '/body/password', message: passwordProblem(body.password)! }] : []),
  ];
  if (errs.length) throw problems.invalid('the first admin cannot be created', errs);
  const hash = await hashPassword(body.password);
  // Re-check after the slow hash: a concurrent setup may have used the token meanwhile.
  if (!setupTokenValid(store.settings, body.token))
    throw problems.forbidden('the setup token is wrong or has already been used');
  const user = store.users.createFirst(body.username, hash, 'admin', ctx.now());
  consumeSetupToken(store.settings);
  if (!user) throw problems.conflict('a user already exists; log in instead');
  req.user = user;
  auditChange(
    store.audit,
    req,
    'user.create',
    user.username,
    null,
    { username: user.username, role: user.role, via: 'setup-token' },
    ctx.now(),
  );
  return { user, csrfToken: startSession(ctx, reply, user) };
}

/** One attempt counter per app: every login-like route draws from it. */
const loginLimiters = new WeakMap<WebContext, onRequestAsyncHookHandler>();

/**
 * The rate limit shared by every login-like route — `POST /api/v1/session`, `POST /api/v1/setup`,
 * `POST /login`, `POST /setup` — as an `onRequest` hook: `loginRateLimit.max` attempts per client
 * address per `loginRateLimit.timeWindowMs` (default 10 per minute), counted together, so one
 * address cannot multiply its guesses by switching routes. Over the limit: 429 problem+json with
 * Retry-After. Needs @fastify/rate-limit registered on `app` or an ancestor.
 */
export function loginRateLimit(app: FastifyInstance, ctx: WebContext): onRequestAsyncHookHandler {
  let hook = loginLimiters.get(ctx);
  if (!hook) {
    const l = ctx.deps.loginRateLimit ?? { max: 10, timeWindowMs: 60_000 };
    hook = app.rateLimit({ max: l.max, timeWindow: l.timeWindowMs });
    loginLimiters.set(ctx, hook);
  }
  return hook;
}

/** Ends the request's session. */
export function logout(ctx: WebContext, req: FastifyRequest, reply: FastifyReply): void {
  if (req.sessionKey) ctx.deps.store.users.deleteSession(sha256(req.sessionKey));
  reply.clearCookie(SESSION_COOKIE, { path: '/' });
}

/**
 * Installs the hooks on `app` (an encapsulated scope): `onRequest` resolves the session and
 * enforces `config.auth`; `preHandler` checks CSRF on POST/PUT/PATCH/DELETE (header
 * `x-csrf-token` or form field `_csrf`).
 */
export function installAuthHooks(app: FastifyInstance, ctx: WebContext): void {
  app.addHook('onRequest', async (req, reply) => {
    const key = req.cookies[SESSION_COOKIE];
    if (key) {
      const s = ctx.deps.store.users.getSession(sha256(key), ctx.now());
      if (s) {
        req.user = s.user;
        req.sessionKey = key;
      }
    }
    const access = accessOf(req.method, req.routeOptions.config?.auth);
    if (access === 'public') return;
    if (!req.user) {
      if (isConsolePath(req.url) && req.method === 'GET') {
        return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
      }
      throw problems.unauthenticated();
    }
    if (!allows(req.user, access)) {
      throw problems.forbidden(
        `role ${req.user.role} may not ${req.method} ${req.routeOptions.url ?? req.url} (needs ${access})`,
      );
    }
  });
  // preValidation: after body parsing (forms may carry _csrf), before schema validation, so a
  // request without a valid token is refused with 403 whatever its body.
  app.addHook('preValidation', async (req) => {
    if (!isStateChanging(req.method)) return;
    const key = csrfKey(req);
    const header = req.headers[CSRF_HEADER];
    const presented =
      typeof header === 'string'
        ? header
        : req.body && typeof req.body === 'object'
          ? ((req.body as Record<string, unknown>)['_csrf'] as string | undefined)
          : undefined;
    if (!key || !csrfMatches(key, presented)) {
      req.log.warn({ method: req.method, url: req.url }, 'CSRF token missing or wrong');
      throw problems.forbidden(
        'CSRF token missing or wrong: send the x-csrf-token header (GET /api/v1/session returns it)',
      );
    }
  });
}
