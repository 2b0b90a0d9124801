/** `DELETE /api/v1/hosts/:id/thumbprint`: the admin reset of a host's recorded SSL thumbprints. */
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../context.js';
import { errorResponses } from '../schemas.js';
import { problems } from '../problem.js';
import { HostIdError, resetThumbprint } from '../../hosts/thumbprint-reset.js';
import { auditChange } from '../audit.js';

/** `DELETE /api/v1/hosts/:id/thumbprint`: the admin reset of a recorded thumbprint. */
export function thumbprintRoutes(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;

  app.delete<{ Params: { id: string } }>(
    '/api/v1/hosts/:id/thumbprint',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['hosts'],
        summary:
          "Forget the SSL thumbprints recorded for a host (hardware UUID or FQDN): the next boot's phone-home is trusted again",
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9{}_.-]+$' } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              uuid: { type: ['string', 'null'] },
              fqdn: { type: ['string', 'null'] },
              changed: { type: 'boolean' },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const list = ctx.deps.clusters ? await ctx.deps.clusters.list() : [];
      const members = (
        await Promise.all(
          list.map(async (c) => (await ctx.deps.clusters!.get(c.name).catch(() => undefined))?.hosts ?? []),
        )
      ).flat();
      let r;
      try {
        r = await resetThumbprint(store, req.params.id, {
          fqdnOf: (u) => members.find((m) => m.uuid.toLowerCase() === u)?.fqdn,
          uuidOf: (f) => members.find((m) => m.fqdn.toLowerCase() === f)?.uuid.toLowerCase(),
        });
      } catch (e) {
        if (!(e instanceof HostIdError)) throw e;
        throw problems.invalid(e.message, [{ path: '/params/id', message: e.message }]);
      }
      await auditChange(
        store.audit,
        req,
        'host.thumbprint.reset',
        r.uuid ?? r.fqdn ?? req.params.id,
        null,
        r,
        ctx.now(),
      );
      return { uuid: r.uuid ?? null, fqdn: r.fqdn ?? null, changed: r.changed };
    },
  );
}
