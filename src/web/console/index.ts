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
import type { FastifyError, FastifyInstance } from 'fastify';
import { HttpProblem, reasonPhrase } from '../problem.js';
import { consoleOptions, fmt } from './render.js';
import { sessionPages } from './session.js';
import { dashboardPage } from './dashboard.js';
import { hostPages } from './hosts.js';
import { clusterPages } from './clusters.js';
import { clusterHistoryPages } from './cluster-history.js';
import { imagePages } from './images.js';
import { jobPages } from './jobs.js';
import { adminPages } from './admin.js';

/**
 * Registers the console pages and `/ui/` fragments on `parent` (the authenticated scope), one
 * plugin per resource in one encapsulated scope that shares the error page and the API call of
 * each request. Console routes ask only for a session (`viewer`); what a user may do is the API's
 * answer.
 */
export async function consoleRoutes(parent: FastifyInstance): Promise<void> {
  await parent.register(async (app) => {
    // The console's pages and /ui/ fragments are private to the console (HTML, form bodies): the
    // OpenAPI document at /api/docs describes /api/v1 only.
    app.addHook('onRoute', (route) => {
      route.schema = { ...(route.schema ?? {}), hide: true };
    });
    const opts = consoleOptions(app);
    const { page, render } = opts;
    app.setErrorHandler(async (err: FastifyError, req, reply) => {
      const p = err instanceof HttpProblem ? err : undefined;
      const status =
        p?.status ??
        (err.validation ? 400 : err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500);
      if (status === 500 && !p) req.log.error({ err }, 'console request failed');
      if (status === 429 && p?.extra?.['retryAfter']) reply.header('retry-after', p.extra['retryAfter']);
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
        return reply.code(status).type('text/html; charset=utf-8').send(render('_error', data));
      try {
        return await page(req, reply.code(status), 'error', data);
      } catch {
        // Even the session could not be read: the error page without navigation.
        return reply
          .code(status)
          .type('text/html; charset=utf-8')
          .send(render('error', { ...data, user: undefined, csrf: '', fmt, path: req.url }));
      }
    });
    for (const plugin of [
      sessionPages,
      dashboardPage,
      hostPages,
      clusterPages,
      clusterHistoryPages,
      imagePages,
      jobPages,
      adminPages,
    ]) {
      await app.register(plugin, opts);
    }
  });
}
