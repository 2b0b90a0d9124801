/**
 * Console users: `/api/v1/users` — list, create, change role or disable, set a password, delete.
 * The last enabled admin can be neither demoted, disabled nor deleted.
 */
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../context.js';
import { errorResponses } from '../schemas.js';
import { problems } from '../problem.js';
import { auditChange } from '../audit.js';
import { hashPassword, passwordProblem, usernameProblem, verifyPassword } from '../auth/passwords.js';
import { loginRateLimit } from '../auth/plugin.js';
import { DuplicateUserError, type Role } from '../../store/index.js';

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } } as const;
const role = { type: 'string', enum: ['admin', 'operator', 'viewer'] } as const;

/** Registers the `/api/v1/users` routes (admins only, except a user's own password). */
export function userRoutes(app: FastifyInstance, ctx: WebContext): void {
  listAndCreate(app, ctx);
  updateRoute(app, ctx);
  passwordRoute(app, ctx);
  deleteRoute(app, ctx);
}

/** `GET /api/v1/users` and `POST /api/v1/users`. */
function listAndCreate(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;

  app.get(
    '/api/v1/users',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Console users',
        response: { 200: { type: 'array', items: { $ref: 'User#' } }, ...errorResponses },
      },
    },
    async () => await store.users.list(),
  );

  app.post<{ Body: { username: string; password: string; role: Role } }>(
    '/api/v1/users',
    {
      schema: {
        tags: ['users'],
        summary: 'Create a user',
        body: {
          type: 'object',
          required: ['username', 'password', 'role'],
          additionalProperties: false,
          properties: { username: { type: 'string' }, password: { type: 'string' }, role },
        },
        response: { 201: { $ref: 'User#' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const { username, password } = req.body;
      const errs = [
        ...(usernameProblem(username) ? [{ path: '/body/username', message: usernameProblem(username)! }] : []),
        ...(passwordProblem(password) ? [{ path: '/body/password', message: passwordProblem(password)! }] : []),
      ];
      if (errs.length) throw problems.invalid('the user cannot be created', errs);
      try {
        const user = await store.users.create(username, await hashPassword(password), req.body.role, ctx.now());
        await auditChange(store.audit, req, 'user.create', username, null, { username, role: user.role }, ctx.now());
        return reply.code(201).send(user);
      } catch (e) {
        if (e instanceof DuplicateUserError) throw problems.conflict(e.message);
        throw e;
      }
    },
  );
}

/** `PATCH /api/v1/users/:id`: role or disabled (ends their sessions). */
function updateRoute(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;

  app.patch<{ Params: { id: number }; Body: { role?: Role; disabled?: boolean } }>(
    '/api/v1/users/:id',
    {
      schema: {
        tags: ['users'],
        summary: "Change a user's role or disable them (ends their sessions)",
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { role, disabled: { type: 'boolean' } },
        },
        response: { 200: { $ref: 'User#' }, ...errorResponses },
      },
    },
    async (req) => {
      const before = await store.users.get(req.params.id);
      if (!before) throw problems.notFound(`user ${req.params.id}`);
      const demotes =
        before.role === 'admin' &&
        !before.disabled &&
        ((req.body.role && req.body.role !== 'admin') || req.body.disabled);
      if (demotes && (await store.users.adminCount()) <= 1)
        throw problems.conflict('this is the last admin; create another admin first');
      const after = (await store.users.update(req.params.id, req.body))!;
      await auditChange(
        store.audit,
        req,
        'user.update',
        before.username,
        { role: before.role, disabled: before.disabled },
        { role: after.role, disabled: after.disabled },
        ctx.now(),
      );
      return after;
    },
  );
}

/**
 * `PUT /api/v1/users/:id/password`: admins set anyone's; others their own, proving the current one
 * under the login rate limit.
 */
function passwordRoute(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;

  const limited = loginRateLimit(app, ctx);
  app.put<{ Params: { id: number }; Body: { password: string; currentPassword?: string } }>(
    '/api/v1/users/:id/password',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['users'],
        summary:
          "Set a password (admins: anyone; others: themselves); changing your own needs currentPassword; ends that user's sessions",
        params: idParams,
        body: {
          type: 'object',
          required: ['password'],
          additionalProperties: false,
          properties: {
            password: { type: 'string' },
            currentPassword: {
              type: 'string',
              maxLength: 1024,
              description:
                'your current password: required when changing your own (checks count against the login rate limit)',
            },
          },
        },
        response: { 204: { type: 'null' }, 429: { $ref: 'Problem#' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const self = req.user!.id === req.params.id;
      if (req.user!.role !== 'admin' && !self) throw problems.forbidden('you may only change your own password');
      const target = await store.users.get(req.params.id);
      if (!target) throw problems.notFound(`user ${req.params.id}`);
      if (self) {
        // A stolen session must not be enough to take the account over: prove the password first.
        if (!req.body.currentPassword) {
          throw problems.invalid('changing your own password needs your current one', [
            { path: '/body/currentPassword', message: 'required to change your own password' },
          ]);
        }
        await limited.call(app, req, reply);
        const found = await store.users.passwordHash(target.username);
        if (!found || !(await verifyPassword(found.hash, req.body.currentPassword))) {
          req.log.warn({ user: target.username }, 'password change refused: wrong current password');
          throw problems.forbidden('the current password is wrong');
        }
      }
      const p = passwordProblem(req.body.password);
      if (p) throw problems.invalid('the password is refused', [{ path: '/body/password', message: p }]);
      await store.users.setPassword(target.id, await hashPassword(req.body.password));
      await auditChange(
        store.audit,
        req,
        'user.password',
        target.username,
        null,
        { password: 'changed', by: self ? 'self' : 'admin' },
        ctx.now(),
      );
      return reply.code(204).send();
    },
  );
}

/** `DELETE /api/v1/users/:id`. */
function deleteRoute(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;

  app.delete<{ Params: { id: number } }>(
    '/api/v1/users/:id',
    {
      schema: {
        tags: ['users'],
        summary: 'Delete a user',
        params: idParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const before = await store.users.get(req.params.id);
      if (!before) throw problems.notFound(`user ${req.params.id}`);
      if (before.role === 'admin' && !before.disabled && (await store.users.adminCount()) <= 1)
        throw problems.conflict('this is the last admin; create another admin first');
      await store.users.delete(before.id);
      await auditChange(
        store.audit,
        req,
        'user.delete',
        before.username,
        { username: before.username, role: before.role },
        null,
        ctx.now(),
      );
      return reply.code(204).send();
    },
  );
}
