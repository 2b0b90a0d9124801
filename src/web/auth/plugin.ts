/**
 * Authentication for the API and console: the session hook (who is calling), the role check, the
 * CSRF check on state-changing requests, and the session/setup endpoints. Registered inside the
 * authenticated scope of the app; `/boot/`, phone-home and health routes live outside it.
 */
import { timingSafeEqual } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onRequestAsyncHookHandler,
  onRequestHookHandler,
} from 'fastify';
import { HttpProblem, problems } from '../problem.js';
import type { WebContext } from '../context.js';
import { accessOf, allows, isStateChanging } from './roles.js';
import {
  CSRF_HEADER,
  PRELOGIN_COOKIE,
  SESSION_COOKIE,
  SETUP_LINK_FILE,
  consumeSetupToken,
  csrfMatches,
  csrfTokenFor,
  randomToken,
  setupTokenValid,
  sha256,
} from './tokens.js';
import { dummyHash, hashPassword, passwordProblem, usernameProblem, verifyPassword } from './passwords.js';
import { auditChange } from '../audit.js';
import { LOGIN_BODY_LIMIT } from '../limits.js';
import { AccountBackoff } from './backoff.js';
import { checkBearer } from './api-tokens.js';
import type { ApiTokenRecord, UserRecord } from '../../store/index.js';

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
async function startSession(ctx: WebContext, reply: FastifyReply, user: UserRecord): Promise<string> {
  const key = randomToken();
  const now = ctx.now();
  await ctx.deps.store.users.pruneSessions(now);
  await ctx.deps.store.users.createSession(sha256(key), user.id, now, now + ctx.sessionTtlMs);
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
  const backoff = backoffOf(ctx);
  const wait = backoff.waitMs(username, ctx.now());
  if (wait > 0) {
    req.log.warn({ username }, 'login refused: account in back-off after failed logins');
    const s = Math.ceil(wait / 1000);
    throw new HttpProblem(
      429,
      'Too Many Requests',
      `too many failed logins for this account; retry in ${s} s`,
      undefined,
      { retryAfter: s },
    );
  }
  const found = await ctx.deps.store.users.passwordHash(username);
  const ok = await verifyPassword(found?.hash ?? (await dummyHash()), password);
  if (!found || !ok || found.user.disabled) {
    backoff.failed(username, ctx.now());
    req.log.warn({ username }, 'login failed');
    throw new HttpProblem(401, 'Unauthenticated', 'wrong user name or password');
  }
  backoff.succeeded(username);
  req.user = found.user;
  const csrfToken = await startSession(ctx, reply, found.user);
  await auditChange(ctx.deps.store.audit, req, 'session.login', found.user.username, null, null, ctx.now());
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
  if (!(await setupTokenValid(store.settings, body.token)))
    throw problems.forbidden('the setup token is wrong or has already been used');
  const errs = [
    ...(usernameProblem(body.username) ? [{ path: '/body/username', message: usernameProblem(body.username)! }] : []),
    ...(passwordProblem(body.password) ? [{ path: '/body/password', message: passwordProblem(body.password)! }] : []),
  ];
  if (errs.length) throw problems.invalid('the first admin cannot be created', errs);
  const hash = await hashPassword(body.password);
  // Re-check after the slow hash: a concurrent setup may have used the token meanwhile.
  if (!(await setupTokenValid(store.settings, body.token)))
    throw problems.forbidden('the setup token is wrong or has already been used');
  const user = await store.users.createFirst(body.username, hash, 'admin', ctx.now());
  await consumeSetupToken(store.settings);
  const dataDir = ctx.deps.config?.['data-dir'];
  if (dataDir) rmSync(join(dataDir, SETUP_LINK_FILE), { force: true });
  if (!user) throw problems.conflict('a user already exists; log in instead');
  req.user = user;
  await auditChange(
    store.audit,
    req,
    'user.create',
    user.username,
    null,
    { username: user.username, role: user.role, via: 'setup-token' },
    ctx.now(),
  );
  return { user, csrfToken: await startSession(ctx, reply, user) };
}

/** One attempt counter per app: every login-like route draws from it. */
const loginLimiters = new WeakMap<WebContext, onRequestAsyncHookHandler>();

/** Failed logins per account, per app. */
const backoffs = new WeakMap<WebContext, AccountBackoff>();
function backoffOf(ctx: WebContext): AccountBackoff {
  let b = backoffs.get(ctx);
  if (!b) backoffs.set(ctx, (b = new AccountBackoff()));
  return b;
}

/**
 * Header that marks the console's API call for a login attempt the console already counted. The
 * console's own `POST /login` and `/setup` run the rate limit before reading the body, then get
 * this header set to a random value of this process, which the console forwards on its API calls
 * (./console/api-call.ts `apiFor`); the API's `POST /api/v1/session` and `/api/v1/setup` then do not
 * count the same attempt twice. No client can present the value: it is never sent out.
 */
const CONSOLE_CALL_HEADER = 'x-statelesx-console-call';
/** The value of {@link CONSOLE_CALL_HEADER} (256 random bits per process). */
const CONSOLE_CALL_MARK = randomToken();

/** True for an API request the console made on a browser's behalf (see {@link CONSOLE_CALL_HEADER}). */
function isConsoleCall(req: FastifyRequest): boolean {
  const v = req.headers[CONSOLE_CALL_HEADER];
  if (typeof v !== 'string') return false;
  const a = Buffer.from(v);
  const b = Buffer.from(CONSOLE_CALL_MARK);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The login-like routes: small bodies, one rate limit, counted before the body is read. */
const LOGIN_ROUTES = new Set(['/api/v1/session', '/api/v1/setup', '/login', '/setup']);

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
    hook = app.rateLimit({
      max: l.max,
      timeWindow: l.timeWindowMs, // The console's /login and /setup counted the attempt before their API call: not twice.
      allowList: (req) => LOGIN_ROUTES.has(req.routeOptions.url ?? '') && isConsoleCall(req),
    });
    loginLimiters.set(ctx, hook);
  }
  return hook;
}

/** Ends the request's session. */
export async function logout(ctx: WebContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (req.sessionKey) await ctx.deps.store.users.deleteSession(sha256(req.sessionKey));
  reply.clearCookie(SESSION_COOKIE, { path: '/' });
}

/** The caller a bearer request acts as: `token:<name>` with the token's role (audit actor). */
function tokenCaller(t: ApiTokenRecord): UserRecord {
  return { id: -t.id, username: `token:${t.name}`, role: t.role, createdAt: t.createdAt, disabled: false };
}

/**
 * Installs the hooks on `app` (an encapsulated scope): `onRequest` resolves the caller — an API
 * token from `Authorization: Bearer` (any other or malformed Authorization header: 401), else the
 * session cookie — and enforces `config.auth`; `preValidation` checks CSRF on
 * POST/PUT/PATCH/DELETE of cookie sessions (header `x-csrf-token` or form field `_csrf`); bearer
 * requests need none.
 */
export function installAuthHooks(app: FastifyInstance, ctx: WebContext): void {
  // Login-like POST routes (the API's and the console's): a body of at most LOGIN_BODY_LIMIT,
  // and the login rate limit as their first onRequest hook, before the body is read.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.includes('POST') || !LOGIN_ROUTES.has(route.url)) return;
    route.bodyLimit = LOGIN_BODY_LIMIT;
    const limited = loginRateLimit(app, ctx);
    const hooks =
      route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    if (hooks.includes(limited)) return; // the API's own routes declare it
    const counted: onRequestHookHandler = (req, _reply, done) => {
      req.headers[CONSOLE_CALL_HEADER] = CONSOLE_CALL_MARK;
      done();
    };
    route.onRequest = [limited, counted, ...hooks];
  });
  app.addHook('onRequest', async (req, reply) => {
    const authorization = req.headers.authorization;
    const key = req.cookies[SESSION_COOKIE];
    if (authorization !== undefined) {
      // A bearer request is the token's alone: a session cookie beside it is not read.
      const check = await checkBearer(ctx.deps.store, authorization, ctx.now());
      if (!check.ok) {
        req.log.warn({ reason: check.reason }, 'bearer token refused');
        reply.header('www-authenticate', 'Bearer realm="statelesx", error="invalid_token"');
        throw new HttpProblem(401, 'Unauthenticated', check.reason);
      }
      req.apiToken = check.token;
      req.user = tokenCaller(check.token);
    } else if (key) {
      const s = await ctx.deps.store.users.getSession(sha256(key), ctx.now());
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
  // eslint-disable-next-line @typescript-eslint/require-await -- an async hook (no done callback) whose early returns end it; the check is synchronous
  app.addHook('preValidation', async (req) => {
    // A bearer token is not sent by a browser on its own (unlike a cookie): no cross-site forgery.
    if (!isStateChanging(req.method) || req.apiToken) return;
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
