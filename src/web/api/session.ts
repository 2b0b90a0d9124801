/** `/api/v1/session` (login, logout, who am I, CSRF token) and `/api/v1/setup` (first admin). */
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../context.js';
import { errorResponses } from '../schemas.js';
import { csrfTokenOf, login, loginRateLimit, logout, setupFirstAdmin } from '../auth/plugin.js';
import { hasSetupToken, setupTokenValid } from '../auth/tokens.js';

const sessionOut = {
  type: 'object',
  properties: {
    authenticated: { type: 'boolean' },
    user: { $ref: 'User#' },
    csrfToken: { type: 'string' },
    setupRequired: { type: 'boolean', description: 'no user exists yet: use the setup link printed at start' },
  },
  required: ['authenticated', 'csrfToken'],
} as const;

export function sessionRoutes(app: FastifyInstance, ctx: WebContext): void {
  const limited = loginRateLimit(app, ctx);
  loginRoutes(app, ctx, limited);
  setupRoutes(app, ctx, limited);
}

/** `/api/v1/session`: who am I, log in (rate-limited by `limited`), log out. */
function loginRoutes(app: FastifyInstance, ctx: WebContext, limited: ReturnType<typeof loginRateLimit>): void {
  app.get(
    '/api/v1/session',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['session'],
        summary: 'The current session and the CSRF token to send as x-csrf-token',
        response: { 200: sessionOut },
      },
    },
    async (req, reply) => ({
      authenticated: Boolean(req.user),
      ...(req.user ? { user: req.user } : {}),
      csrfToken: csrfTokenOf(ctx, req, reply),
      setupRequired: (await ctx.deps.store.users.count()) === 0 && (await hasSetupToken(ctx.deps.store.settings)),
    }),
  );

  app.post<{ Body: { username: string; password: string } }>(
    '/api/v1/session',
    {
      config: { auth: 'public' },
      onRequest: limited,
      schema: {
        tags: ['session'],
        summary:
          "Log in (rate-limited per client address, one budget with /api/v1/setup and the console's /login and /setup); sets the HttpOnly session cookie",
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: {
            username: { type: 'string', minLength: 1, maxLength: 64 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
            _csrf: { type: 'string' },
          },
        },
        response: { 200: sessionOut, 429: { $ref: 'Problem#' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const { user, csrfToken } = await login(ctx, req, reply, req.body.username, req.body.password);
      return { authenticated: true, user, csrfToken };
    },
  );

  app.delete(
    '/api/v1/session',
    {
      config: { auth: 'viewer' },
      schema: { tags: ['session'], summary: 'Log out', response: { 204: { type: 'null' }, ...errorResponses } },
    },
    async (req, reply) => {
      await logout(ctx, req, reply);
      return reply.code(204).send();
    },
  );
}

/** `/api/v1/setup`: the first admin, with the token printed at start (rate-limited by `limited`). */
function setupRoutes(app: FastifyInstance, ctx: WebContext, limited: ReturnType<typeof loginRateLimit>): void {
  app.get<{ Querystring: { token: string } }>(
    '/api/v1/setup',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['session'],
        summary: 'Whether a one-time setup token is the outstanding one (checks it without using it up)',
        querystring: {
          type: 'object',
          required: ['token'],
          properties: { token: { type: 'string', minLength: 1, maxLength: 256 } },
        },
        response: {
          200: { type: 'object', required: ['valid'], properties: { valid: { type: 'boolean' } } },
          ...errorResponses,
        },
      },
    },
    async (req) => ({ valid: await setupTokenValid(ctx.deps.store.settings, req.query.token) }),
  );

  app.post<{ Body: { token: string; username: string; password: string } }>(
    '/api/v1/setup',
    {
      config: { auth: 'public' },
      onRequest: limited,
      schema: {
        tags: ['session'],
        summary: 'Create the first admin with the one-time setup token printed at first start',
        body: {
          type: 'object',
          required: ['token', 'username', 'password'],
          additionalProperties: false,
          properties: {
            token: { type: 'string', minLength: 1, maxLength: 256 },
            username: { type: 'string' },
            password: { type: 'string' },
            _csrf: { type: 'string' },
          },
        },
        response: { 201: sessionOut, 429: { $ref: 'Problem#' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const { user, csrfToken } = await setupFirstAdmin(ctx, req, reply, req.body);
      return reply.code(201).send({ authenticated: true, user, csrfToken });
    },
  );
}
