/** Images: `/api/v1/images` — list, import (with progress), remove. */
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../context.js';
import { need } from '../context.js';
import { NAME_PATTERN, UUID_PATTERN, errorResponses } from '../schemas.js';
import { HttpProblem, problems } from '../problem.js';
import { auditChange } from '../audit.js';
import type { ImportTracker } from '../imports.js';
import { startImport } from '../services.js';

const importOut = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    source: { type: 'string' },
    name: { type: ['string', 'null'] },
    state: { type: 'string', enum: ['running', 'succeeded', 'failed'] },
    done: { type: 'integer' },
    total: { type: 'integer' },
    file: { type: ['string', 'null'] },
    error: { type: ['string', 'null'] },
    image: { anyOf: [{ $ref: 'Image#' }, { type: 'null' }] },
    startedAt: { type: 'integer' },
    finishedAt: { type: ['integer', 'null'] },
  },
} as const;

export function imageRoutes(app: FastifyInstance, ctx: WebContext, tracker: ImportTracker): void {
  imageListRoutes(app, ctx);
  importRoutes(app, ctx, tracker);
  imageDeleteRoutes(app, ctx);
}

/** `GET /api/v1/images`: the image library. */
function imageListRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get(
    '/api/v1/images',
    {
      schema: {
        tags: ['images'],
        summary: 'Imported image versions',
        response: { 200: { type: 'array', items: { $ref: 'Image#' } }, ...errorResponses },
      },
    },
    async () => need(ctx, 'images', 'the image library').list(),
  );
}

/** `/api/v1/images/import` and `/api/v1/images/imports`: imports started and followed through `tracker`. */
function importRoutes(app: FastifyInstance, ctx: WebContext, tracker: ImportTracker): void {
  app.post<{ Body: { source: string; name?: string } }>(
    '/api/v1/images/import',
    {
      schema: {
        tags: ['images'],
        summary: 'Import an ESXi ISO or directory (a path on the server); poll the returned import for progress',
        body: {
          type: 'object',
          required: ['source'],
          additionalProperties: false,
          properties: {
            source: { type: 'string', minLength: 1, maxLength: 4096 },
            name: { type: 'string', pattern: NAME_PATTERN },
          },
        },
        response: { 202: importOut, ...errorResponses },
      },
    },
    async (req, reply) => {
      return reply.code(202).send(startImport(ctx, req, tracker, req.body.source, req.body.name));
    },
  );

  app.get(
    '/api/v1/images/imports',
    {
      schema: {
        tags: ['images'],
        summary: 'Recent imports and their progress',
        response: { 200: { type: 'array', items: importOut }, ...errorResponses },
      },
    },
    () => tracker.list(),
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/images/imports/:id',
    {
      schema: {
        tags: ['images'],
        summary: "One import's progress",
        params: {
          type: 'object',
          required: ['id'],
          properties: {
            id: { type: 'string', pattern: UUID_PATTERN, description: 'the id POST /api/v1/images/import returned' },
          },
        },
        response: { 200: importOut, ...errorResponses },
      },
    },
    (req) =>
      tracker.get(req.params.id) ??
      (() => {
        throw problems.notFound(`import ${req.params.id}`);
      })(),
  );
}

/** `DELETE /api/v1/images/:name`: refused while a host is pinned to it. */
function imageDeleteRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.delete<{ Params: { name: string } }>(
    '/api/v1/images/:name',
    {
      schema: {
        tags: ['images'],
        summary: 'Remove an image version (refused while a host or cluster is pinned to it)',
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: NAME_PATTERN } } },
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const images = need(ctx, 'images', 'the image library');
      if (!(await images.list()).some((i) => i.name === req.params.name))
        throw problems.notFound(`image ${req.params.name}`);
      const pinned = ctx.deps.store.hosts.pinnedTo(req.params.name);
      if (pinned.length)
        throw problems.conflict(`image ${req.params.name} is pinned by host(s) ${pinned.join(', ')}; unpin them first`);
      try {
        await images.remove(req.params.name);
      } catch (e) {
        const msg = (e as Error).message;
        throw /not found|unknown|no such/i.test(msg)
          ? problems.notFound(`image ${req.params.name}`)
          : new HttpProblem(409, 'Conflict', msg);
      }
      await auditChange(
        ctx.deps.store.audit,
        req,
        'image.remove',
        req.params.name,
        { name: req.params.name },
        null,
        ctx.now(),
      );
      return reply.code(204).send();
    },
  );
}
