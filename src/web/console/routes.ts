/**
 * The console: server-rendered pages (eta templates in src/web/views) and the small HTML fragment
 * routes under `/ui/` that htmx calls. Fragment routes call the same functions as the REST API
 * (src/web/services.ts) and answer HTML; errors render as an alert fragment with the problem's
 * status and field errors.
 */
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebContext } from '../context.js';
import { need } from '../context.js';
import { HttpProblem, problemErrorHandler, problems, reasonPhrase, type FieldError } from '../problem.js';
import { csrfTokenOf, login, loginRateLimit, logout, setupFirstAdmin } from '../auth/plugin.js';
import { setupTokenValid } from '../auth/tokens.js';
import { applyCluster, joinHosts, saveClusterXml, setPin, startImport, type JoinRequest } from '../services.js';
import { FQDN_PATTERN, IPV4_PATTERN } from '../schemas.js';
import type { ImportTracker } from '../imports.js';
import type { PlanStep } from '../deps.js';
import type { HostState } from '../../store/hosts.js';

export const VIEWS_DIR = fileURLToPath(new URL('../../../src/web/views/', import.meta.url));

/** Date and value formatting shared by the templates. */
const fmt = {
  time: (ms: number | null | undefined) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '—'),
  json: (v: unknown) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v)),
};

type Form = Record<string, string | string[] | undefined>;
function one(f: Form, k: string): string {
  const v = f[k];
  return (Array.isArray(v) ? v[0] ?? '' : v ?? '').trim();
}
function many(f: Form, k: string): string[] {
  const v = f[k];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/**
 * Parses `vmk1=10.0.1.11, vmk2=10.0.2.11` into a device → address map.
 * @throws HttpProblem 400 naming the form field and the bad entry
 */
export function parseAddresses(text: string, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  const ip = new RegExp(IPV4_PATTERN);
  for (const part of text.split(/[\s,;]+/).filter(Boolean)) {
    const m = /^(vmk\d{1,2})=(.+)$/.exec(part);
    if (!m || !ip.test(m[2]!)) {
      throw new HttpProblem(400, 'Bad Request', `addresses: "${part}" is not vmkN=a.b.c.d`, [{ path: `/body/${field}`, message: `"${part}" is not vmkN=a.b.c.d` }]);
    }
    out[m[1]!] = m[2]!;
  }
  return out;
}

export async function consoleRoutes(parent: FastifyInstance, ctx: WebContext, tracker: ImportTracker): Promise<void> {
  const eta = new Eta({ views: VIEWS_DIR, cache: true, autoEscape: true });
  const { store } = ctx.deps;

  await parent.register(async (app) => {
    // The console's pages and /ui/ fragments are private to the console (HTML, form bodies): the
    // OpenAPI document at /api/docs describes /api/v1 only.
    app.addHook('onRoute', (route) => {
      route.schema = { ...(route.schema ?? {}), hide: true };
    });
    const page = (req: FastifyRequest, reply: FastifyReply, view: string, data: Record<string, unknown>) => {
      reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'");
      reply.header('x-content-type-options', 'nosniff');
      return reply.type('text/html; charset=utf-8').send(eta.render(view, { ...data, user: req.user, csrf: csrfTokenOf(ctx, req, reply), fmt, path: req.url }));
    };
    const fragment = (reply: FastifyReply, view: string, data: Record<string, unknown>) =>
      reply.type('text/html; charset=utf-8').send(eta.render(view, { ...data, fmt }));

    app.setErrorHandler((err: FastifyError, req, reply) => {
      if (err instanceof HttpProblem && err.status === 429 && req.method === 'POST' && req.url.split('?')[0] === '/login') {
        // A browser posting the login form gets the form back with the reason, not a JSON document.
        if (err.extra?.['retryAfter']) reply.header('retry-after', String(err.extra['retryAfter']));
        return page(req, reply.code(429), 'login', { title: 'Log in', next: '/', error: err.message, setupRequired: false });
      }
      if (!req.url.startsWith('/ui/')) return problemErrorHandler(err, req, reply);
      const p = err instanceof HttpProblem ? err : undefined;
      const status = p?.status ?? (err.validation ? 400 : err.statusCode && err.statusCode < 500 ? err.statusCode : 500);
      if (status === 500) req.log.error({ err }, 'console action failed');
      const errors: FieldError[] = p?.errors ?? [];
      return reply.code(status).type('text/html; charset=utf-8')
        .send(eta.render('_error', { status, title: p?.title ?? reasonPhrase(status), detail: status === 500 ? `internal error (request ${req.id})` : err.message, errors }));
    });

    // ---- login, logout, first admin (one attempt budget with the API's session and setup) ----
    const limited = loginRateLimit(app, ctx);
    app.get<{ Querystring: { next?: string } }>('/login', { config: { auth: 'public' } }, async (req, reply) =>
      page(req, reply, 'login', { title: 'Log in', next: safeNext(req.query.next), error: null, setupRequired: store.users.count() === 0 }));
    app.post<{ Body: Form }>('/login', { config: { auth: 'public' }, onRequest: limited }, async (req, reply) => {
      const next = safeNext(one(req.body, 'next'));
      try {
        await login(ctx, req, reply, one(req.body, 'username'), one(req.body, 'password'));
      } catch (e) {
        if (e instanceof HttpProblem && e.status === 401) return page(req, reply.code(401), 'login', { title: 'Log in', next, error: e.message, setupRequired: false });
        throw e;
      }
      return reply.redirect(next, 303);
    });
    app.post('/logout', { config: { auth: 'viewer' } }, async (req, reply) => {
      logout(ctx, req, reply);
      return reply.redirect('/login', 303);
    });
    app.get<{ Querystring: { token?: string } }>('/setup', { config: { auth: 'public' } }, async (req, reply) => {
      const valid = setupTokenValid(store.settings, req.query.token);
      return page(req, reply.code(valid ? 200 : 403), 'setup', { title: 'Create the first admin', token: req.query.token ?? '', valid, errors: [] });
    });
    app.post<{ Body: Form }>('/setup', { config: { auth: 'public' }, onRequest: limited }, async (req, reply) => {
      const token = one(req.body, 'token');
      try {
        await setupFirstAdmin(ctx, req, reply, { token, username: one(req.body, 'username'), password: one(req.body, 'password') });
      } catch (e) {
        if (e instanceof HttpProblem && e.status < 500) {
          return page(req, reply.code(e.status), 'setup', { title: 'Create the first admin', token, valid: e.status !== 403, errors: e.errors ?? [{ path: '', message: e.message }] });
        }
        throw e;
      }
      return reply.redirect('/', 303);
    });

    // ---- pages ----
    app.get('/', async (req, reply) => {
      const hosts = store.hosts.list();
      const counts: Record<HostState, number> = { unregistered: 0, registered: 0, configuring: 0, configured: 0, failed: 0 };
      for (const h of hosts) counts[h.state]++;
      const jobs = ctx.deps.jobs;
      return page(req, reply, 'dashboard', {
        title: 'Dashboard', counts, total: hosts.length, boots: store.hosts.bootEvents({ limit: 10 }),
        running: jobs ? [...jobs.list({ state: 'running', limit: 20 }), ...jobs.list({ state: 'queued', limit: 20 })] : null,
        failed: jobs ? jobs.list({ state: 'failed', limit: 10 }) : null,
      });
    });

    app.get('/unregistered', async (req, reply) => {
      const clusters = ctx.deps.clusters ? (await ctx.deps.clusters.list()).filter((c) => c.errors.length === 0) : null;
      const images = ctx.deps.images ? await ctx.deps.images.list() : null;
      return page(req, reply, 'unregistered', { title: 'Unregistered hosts', hosts: store.hosts.list('unregistered'), clusters, images });
    });

    app.post<{ Body: Form }>('/ui/join', { config: { auth: 'operator' } }, async (req, reply) => {
      const cluster = one(req.body, 'cluster');
      const uuids = many(req.body, 'hosts');
      const errors: FieldError[] = [];
      if (!cluster) errors.push({ path: '/body/cluster', message: 'choose a cluster' });
      if (uuids.length === 0) errors.push({ path: '/body/hosts', message: 'select at least one host' });
      const reqs: JoinRequest[] = [];
      for (const uuid of uuids) {
        const fqdn = one(req.body, `fqdn.${uuid}`);
        if (!new RegExp(FQDN_PATTERN).test(fqdn)) errors.push({ path: `/body/fqdn.${uuid}`, message: `host ${uuid}: enter the FQDN vCenter will use` });
        reqs.push({ uuid, fqdn, addresses: parseAddresses(one(req.body, `addr.${uuid}`), `addr.${uuid}`) });
      }
      if (errors.length) throw new HttpProblem(400, 'Bad Request', 'the join form is incomplete', errors);
      const image = one(req.body, 'image');
      const results = await joinHosts(ctx, req, cluster, reqs, image || undefined);
      return fragment(reply, '_join-results', { results });
    });

    app.get('/hosts', async (req, reply) => page(req, reply, 'hosts', { title: 'Hosts', hosts: store.hosts.list() }));
    app.get<{ Params: { uuid: string } }>('/hosts/:uuid', async (req, reply) => {
      const host = store.hosts.get(req.params.uuid.toLowerCase());
      if (!host) throw problems.notFound(`host ${req.params.uuid}`);
      return page(req, reply, 'host', {
        title: host.hostname ?? host.uuid, host, boots: store.hosts.bootEvents({ uuid: host.uuid, limit: 50 }),
        jobs: ctx.deps.jobs ? ctx.deps.jobs.list({ target: host.uuid, limit: 50 }) : null,
        images: ctx.deps.images ? await ctx.deps.images.list() : null,
      });
    });

    app.get('/clusters', async (req, reply) => page(req, reply, 'clusters', { title: 'Clusters', clusters: ctx.deps.clusters ? await ctx.deps.clusters.list() : null }));
    app.get<{ Params: { name: string } }>('/clusters/:name', async (req, reply) => {
      const clusters = need(ctx, 'clusters', 'cluster files');
      const xml = await clusters.readXml(req.params.name);
      if (xml === undefined) throw problems.notFound(`cluster ${req.params.name}`);
      const issues = await clusters.validateXml(req.params.name, xml);
      return page(req, reply, 'cluster', { title: `Cluster ${req.params.name}`, name: req.params.name, xml, issues });
    });
    app.post<{ Params: { name: string }; Body: Form }>('/ui/clusters/:name/validate', { config: { auth: 'viewer' } }, async (req, reply) => {
      const issues = await need(ctx, 'clusters', 'cluster files').validateXml(req.params.name, one(req.body, 'xml'));
      return fragment(reply, '_issues', { issues, saved: false });
    });
    app.post<{ Params: { name: string }; Body: Form }>('/ui/clusters/:name/save', { config: { auth: 'admin' } }, async (req, reply) => {
      const issues = await saveClusterXml(ctx, req, req.params.name, String(req.body['xml'] ?? ''));
      return fragment(reply.code(issues.length ? 422 : 200), '_issues', { issues, saved: issues.length === 0 });
    });
    app.get<{ Params: { name: string } }>('/ui/clusters/:name/plan', async (req, reply) =>
      fragment(reply, '_plan', { steps: await need(ctx, 'engine', 'the cluster engine').plan(req.params.name) as PlanStep[], what: 'plan' }));
    app.get<{ Params: { name: string } }>('/ui/clusters/:name/drift', async (req, reply) => {
      const r = await need(ctx, 'engine', 'the cluster engine').drift(req.params.name);
      return fragment(reply, '_plan', { steps: r.driftSteps, missingHosts: r.missingHosts, what: 'drift' });
    });
    app.post<{ Params: { name: string } }>('/ui/clusters/:name/apply', { config: { auth: 'operator' } }, async (req, reply) =>
      fragment(reply, '_job-queued', { job: await applyCluster(ctx, req, req.params.name) }));

    app.get('/images', async (req, reply) => page(req, reply, 'images', {
      title: 'Images', images: ctx.deps.images ? await ctx.deps.images.list() : null, imports: tracker.list(),
      pins: store.hosts.list().filter((h) => h.imagePin),
    }));
    app.post<{ Body: Form }>('/ui/images/import', { config: { auth: 'admin' } }, async (req, reply) => {
      const source = one(req.body, 'source');
      if (!source) throw new HttpProblem(400, 'Bad Request', 'enter the path of an ISO or directory on the server', [{ path: '/body/source', message: 'required' }]);
      const name = one(req.body, 'name');
      const s = startImport(ctx, req, tracker, source, name || undefined);
      return fragment(reply, '_import', { s });
    });
    app.get<{ Params: { id: string } }>('/ui/images/imports/:id', async (req, reply) => {
      const s = tracker.get(req.params.id);
      if (!s) throw problems.notFound(`import ${req.params.id}`);
      return fragment(reply, '_import', { s });
    });
    app.post<{ Body: Form }>('/ui/pins', { config: { auth: 'operator' } }, async (req, reply) => {
      const uuid = one(req.body, 'uuid').toLowerCase();
      if (!/^[0-9a-f-]{36}$/.test(uuid)) throw new HttpProblem(400, 'Bad Request', 'not a host UUID', [{ path: '/body/uuid', message: 'expected a UUID' }]);
      const image = one(req.body, 'image');
      await setPin(ctx, req, uuid, image || null);
      return fragment(reply, '_notice', { message: image ? `Host ${uuid} will boot ${image} next time.` : `Host ${uuid} is unpinned.` });
    });

    app.get('/jobs', async (req, reply) => page(req, reply, 'jobs', { title: 'Jobs', jobs: ctx.deps.jobs ? ctx.deps.jobs.list({ limit: 200 }) : null }));
    app.get<{ Params: { id: string } }>('/jobs/:id', async (req, reply) => {
      const jobs = need(ctx, 'jobs', 'the jobs store');
      const job = jobs.get(req.params.id);
      if (!job) throw problems.notFound(`job ${req.params.id}`);
      return page(req, reply, 'job', { title: `Job ${job.id}`, job, steps: jobs.steps(job.id), log: jobs.log(job.id, 0) });
    });

    app.get('/users', { config: { auth: 'admin' } }, async (req, reply) => page(req, reply, 'users', { title: 'Users', users: store.users.list() }));
    app.get('/audit', async (req, reply) => page(req, reply, 'audit', { title: 'Audit log', entries: store.audit.list(200) }));
  });
}

/** Only same-site relative paths are followed after login (no open redirect). */
function safeNext(next: string | undefined): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}
