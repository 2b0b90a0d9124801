/**
 * API bearer tokens: `/api/v1/tokens` — list, create (the token is in the answer once, never
 * again), revoke. Admins only. The check of `Authorization: Bearer` is in ../auth/plugin.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../context.js';
import { errorResponses } from '../schemas.js';
import { problems } from '../problem.js';
import { auditChange } from '../audit.js';
import { ApiTokenError, DuplicateApiTokenError, issueApiToken } from '../auth/api-tokens.js';
import type { Role } from '../../store/index.js';

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } } as const;

/** The `ApiToken` schema: a token as listed (never the token itself). */
export const apiTokenSchema = {
  $id: 'ApiToken',
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    role: { type: 'string', enum: ['admin', 'operator', 'viewer'] },
    createdAt: { type: 'integer', description: 'epoch ms' },
    createdBy: { type: 'string' },
    expiresAt: { type: ['integer', 'null'], description: 'epoch ms; null: never expires' },
    lastUsedAt: {
      type: ['integer', 'null'],
      description: 'epoch ms of the last authenticated request, to the minute',
    },
  },
} as const;

/** Registers `GET`/`POST /api/v1/tokens` and `DELETE /api/v1/tokens/:id` (admin). */
export function tokenRoutes(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;
  app.addSchema(apiTokenSchema);

  app.get(
    '/api/v1/tokens',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['tokens'],
        summary: 'API tokens (names, roles, expiry, last use; never the tokens)',
        response: { 200: { type: 'array', items: { $ref: 'ApiToken#' } }, ...errorResponses },
      },
    },
    async () => await store.apiTokens.list(),
  );

  app.post<{ Body: { name: string; role: Role; expiresAt?: string } }>(
    '/api/v1/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token; the answer holds the token, shown this once (send it as Authorization: Bearer)',
        body: {
          type: 'object',
          required: ['name', 'role'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', maxLength: 64, description: 'audited as token:<name>' },
            role: { type: 'string', enum: ['admin', 'operator', 'viewer'] },
            expiresAt: { type: 'string', format: 'date-time', description: 'RFC 3339; absent: never expires' },
          },
        },
        response: {
          201: {
            type: 'object',
            properties: { ...apiTokenSchema.properties, token: { type: 'string', description: 'shown once' } },
          },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const { name, role, expiresAt } = req.body;
      try {
        const { record, token } = await issueApiToken(
          store,
          {
            name,
            role,
            expiresAt: expiresAt === undefined ? null : Date.parse(expiresAt),
            createdBy: req.user!.username,
          },
          ctx.now(),
        );
        await auditChange(
          store.audit,
          req,
          'api-token.create',
          name,
          null,
          { name, role, expiresAt: record.expiresAt },
          ctx.now(),
        );
        return reply.code(201).send({ ...record, token });
      } catch (e) {
        if (e instanceof ApiTokenError)
          throw problems.invalid('the API token cannot be created', [{ path: `/body/${e.field}`, message: e.message }]);
        if (e instanceof DuplicateApiTokenError) throw problems.conflict(e.message);
        throw e;
      }
    },
  );

  revokeRoute(app, ctx);
}

/** `DELETE /api/v1/tokens/:id`: revoke. */
function revokeRoute(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;
  app.delete<{ Params: { id: number } }>(
    '/api/v1/tokens/:id',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Revoke an API token (its next request is refused)',
        params: idParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const before = await store.apiTokens.get(req.params.id);
      if (!before) throw problems.notFound(`API token ${req.params.id}`);
      await store.apiTokens.delete(before.id);
      await auditChange(
        store.audit,
        req,
        'api-token.revoke',
        before.name,
        { name: before.name, role: before.role, expiresAt: before.expiresAt },
        null,
        ctx.now(),
      );
      return reply.code(204).send();
    },
  );
}
