/**
 * Hosts: `/api/v1/hosts` (registered and unregistered, evidence, boot history, jobs),
 * `/api/v1/unregistered` and its joins, `/api/v1/boot-assignments` (image pins).
 */
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../context.js';
import { need } from '../context.js';
import { FQDN_PATTERN, IPV4_PATTERN, NAME_PATTERN, UUID_PATTERN, errorResponses } from '../schemas.js';
import { problems } from '../problem.js';
import { joinHost, joinHosts, phonedHomeFqdn, setPin, type JoinRequest } from '../services.js';
import { hostBootHistory } from '../../hosts/boot-history.js';
import { thumbprintRoutes } from './thumbprints.js';
import { installRoutes } from './installs.js';
import { phonedHomeThisBoot, seenByPxeOnly } from '../../engine/lifecycle.js';
import { swapUuidByteOrder } from '../../hosts/identity.js';
import type { HostState } from '../../store/index.js';
import {
  HOST_PAGE_DEFAULT,
  HOST_PAGE_MAX,
  HOST_STATES,
  linkNext,
  pageOfHosts,
  pageQuery,
  parseAfter,
} from './host-pages.js';
export { HOST_PAGE_DEFAULT, HOST_PAGE_MAX } from './host-pages.js';

const uuidParams = {
  type: 'object',
  required: ['uuid'],
  properties: { uuid: { type: 'string', pattern: UUID_PATTERN } },
} as const;
const addresses = {
  type: 'object',
  description: 'static VMkernel addresses by device, e.g. {"vmk1": "10.0.1.11"}',
  propertyNames: { pattern: '^vmk[0-9]{1,2}$' },
  additionalProperties: { type: 'string', pattern: IPV4_PATTERN },
} as const;
const joinResult = {
  type: 'object',
  properties: {
    uuid: { type: 'string' },
    ok: { type: 'boolean' },
    cluster: { type: 'string' },
    fqdn: {
      type: 'string',
      description:
        'when the request gave none: the FQDN written into the cluster file, the one the host phoned home with',
    },
    job: { $ref: 'JobRef#' },
    error: { type: 'string' },
    errors: { $ref: 'Problem#/properties/errors' },
    waitsForPhoneHome: {
      type: 'boolean',
      description:
        'true when the host was only seen by PXE on its current boot: the job adds it to vCenter after ESXi phones home',
    },
  },
} as const;

/** A join's `fqdn`: optional, the host's phoned-home FQDN by default. */
const fqdnIn = {
  type: 'string',
  pattern: FQDN_PATTERN,
  description:
    'the name vCenter adds the host as (HostConnectSpec.hostName); default: the fully qualified name the host phoned home with (`fqdn` in the unregistered list), 422 when it sent none',
} as const;

/** Every route of this module (registered by src/web/app.ts), by resource. */
export function hostRoutes(app: FastifyInstance, ctx: WebContext): void {
  hostListRoutes(app, ctx);
  hostHistoryRoutes(app, ctx);
  unregisteredRoutes(app, ctx);
  joinRoutes(app, ctx);
  thumbprintRoutes(app, ctx);
  installRoutes(app, ctx);
  bootAssignmentRoutes(app, ctx);
}

/** `/api/v1/hosts` (paged), the counts by state, and one host. */
function hostListRoutes(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;

  app.get<{ Querystring: { state?: HostState; limit: number; after?: string } }>(
    '/api/v1/hosts',
    {
      schema: {
        tags: ['hosts'],
        summary: 'Hosts, newest sighting first, a page at a time',
        description: `At most \`limit\` hosts (default ${HOST_PAGE_DEFAULT}, at most ${HOST_PAGE_MAX}), each with \`lastImage\`. The next page: \`after\` = the last host's \`lastSeen\` and \`uuid\` as \`<lastSeen>.<uuid>\`; when there is one, the \`Link\` header names it (\`rel="next"\`, RFC 8288).`,
        querystring: {
          type: 'object',
          properties: {
            state: { type: 'string', enum: ['unregistered', 'registered', 'configuring', 'configured', 'failed'] },
            ...pageQuery.properties,
          },
        },
        response: { 200: pageOfHosts('/api/v1/hosts'), ...errorResponses },
      },
    },
    async (req, reply) => {
      const { state, limit } = req.query;
      const page = await store.hosts.page({ limit, state, after: parseAfter(req.query.after) });
      linkNext(reply, '/api/v1/hosts', { ...(state ? { state } : {}), limit: String(limit) }, page);
      const images = await store.hosts.lastImages(page.hosts);
      return page.hosts.map((h) => ({ ...h, lastImage: images.get(h.uuid) ?? null }));
    },
  );

  app.get(
    '/api/v1/hosts/counts',
    {
      schema: {
        tags: ['hosts'],
        summary: 'Number of hosts in each state, and in all',
        response: {
          200: {
            type: 'object',
            required: ['total', ...HOST_STATES],
            properties: Object.fromEntries(['total', ...HOST_STATES].map((k) => [k, { type: 'integer' }])),
          },
          ...errorResponses,
        },
      },
    },
    async () => {
      const by = await store.hosts.countByState();
      const counts = Object.fromEntries(HOST_STATES.map((k) => [k, by[k] ?? 0])) as Record<HostState, number>;
      return { ...counts, total: HOST_STATES.reduce((n, k) => n + counts[k], 0) };
    },
  );

  app.get<{ Params: { uuid: string } }>(
    '/api/v1/hosts/:uuid',
    {
      schema: {
        tags: ['hosts'],
        summary: 'One host with its evidence',
        params: uuidParams,
        response: { 200: { $ref: 'Host#' }, ...errorResponses },
      },
    },
    async (req) => {
      const host = await store.hosts.get(req.params.uuid.toLowerCase());
      if (!host) throw problems.notFound(`host ${req.params.uuid}`);
      return host;
    },
  );
}

/** A host's boot history (hosts/boot-history), all boots, and a host's jobs. */
function hostHistoryRoutes(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;

  app.get<{ Params: { uuid: string }; Querystring: { limit: number } }>(
    '/api/v1/hosts/:uuid/boots',
    {
      schema: {
        tags: ['hosts'],
        summary: 'Boot history (what the host was served), newest first',
        params: uuidParams,
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        },
        response: { 200: { type: 'array', items: { $ref: 'BootEvent#' } }, ...errorResponses },
      },
    },
    async (req) => {
      const uuid = req.params.uuid.toLowerCase();
      const host = await store.hosts.get(uuid);
      if (!host) throw problems.notFound(`host ${uuid}`);
      return hostBootHistory(store.hosts, host, req.query.limit);
    },
  );

  app.get<{ Querystring: { limit: number } }>(
    '/api/v1/boots',
    {
      schema: {
        tags: ['hosts'],
        summary: 'Recent boots of every host (including requests known by MAC only), newest first',
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        },
        response: { 200: { type: 'array', items: { $ref: 'BootEvent#' } }, ...errorResponses },
      },
    },
    (req) => store.hosts.bootEvents({ limit: req.query.limit }),
  );

  app.get<{ Params: { uuid: string } }>(
    '/api/v1/hosts/:uuid/jobs',
    {
      schema: {
        tags: ['hosts'],
        summary: 'Current and past jobs of a host',
        params: uuidParams,
        response: { 200: { type: 'array', items: { $ref: 'Job#' } }, ...errorResponses },
      },
    },
    async (req) => {
      const uuid = req.params.uuid.toLowerCase();
      const jobs = need(ctx, 'jobs', 'the jobs store');
      if (!(await store.hosts.get(uuid))) throw problems.notFound(`host ${uuid}`);
      return jobs.list({ target: uuid, limit: 100 });
    },
  );
}

/** `/api/v1/unregistered` (paged): hosts seen but in no cluster file. */
function unregisteredRoutes(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;

  app.get<{ Querystring: { limit: number; after?: string } }>(
    '/api/v1/unregistered',
    {
      schema: {
        tags: ['hosts'],
        summary: 'Hosts that phoned home but match no cluster, with their evidence, a page at a time',
        description: `Newest sighting first, at most \`limit\` (default ${HOST_PAGE_DEFAULT}, at most ${HOST_PAGE_MAX}); the next page as for \`GET /api/v1/hosts\` (\`after\`, \`Link\`).`,
        querystring: pageQuery,
        response: { 200: pageOfHosts('/api/v1/unregistered'), ...errorResponses },
      },
    },
    async (req, reply) => {
      const page = await store.hosts.page({
        limit: req.query.limit,
        state: 'unregistered',
        after: parseAfter(req.query.after),
      });
      linkNext(reply, '/api/v1/unregistered', { limit: String(req.query.limit) }, page);
      const boots = await store.hostBoots.getMany(
        page.hosts.map((h) => ({ uuid: h.uuid, otherByteOrder: swapUuidByteOrder(h.uuid) })),
      );
      return page.hosts.map((h) => {
        const boot = boots.get(h.uuid);
        const currentBoot = phonedHomeThisBoot(boot) ? 'phoned-home' : seenByPxeOnly(boot) ? 'pxe-only' : undefined;
        return { ...h, fqdn: phonedHomeFqdn(h.hostname), ...(currentBoot ? { currentBoot } : {}) };
      });
    },
  );
}

/** `/api/v1/unregistered/:uuid/join` and `/api/v1/unregistered/join`: joins into a cluster file. */
function joinRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.post<{
    Params: { uuid: string };
    Body: { cluster: string; fqdn?: string; image?: string; addresses?: Record<string, string> };
  }>(
    '/api/v1/unregistered/:uuid/join',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['hosts'],
        summary: 'Write the host into a cluster file and queue its configure job',
        params: uuidParams,
        body: {
          type: 'object',
          required: ['cluster'],
          additionalProperties: false,
          properties: {
            cluster: { type: 'string', pattern: NAME_PATTERN },
            fqdn: { ...fqdnIn },
            image: { type: 'string', pattern: NAME_PATTERN },
            addresses,
          },
        },
        response: { 202: joinResult, ...errorResponses },
      },
    },
    async (req, reply) => {
      const { cluster, ...rest } = req.body;
      const r = await joinHost(ctx, req, cluster, { uuid: req.params.uuid, ...rest });
      return reply.code(202).send(r);
    },
  );

  app.post<{ Body: { cluster: string; image?: string; hosts: JoinRequest[] } }>(
    '/api/v1/unregistered/join',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['hosts'],
        summary: 'Join several unregistered hosts to one cluster; one result per host',
        body: {
          type: 'object',
          required: ['cluster', 'hosts'],
          additionalProperties: false,
          properties: {
            cluster: { type: 'string', pattern: NAME_PATTERN },
            image: { type: 'string', pattern: NAME_PATTERN },
            hosts: {
              type: 'array',
              minItems: 1,
              maxItems: 256,
              items: {
                type: 'object',
                required: ['uuid'],
                additionalProperties: false,
                properties: {
                  uuid: { type: 'string', pattern: UUID_PATTERN },
                  fqdn: { ...fqdnIn },
                  image: { type: 'string', pattern: NAME_PATTERN },
                  addresses,
                },
              },
            },
          },
        },
        response: {
          202: { type: 'object', properties: { results: { type: 'array', items: joinResult } } },
          ...errorResponses,
        },
      },
    },
    async (req, reply) =>
      reply.code(202).send({ results: await joinHosts(ctx, req, req.body.cluster, req.body.hosts, req.body.image) }),
  );
}

/** `/api/v1/boot-assignments`: image pins. */
function bootAssignmentRoutes(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;

  app.get(
    '/api/v1/boot-assignments',
    {
      schema: {
        tags: ['boot assignments'],
        summary: 'Hosts with an image pin',
        response: {
          200: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                uuid: { type: 'string' },
                hostname: { type: ['string', 'null'] },
                image: { type: 'string' },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async () =>
      (await store.hosts.list())
        .filter((h) => h.imagePin)
        .map((h) => ({ uuid: h.uuid, hostname: h.hostname, image: h.imagePin })),
  );

  app.put<{ Params: { uuid: string }; Body: { image: string | null } }>(
    '/api/v1/boot-assignments/:uuid',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['boot assignments'],
        summary: 'Pin the image a host boots (null clears); takes effect on its next boot',
        params: uuidParams,
        body: {
          type: 'object',
          required: ['image'],
          additionalProperties: false,
          properties: { image: { anyOf: [{ type: 'string', pattern: NAME_PATTERN }, { type: 'null' }] } },
        },
        response: {
          200: { type: 'object', properties: { uuid: { type: 'string' }, image: { type: ['string', 'null'] } } },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      await setPin(ctx, req, req.params.uuid, req.body.image);
      return { uuid: req.params.uuid.toLowerCase(), image: req.body.image };
    },
  );

  app.delete<{ Params: { uuid: string } }>(
    '/api/v1/boot-assignments/:uuid',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['boot assignments'],
        summary: "Clear a host's image pin",
        params: uuidParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      await setPin(ctx, req, req.params.uuid, null);
      return reply.code(204).send();
    },
  );
}
