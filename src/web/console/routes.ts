/**
 * The console: server-rendered pages (eta templates in src/web/views) and the small HTML fragment
 * routes under `/ui/` that htmx calls. It uses only the public REST API: every read and every
 * action is an in-process request to `/api/v1` (`app.inject`) carrying the caller's own session
 * cookie, CSRF token and client address — so the API's authentication, roles, CSRF check,
 * validation, audit and problem details apply unchanged — and the JSON answer is rendered with
 * the templates. Console routes only translate forms to JSON and JSON to HTML; an API problem
 * (RFC 9457) is rendered as an HTML page or alert fragment with its title, detail and field errors.
 *
 * GET pages make only GET calls; a state-changing call carries the token the caller presented
 * (header `x-csrf-token` or form field `_csrf`), never one the console made up.
 */
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, InjectOptions } from 'fastify';
import { HttpProblem, reasonPhrase, type FieldError } from '../problem.js';
import { IPV4_PATTERN } from '../schemas.js';

export const VIEWS_DIR = fileURLToPath(new URL('../../../src/web/views/', import.meta.url));

/** Date and value formatting shared by the templates. */
const fmt = {
  time: (ms: number | null | undefined) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '—'),
  json: (v: unknown) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v)),
};

type Form = Record<string, string | string[] | undefined>;
function one(f: Form | undefined, k: string): string {
  const v = f?.[k];
  return (Array.isArray(v) ? (v[0] ?? '') : (v ?? '')).trim();
}
function many(f: Form | undefined, k: string): string[] {
  const v = f?.[k];
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
      throw new HttpProblem(400, 'Bad Request', `addresses: "${part}" is not vmkN=a.b.c.d`, [
        { path: `/body/${field}`, message: `"${part}" is not vmkN=a.b.c.d` },
      ]);
    }
    out[m[1]!] = m[2]!;
  }
  return out;
}

/** The session as `GET /api/v1/session` answers it. */
interface SessionView {
  authenticated: boolean;
  user?: { id: number; username: string; role: string };
  csrfToken: string;
  setupRequired?: boolean;
}

/** A cluster-file issue (ClusterIssue, or a 422 problem's field error): message, element path, 1-based line/column. */
interface Issue {
  message: string;
  path?: string;
  line?: number;
  column?: number;
}

/** One line of the cluster editor's overlay: its text and the messages of the issues on it. */
interface EditorLine {
  n: number;
  text: string;
  messages: string[];
}

/**
 * The lines of a cluster file with the issues that name a line attached (an issue past the end is
 * shown on the last line). Issues without a line are listed only, not marked.
 */
export function editorLines(xml: string, issues: Issue[]): EditorLine[] {
  const lines = xml.split(/\r?\n/).map((text, i) => ({ n: i + 1, text, messages: [] as string[] }));
  for (const i of issues) {
    if (!i.line || i.line < 1) continue;
    lines[Math.min(i.line, lines.length) - 1]!.messages.push(
      i.column ? `${i.line}:${i.column} ${i.message}` : i.message,
    );
  }
  return lines;
}

/** A host's last booted image from its boot history (newest first): the newest event naming one. */
function lastImage(boots: Array<{ image: string | null }>): string | null {
  return boots.find((b) => b.image)?.image ?? null;
}

/**
 * The one way the console reaches the server: a request to the public API in the same process.
 * Returns the parsed JSON (text for other types, undefined for 204).
 * @throws HttpProblem carrying the API's problem (status, title, detail, errors, extension members)
 */
export type ApiCall = <T = unknown>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  body?: unknown,
) => Promise<T>;

/**
 * Makes the {@link ApiCall} of one console request: the caller's cookies (kept up to date with
 * what earlier calls set, and every Set-Cookie forwarded to the caller), the caller's client
 * address (the login rate limit counts per address), and for state-changing calls the CSRF token
 * the caller presented.
 */
export function apiFor(app: FastifyInstance, req: FastifyRequest, reply: FastifyReply): ApiCall {
  const jar: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.cookies ?? {})) if (typeof v === 'string') jar[k] = v;
  const header = req.headers['x-csrf-token'];
  const presented = typeof header === 'string' ? header : one(req.body as Form | undefined, '_csrf');
  return async <T>(method: string, url: string, body?: unknown): Promise<T> => {
    const opts: InjectOptions = {
      method: method,
      url,
      cookies: { ...jar },
      remoteAddress: req.ip,
      headers: {
        accept: 'application/json',
        ...(method !== 'GET' && presented ? { 'x-csrf-token': presented } : {}),
        ...(req.headers['user-agent'] ? { 'user-agent': req.headers['user-agent'] } : {}),
      },
      ...(body !== undefined ? { payload: body as string } : {}),
    };
    const res = await app.inject(opts);
    const set = res.headers['set-cookie'];
    if (set) {
      reply.header('set-cookie', Array.isArray(set) ? set : [set]);
      for (const c of res.cookies as Array<{ name: string; value: string; maxAge?: number; expires?: Date }>) {
        if (c.value === '' || c.maxAge === 0 || (c.expires && c.expires.getTime() < Date.now())) delete jar[c.name];
        else jar[c.name] = c.value;
      }
    }
    const type = String(res.headers['content-type'] ?? '');
    if (res.statusCode >= 400) {
      const p = /json/.test(type) ? (res.json() as Record<string, unknown>) : {};
      const { type: _t, title, status: _s, detail, instance: _i, errors, ...extra } = p;
      throw new HttpProblem(
        res.statusCode,
        typeof title === 'string' ? title : reasonPhrase(res.statusCode),
        typeof detail === 'string' ? detail : res.body.slice(0, 500),
        Array.isArray(errors) ? (errors as FieldError[]) : undefined,
        Object.keys(extra).length ? extra : undefined,
      );
    }
    if (res.statusCode === 204 || res.body === '') return undefined as T;
    return (/json/.test(type) ? res.json() : res.body) as T;
  };
}

/** The value of `call`, or null when the API says that part is not available on this server (503). */
async function unlessMissing<T>(call: Promise<T>): Promise<T | null> {
  try {
    return await call;
  } catch (e) {
    if (e instanceof HttpProblem && e.status === 503) return null;
    throw e;
  }
}

const enc = encodeURIComponent;
/** Route options of a console action: a session is enough here, the API decides what the role may do. */
const signedIn = { config: { auth: 'viewer' as const } };

/**
 * Registers the console pages and `/ui/` fragments on `parent` (the authenticated scope). Console
 * routes ask only for a session (`viewer`); what a user may do is the API's answer.
 */
export async function consoleRoutes(parent: FastifyInstance): Promise<void> {
  const eta = new Eta({ views: VIEWS_DIR, cache: true, autoEscape: true });

  await parent.register(async (app) => {
    // The console's pages and /ui/ fragments are private to the console (HTML, form bodies): the
    // OpenAPI document at /api/docs describes /api/v1 only.
    app.addHook('onRoute', (route) => {
      route.schema = { ...(route.schema ?? {}), hide: true };
    });
    const apiOf = new WeakMap<FastifyRequest, ApiCall>();
    const api = (req: FastifyRequest, reply: FastifyReply): ApiCall => {
      let a = apiOf.get(req);
      if (!a) apiOf.set(req, (a = apiFor(app, req, reply)));
      return a;
    };
    const page = async (req: FastifyRequest, reply: FastifyReply, view: string, data: Record<string, unknown>) => {
      const s = await api(req, reply)<SessionView>('GET', '/api/v1/session');
      reply.header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
      );
      reply.header('x-content-type-options', 'nosniff');
      return reply
        .type('text/html; charset=utf-8')
        .send(eta.render(view, { ...data, user: s.user, csrf: s.csrfToken, fmt, path: req.url }));
    };
    const fragment = (reply: FastifyReply, view: string, data: Record<string, unknown>) =>
      reply.type('text/html; charset=utf-8').send(eta.render(view, { ...data, fmt }));

    app.setErrorHandler(async (err: FastifyError, req, reply) => {
      const p = err instanceof HttpProblem ? err : undefined;
      const status =
        p?.status ??
        (err.validation ? 400 : err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500);
      if (status === 500 && !p) req.log.error({ err }, 'console request failed');
      if (status === 429 && p?.extra?.['retryAfter']) reply.header('retry-after', String(p.extra['retryAfter']));
      const path = req.url.split('?')[0];
      if (status === 429 && req.method === 'POST' && path === '/login') {
        // A browser posting the login form gets the form back with the reason, not a JSON document.
        return page(req, reply.code(429), 'login', {
          title: 'Log in',
          next: '/',
          error: err.message,
          setupRequired: false,
        });
      }
      const data = {
        status,
        title: p?.title ?? reasonPhrase(status),
        errors: p?.errors ?? [],
        detail: status === 500 && !p ? `internal error (request ${req.id})` : err.message,
      };
      if (req.url.startsWith('/ui/'))
        return reply.code(status).type('text/html; charset=utf-8').send(eta.render('_error', data));
      try {
        return await page(req, reply.code(status), 'error', data);
      } catch {
        // Even the session could not be read: the error page without navigation.
        return reply
          .code(status)
          .type('text/html; charset=utf-8')
          .send(eta.render('error', { ...data, user: undefined, csrf: '', fmt, path: req.url }));
      }
    });

    // ---- login, logout, first admin: POST/DELETE /api/v1/session and POST /api/v1/setup ----
    app.get<{ Querystring: { next?: string } }>('/login', { config: { auth: 'public' } }, async (req, reply) => {
      const s = await api(req, reply)<SessionView>('GET', '/api/v1/session');
      return page(req, reply, 'login', {
        title: 'Log in',
        next: safeNext(req.query.next),
        error: null,
        setupRequired: Boolean(s.setupRequired),
      });
    });
    app.post<{ Body: Form }>('/login', { config: { auth: 'public' } }, async (req, reply) => {
      const next = safeNext(one(req.body, 'next'));
      try {
        await api(req, reply)('POST', '/api/v1/session', {
          username: one(req.body, 'username'),
          password: one(req.body, 'password'),
        });
      } catch (e) {
        if (e instanceof HttpProblem && (e.status === 401 || e.status === 400)) {
          return page(req, reply.code(e.status), 'login', {
            title: 'Log in',
            next,
            error: e.status === 400 ? 'enter a user name and a password' : e.message,
            setupRequired: false,
          });
        }
        throw e;
      }
      return reply.redirect(next, 303);
    });
    app.post('/logout', { config: { auth: 'viewer' } }, async (req, reply) => {
      await api(req, reply)('DELETE', '/api/v1/session');
      return reply.redirect('/login', 303);
    });
    app.get<{ Querystring: { token?: string } }>('/setup', { config: { auth: 'public' } }, async (req, reply) => {
      const token = req.query.token ?? '';
      const valid =
        token !== '' &&
        (await api(req, reply)<{ valid: boolean }>('GET', `/api/v1/setup?token=${enc(token.slice(0, 256))}`)).valid;
      return page(req, reply.code(valid ? 200 : 403), 'setup', {
        title: 'Create the first admin',
        token: req.query.token ?? '',
        valid,
        errors: [],
      });
    });
    app.post<{ Body: Form }>('/setup', { config: { auth: 'public' } }, async (req, reply) => {
      const token = one(req.body, 'token');
      try {
        await api(req, reply)('POST', '/api/v1/setup', {
          token,
          username: one(req.body, 'username'),
          password: one(req.body, 'password'),
        });
      } catch (e) {
        if (e instanceof HttpProblem && e.status < 500 && e.status !== 429) {
          return page(req, reply.code(e.status), 'setup', {
            title: 'Create the first admin',
            token,
            valid: e.status !== 403,
            errors: e.errors ?? [{ path: '', message: e.message }],
          });
        }
        throw e;
      }
      return reply.redirect('/', 303);
    });

    // ---- pages ----
    app.get('/', async (req, reply) => {
      const call = api(req, reply);
      const hosts = await call<Array<{ state: string }>>('GET', '/api/v1/hosts');
      const counts: Record<string, number> = {
        unregistered: 0,
        registered: 0,
        configuring: 0,
        configured: 0,
        failed: 0,
      };
      for (const h of hosts) counts[h.state] = (counts[h.state] ?? 0) + 1;
      const [running, queued, failed, boots] = await Promise.all([
        unlessMissing(call<unknown[]>('GET', '/api/v1/jobs?state=running&limit=20')),
        unlessMissing(call<unknown[]>('GET', '/api/v1/jobs?state=queued&limit=20')),
        unlessMissing(call<unknown[]>('GET', '/api/v1/jobs?state=failed&limit=10')),
        call<unknown[]>('GET', '/api/v1/boots?limit=10'),
      ]);
      return page(req, reply, 'dashboard', {
        title: 'Dashboard',
        counts,
        total: hosts.length,
        boots,
        running: running && queued ? [...running, ...queued] : null,
        failed,
      });
    });

    app.get('/unregistered', async (req, reply) => {
      const call = api(req, reply);
      const [hosts, clusters, images] = await Promise.all([
        call('GET', '/api/v1/unregistered'),
        unlessMissing(call<Array<{ errors: unknown[] }>>('GET', '/api/v1/clusters')),
        unlessMissing(call('GET', '/api/v1/images')),
      ]);
      return page(req, reply, 'unregistered', {
        title: 'Unregistered hosts',
        hosts,
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

    app.get('/hosts', async (req, reply) => {
      const call = api(req, reply);
      const hosts = await call<Array<{ uuid: string }>>('GET', '/api/v1/hosts');
      const boots = await Promise.all(
        hosts.map((h) => call<Array<{ image: string | null }>>('GET', `/api/v1/hosts/${enc(h.uuid)}/boots?limit=50`)),
      );
      return page(req, reply, 'hosts', {
        title: 'Hosts',
        hosts: hosts.map((h, i) => ({ ...h, lastImage: lastImage(boots[i]!) })),
      });
    });
    app.get<{ Params: { uuid: string } }>('/hosts/:uuid', async (req, reply) => {
      const call = api(req, reply);
      const uuid = enc(req.params.uuid);
      const host = await call<{ uuid: string; hostname: string | null }>('GET', `/api/v1/hosts/${uuid}`);
      const [boots, jobs, images] = await Promise.all([
        call<Array<{ image: string | null }>>('GET', `/api/v1/hosts/${uuid}/boots?limit=50`),
        unlessMissing(call('GET', `/api/v1/hosts/${uuid}/jobs`)),
        unlessMissing(call('GET', '/api/v1/images')),
      ]);
      return page(req, reply, 'host', {
        title: host.hostname ?? host.uuid,
        host,
        boots,
        lastImage: lastImage(boots),
        jobs,
        images,
      });
    });

    app.get('/clusters', async (req, reply) =>
      page(req, reply, 'clusters', {
        title: 'Clusters',
        clusters: await unlessMissing(api(req, reply)('GET', '/api/v1/clusters')),
      }),
    );
    app.get<{ Params: { name: string } }>('/clusters/:name', async (req, reply) => {
      const call = api(req, reply);
      const xml = await call<string>('GET', `/api/v1/clusters/${enc(req.params.name)}/xml`);
      // The listing carries each file's validation issues: a GET page makes GET calls only.
      const summary = (await call<Array<{ name: string; errors: Issue[] }>>('GET', '/api/v1/clusters')).find(
        (c) => c.name === req.params.name,
      );
      const issues = summary?.errors ?? [];
      return page(req, reply, 'cluster', {
        title: `Cluster ${req.params.name}`,
        name: req.params.name,
        xml,
        issues,
        lines: editorLines(xml, issues),
      });
    });
    app.post<{ Params: { name: string }; Body: Form }>('/ui/clusters/:name/validate', signedIn, async (req, reply) => {
      const xml = many(req.body, 'xml')[0] ?? '';
      const r = await api(req, reply)<{ issues: Issue[] }>(
        'POST',
        `/api/v1/clusters/${enc(req.params.name)}/validate`,
        { xml },
      );
      return fragment(reply, '_issues', {
        issues: r.issues,
        saved: false,
        lines: editorLines(xml, r.issues),
        oob: true,
      });
    });
    app.post<{ Params: { name: string }; Body: Form }>('/ui/clusters/:name/save', signedIn, async (req, reply) => {
      const xml = many(req.body, 'xml')[0] ?? '';
      try {
        await api(req, reply)('PUT', `/api/v1/clusters/${enc(req.params.name)}/xml`, { xml });
      } catch (e) {
        if (e instanceof HttpProblem && e.status === 422 && e.errors) {
          return fragment(reply.code(422), '_issues', {
            issues: e.errors,
            saved: false,
            lines: editorLines(xml, e.errors),
            oob: true,
          });
        }
        throw e;
      }
      return fragment(reply, '_issues', { issues: [], saved: true, lines: editorLines(xml, []), oob: true });
    });
    app.get<{ Params: { name: string } }>('/ui/clusters/:name/plan', async (req, reply) => {
      const r = await api(req, reply)<{ steps: unknown[] }>('GET', `/api/v1/clusters/${enc(req.params.name)}/plan`);
      return fragment(reply, '_plan', { steps: r.steps, what: 'plan' });
    });
    app.get<{ Params: { name: string } }>('/ui/clusters/:name/drift', async (req, reply) => {
      const r = await api(req, reply)<{ driftSteps: unknown[]; missingHosts: string[] }>(
        'GET',
        `/api/v1/clusters/${enc(req.params.name)}/drift`,
      );
      return fragment(reply, '_plan', { steps: r.driftSteps, missingHosts: r.missingHosts, what: 'drift' });
    });
    app.post<{ Params: { name: string } }>('/ui/clusters/:name/apply', signedIn, async (req, reply) =>
      fragment(reply, '_job-queued', {
        job: await api(req, reply)('POST', `/api/v1/clusters/${enc(req.params.name)}/apply`),
      }),
    );

    app.get('/images', async (req, reply) => {
      const call = api(req, reply);
      const [images, imports, pins] = await Promise.all([
        unlessMissing(call('GET', '/api/v1/images')),
        call('GET', '/api/v1/images/imports'),
        call('GET', '/api/v1/boot-assignments'),
      ]);
      return page(req, reply, 'images', { title: 'Images', images, imports, pins });
    });
    app.post<{ Body: Form }>('/ui/images/import', signedIn, async (req, reply) => {
      const source = one(req.body, 'source');
      const name = one(req.body, 'name');
      const s = await api(req, reply)('POST', '/api/v1/images/import', { source, ...(name ? { name } : {}) });
      return fragment(reply, '_import', { s });
    });
    app.get<{ Params: { id: string } }>('/ui/images/imports/:id', async (req, reply) =>
      fragment(reply, '_import', { s: await api(req, reply)('GET', `/api/v1/images/imports/${enc(req.params.id)}`) }),
    );
    app.post<{ Body: Form }>('/ui/pins', signedIn, async (req, reply) => {
      const uuid = one(req.body, 'uuid').toLowerCase();
      const image = one(req.body, 'image');
      const call = api(req, reply);
      if (image) await call('PUT', `/api/v1/boot-assignments/${enc(uuid)}`, { image });
      else await call('DELETE', `/api/v1/boot-assignments/${enc(uuid)}`);
      return fragment(reply, '_notice', {
        message: image ? `Host ${uuid} will boot ${image} next time.` : `Host ${uuid} is unpinned.`,
      });
    });

    app.get('/jobs', async (req, reply) =>
      page(req, reply, 'jobs', {
        title: 'Jobs',
        jobs: await unlessMissing(api(req, reply)('GET', '/api/v1/jobs?limit=200')),
      }),
    );
    app.get<{ Params: { id: string } }>('/jobs/:id', async (req, reply) => {
      const call = api(req, reply);
      const job = await call<{ id: string; steps: unknown[] }>('GET', `/api/v1/jobs/${enc(req.params.id)}`);
      const log = await call('GET', `/api/v1/jobs/${enc(job.id)}/log`);
      return page(req, reply, 'job', { title: `Job ${job.id}`, job, steps: job.steps, log });
    });

    app.get('/users', async (req, reply) =>
      page(req, reply, 'users', { title: 'Users', users: await api(req, reply)('GET', '/api/v1/users') }),
    );
    app.get('/audit', async (req, reply) =>
      page(req, reply, 'audit', {
        title: 'Audit log',
        entries: await api(req, reply)('GET', '/api/v1/audit?limit=200'),
      }),
    );
  });
}

/** Only same-site relative paths are followed after login (no open redirect). */
function safeNext(next: string | undefined): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}
