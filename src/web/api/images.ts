/**
 * Images: `/api/v1/images` — list, import (with progress), remove, and for `statelesx image sync`
 * on another server the full manifest (`/{name}/manifest`) and the raw files (`/{name}/files/*`).
 */
import { open } from 'node:fs/promises';
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
  imageCopyRoutes(app, ctx);
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

const nameParam = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: NAME_PATTERN } },
} as const;

/**
 * What another server's `statelesx image sync --from` reads (viewer role, bearer token or session):
 * `GET /api/v1/images/{name}/manifest`, the image's `image.json` with every file's path, size and
 * SHA-256; `GET /api/v1/images/{name}/files/{path}`, one file as stored in the image directory
 * (never the per-host rendered boot.cfg `/boot/` serves), refused (403) when the path breaks the
 * boot tree's rules (`..`, absolute …) or a symlink leaves the image, 404 unless the manifest lists
 * it. No Range: a sync reads whole files and checks them against the manifest.
 */
function imageCopyRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get<{ Params: { name: string } }>(
    '/api/v1/images/:name/manifest',
    {
      schema: {
        tags: ['images'],
        summary: "An image's manifest (image.json): every file with path, size and SHA-256",
        params: nameParam,
        response: { 200: { $ref: 'ImageManifest#' }, ...errorResponses },
      },
    },
    async (req) => {
      const m = await need(ctx, 'images', 'the image library').manifest(req.params.name);
      if (!m) throw problems.notFound(`image ${req.params.name}`);
      return m;
    },
  );

  app.get<{ Params: { name: string; '*': string } }>(
    '/api/v1/images/:name/files/*',
    {
      schema: {
        tags: ['images'],
        summary:
          'One file of an image as stored (application/octet-stream); the path is one of its manifest files (403 for "..", 404 for a path not in the manifest)',
        params: {
          type: 'object',
          required: ['name', '*'],
          properties: {
            name: { type: 'string', pattern: NAME_PATTERN },
            '*': { type: 'string', description: 'the path inside the image, as the manifest lists it' },
          },
        },
        response: {
          200: {
            description: 'the file, exactly as stored (its size and SHA-256 are in the manifest)',
            content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
          },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const { name } = req.params;
      const path = req.params['*'];
      const f = await need(ctx, 'images', 'the image library').file(name, path);
      if (!f) throw problems.notFound(`file ${JSON.stringify(path)} of image ${name}`);
      const handle = await open(f.path, 'r');
      let size: number;
      try {
        size = (await handle.stat()).size;
      } catch (e) {
        await handle.close();
        throw e;
      }
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-length', size)
        .send(handle.createReadStream());
    },
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
      const pinned = await ctx.deps.store.hosts.pinnedTo(req.params.name);
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
