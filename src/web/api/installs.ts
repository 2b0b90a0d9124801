/**
 * Boot-once for stateful installs (src/hosts/reinstall.ts): `GET /api/v1/hosts/{uuid}/install`
 * (what the host's next network boot gets) and `POST /api/v1/hosts/{uuid}/reinstall` (admin,
 * audited as `host.reinstall`): the next boot installs again.
 */
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../context.js';
import { UUID_PATTERN, errorResponses } from '../schemas.js';
import { problems } from '../problem.js';
import { auditChange } from '../audit.js';
import {
  NotStatefulError,
  installMembership,
  installState,
  requestReinstall,
  type InstallMembership,
} from '../../hosts/reinstall.js';
import type { DesiredCluster } from '../../clusters/types.js';

const uuidParams = {
  type: 'object',
  required: ['uuid'],
  properties: { uuid: { type: 'string', pattern: UUID_PATTERN } },
} as const;

const nullable = (type: string, description: string) => ({ type: [type, 'null'], description });

/** JSON Schema of {@link InstallState}. */
const installStateSchema = {
  type: 'object',
  required: ['uuid', 'cluster', 'stateful', 'installedAt', 'nextBoot'],
  properties: {
    uuid: { type: 'string' },
    cluster: nullable('string', 'the cluster file that lists the host; null: none'),
    stateful: { type: 'boolean', description: 'the member installs ESXi to disk (bootMode stateful)' },
    installedAt: nullable(
      'integer',
      "epoch ms the install's %firstboot phone-home reported it done; null: install due",
    ),
    installedFrom: nullable('string', 'source address of that phone-home'),
    reinstallRequestedAt: nullable('integer', 'epoch ms an admin last asked for a reinstall'),
    reinstallRequestedBy: nullable('string', 'who asked'),
    nextBoot: {
      type: ['string', 'null'],
      enum: ['install', 'local-boot', null],
      description:
        'the next network boot: install (installer + kickstart), local-boot (boot from local disk), null (stateless: boot-once does not apply)',
    },
  },
} as const;

/** Registers the install routes. */
export function installRoutes(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;
  const membership = async (uuid: string): Promise<InstallMembership | undefined> => {
    const list = ctx.deps.clusters ? await ctx.deps.clusters.list() : [];
    const files = await Promise.all(list.map((c) => ctx.deps.clusters!.get(c.name).catch(() => undefined)));
    return installMembership(
      files.filter((c): c is DesiredCluster => c !== undefined),
      uuid,
    );
  };

  app.get<{ Params: { uuid: string } }>(
    '/api/v1/hosts/:uuid/install',
    {
      schema: {
        tags: ['hosts'],
        summary: "A host's stateful install (boot-once): installed when, and what its next network boot gets",
        params: uuidParams,
        response: { 200: installStateSchema, ...errorResponses },
      },
    },
    async (req) => installState(store.hostInstalls, req.params.uuid, await membership(req.params.uuid)),
  );

  app.post<{ Params: { uuid: string } }>(
    '/api/v1/hosts/:uuid/reinstall',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['hosts'],
        summary:
          "Reinstall a stateful member: its next network boot gets the installer and kickstart again (then, after that install's phone-home, local disk again)",
        params: uuidParams,
        response: { 200: installStateSchema, ...errorResponses },
      },
    },
    async (req) => {
      const member = await membership(req.params.uuid);
      let r;
      try {
        r = await requestReinstall(store.hostInstalls, req.params.uuid, member, {
          at: ctx.now(),
          actor: req.user?.username ?? 'anonymous',
        });
      } catch (e) {
        if (e instanceof NotStatefulError) throw problems.conflict(e.message);
        throw e;
      }
      await auditChange(store.audit, req, 'host.reinstall', r.after.uuid, r.before, r.after, ctx.now());
      req.log.info({ host: r.after.uuid, cluster: r.after.cluster }, 'reinstall requested: the next boot installs');
      return r.after;
    },
  );
}
