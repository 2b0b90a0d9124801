/**
 * Console hosts: the host list and one host's page, the unregistered hosts and the join form
 * (`POST /api/v1/unregistered/join`).
 */
import type { FastifyPluginCallback } from 'fastify';
import { HttpProblem } from '../problem.js';
import { unlessMissing } from './api-call.js';
import { many, one, parseAddresses, type Form } from './forms.js';
import { signedIn, type ConsoleOptions } from './render.js';

const enc = encodeURIComponent;

/** A host's last booted image from its boot history (newest first): the newest event naming one. */
function lastImage(boots: Array<{ image: string | null }>): string | null {
  return boots.find((b) => b.image)?.image ?? null;
}

/** Hosts per page of the console's host list. */
export const CONSOLE_HOST_PAGE = 100;

/**
 * Links of a console host list page: `next` when the page is full (it may have a successor; the
 * API's `after` is the last host's `lastSeen.uuid`), `first` when this is not the first page.
 */
function pager(
  path: string,
  hosts: Array<{ uuid: string; lastSeen: number }>,
  after: string,
): { next: string | null; first: string | null } {
  const last = hosts[hosts.length - 1];
  return {
    next: hosts.length === CONSOLE_HOST_PAGE && last ? `${path}?after=${enc(`${last.lastSeen}.${last.uuid}`)}` : null,
    first: after ? path : null,
  };
}

/** Registers `/hosts`, `/hosts/:uuid`, `/unregistered`, `/ui/join`, `/ui/reinstall` (a host page's admin buttons: ./admin.ts). */
export const hostPages: FastifyPluginCallback<ConsoleOptions> = (app, { api, page, fragment }, done) => {
  app.get<{ Querystring: { after?: string } }>('/unregistered', async (req, reply) => {
    const call = api(req, reply);
    const after = typeof req.query.after === 'string' ? req.query.after : '';
    const q = new URLSearchParams({ limit: String(CONSOLE_HOST_PAGE), ...(after ? { after } : {}) });
    const [hosts, clusters, images] = await Promise.all([
      call<Array<{ uuid: string; lastSeen: number }>>('GET', `/api/v1/unregistered?${q.toString()}`),
      unlessMissing(call<Array<{ errors: unknown[] }>>('GET', '/api/v1/clusters')),
      unlessMissing(call('GET', '/api/v1/images')),
    ]);
    return page(req, reply, 'unregistered', {
      title: 'Unregistered hosts',
      hosts,
      ...pager('/unregistered', hosts, after),
      clusters: clusters && clusters.filter((c) => c.errors.length === 0),
      images,
    });
  });

  app.post<{ Body: Form }>('/ui/join', signedIn, async (req, reply) => {
    const uuids = many(req.body, 'hosts');
    const hosts = uuids.map((uuid) => {
      const addresses = parseAddresses(one(req.body, `addr.${uuid}`), `addr.${uuid}`);
      return { uuid, fqdn: one(req.body, `fqdn.${uuid}`), ...(Object.keys(addresses).length ? { addresses } : {}) };
    });
    const cluster = one(req.body, 'cluster');
    const image = one(req.body, 'image');
    try {
      const r = await api(req, reply)<{ results: unknown[] }>('POST', '/api/v1/unregistered/join', {
        ...(cluster ? { cluster } : {}),
        ...(image ? { image } : {}),
        hosts,
      });
      return fragment(reply, '_join-results', { results: r.results });
    } catch (e) {
      // Name the host a field error is about, not its index in the request.
      if (e instanceof HttpProblem && e.errors) {
        const errors = e.errors.map((f) => {
          const m = /^\/body\/hosts\/(\d+)(\/.*)?$/.exec(f.path);
          const uuid = m ? uuids[Number(m[1])] : undefined;
          return uuid
            ? { ...f, message: `host ${uuid}: ${m![2] === '/fqdn' ? 'enter the FQDN vCenter will use' : f.message}` }
            : f;
        });
        throw new HttpProblem(e.status, e.title, e.message, errors, e.extra);
      }
      throw e;
    }
  });

  // One API call per page (each host carries its last image): no request per host.
  app.get<{ Querystring: { after?: string } }>('/hosts', async (req, reply) => {
    const call = api(req, reply);
    const after = typeof req.query.after === 'string' ? req.query.after : '';
    const q = new URLSearchParams({ limit: String(CONSOLE_HOST_PAGE), ...(after ? { after } : {}) });
    const hosts = await call<Array<{ uuid: string; lastSeen: number }>>('GET', `/api/v1/hosts?${q.toString()}`);
    return page(req, reply, 'hosts', { title: 'Hosts', hosts, ...pager('/hosts', hosts, after) });
  });
  app.get<{ Params: { uuid: string } }>('/hosts/:uuid', async (req, reply) => {
    const call = api(req, reply);
    const uuid = enc(req.params.uuid);
    const host = await call<{ uuid: string; hostname: string | null }>('GET', `/api/v1/hosts/${uuid}`);
    const [boots, jobs, images, install] = await Promise.all([
      call<Array<{ image: string | null }>>('GET', `/api/v1/hosts/${uuid}/boots?limit=50`),
      unlessMissing(call('GET', `/api/v1/hosts/${uuid}/jobs`)),
      unlessMissing(call('GET', '/api/v1/images')),
      unlessMissing(call('GET', `/api/v1/hosts/${uuid}/install`)),
    ]);
    return page(req, reply, 'host', {
      title: host.hostname ?? host.uuid,
      host,
      boots,
      lastImage: lastImage(boots),
      jobs,
      images,
      install,
    });
  });
  reinstallPage(app, { api, fragment });
  done();
};

/** `/ui/reinstall`: the host page's "Reinstall at next boot" (POST /api/v1/hosts/{uuid}/reinstall, admin). */
function reinstallPage(
  app: Parameters<FastifyPluginCallback<ConsoleOptions>>[0],
  { api, fragment }: Pick<ConsoleOptions, 'api' | 'fragment'>,
): void {
  app.post<{ Body: Form }>('/ui/reinstall', signedIn, async (req, reply) => {
    const uuid = one(req.body, 'uuid').toLowerCase();
    await api(req, reply)('POST', `/api/v1/hosts/${enc(uuid)}/reinstall`);
    return fragment(reply, '_notice', {
      message: `Host ${uuid} installs again at its next network boot, then boots from its local disk.`,
    });
  });
}
