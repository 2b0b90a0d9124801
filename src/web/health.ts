/**
 * `/healthz` (the process answers), `/readyz` (store open and every service started) and
 * `/metrics` (Prometheus text format from src/metrics.ts), plus the HTTP request metrics.
 * `/healthz` and `/readyz` are unauthenticated and served on both listeners (orchestrators and
 * load balancers probe them; they carry nothing). `/metrics` is served on the administration
 * listener only, behind a bearer token when `http.metrics-token-file`/`-env` is set (issue 16,
 * finding 12): its labels name routes, clusters and vCenters.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendProblem } from './problem.js';
import { counter, histogram, metricsRegistry } from '../metrics.js';
import type { WebContext } from './context.js';

const httpRequests = counter('http_requests_total', 'HTTP requests answered, by method, route and status class', [
  'method',
  'route',
  'status',
]);
const httpBytes = counter(
  'http_response_bytes_total',
  'HTTP response body bytes of responses sent in full (their Content-Length), by route; a response cut short is not counted (/boot/ bytes actually sent: http_boot_bytes_sent_total)',
  ['route'],
);
const httpDuration = histogram(
  'http_request_duration_seconds',
  'HTTP request duration in seconds, by route',
  ['route'],
  [0.005, 0.02, 0.1, 0.5, 2, 10],
);

/** Counts every answered request (route pattern, not URL, as label: bounded cardinality). */
export function installHttpMetrics(app: FastifyInstance): void {
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    httpRequests.inc({ method: req.method, route, status: `${Math.floor(reply.statusCode / 100)}xx` });
    // onResponse also runs on a response 'error' (destroyed mid-body): count only a body that was
    // ended and not destroyed, i.e. handed to the socket in full.
    const len = Number(reply.getHeader('content-length'));
    const whole = reply.raw.writableEnded && !reply.raw.destroyed;
    if (whole && req.method !== 'HEAD' && Number.isFinite(len) && len > 0) httpBytes.inc({ route }, len);
    httpDuration.observe({ route }, reply.elapsedTime / 1000);
  });
}

export function healthRoutes(app: FastifyInstance, ctx: WebContext): void {
  const statusOut = {
    type: 'object',
    properties: { status: { type: 'string' }, checks: { type: 'object', additionalProperties: { type: 'string' } } },
  } as const;
  app.get(
    '/healthz',
    { schema: { tags: ['health'], summary: 'The process is up', response: { 200: statusOut } } },
    () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Store open and services started',
        response: { 200: statusOut, 503: statusOut },
      },
    },
    async (_req, reply) => {
      const checks: Record<string, string> = {};
      try {
        checks['store'] = (await ctx.deps.store.ping()) ? 'ok' : 'closed';
      } catch (e) {
        checks['store'] = `error: ${(e as Error).message}`;
      }
      checks['services'] = (ctx.deps.ready?.() ?? true) ? 'ok' : 'starting';
      // Several servers: a pinned image of the shared catalog missing here (src/app/image-catalog.ts).
      if (ctx.deps.imagesReadiness) checks['images'] = ctx.deps.imagesReadiness();
      const ok = Object.values(checks).every((v) => v === 'ok');
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', checks });
    },
  );
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * True when `header` is `Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1). Both sides are
 * hashed first, so the comparison takes the same time whatever the length or content sent.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header ?? '');
  return timingSafeEqual(sha256(m?.[1] ?? ''), sha256(token)) && m !== null;
}

/**
 * `GET /metrics`: the Prometheus text exposition of src/metrics.ts.
 * @param token when set, a request without `Authorization: Bearer <token>` gets 401 with
 *   `WWW-Authenticate: Bearer` (RFC 6750 §3) and no metrics; the token is never logged.
 */
export function metricsRoute(app: FastifyInstance, token?: string): void {
  const guard = token
    ? async (req: FastifyRequest, reply: FastifyReply) => {
        if (bearerMatches(req.headers.authorization, token)) return;
        reply.header('www-authenticate', 'Bearer realm="statelesx metrics"');
        return sendProblem(
          reply,
          req,
          401,
          'Unauthorized',
          '/metrics needs Authorization: Bearer <http.metrics-token>',
        );
      }
    : undefined;
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        produces: ['text/plain'],
        response: { 200: { type: 'string', description: 'Prometheus text exposition format 0.0.4' } },
        ...(token ? { security: [{ metricsToken: [] }] } : {}),
      },
      ...(guard ? { onRequest: guard } : {}),
    },
    async (_req, reply) => {
      reply.type(metricsRegistry.contentType);
      return metricsRegistry.metrics();
    },
  );
}
