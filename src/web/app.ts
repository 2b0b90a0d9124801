/**
 * The web app: fastify instances serving the REST API (`/api/v1`, OpenAPI at `/api/docs`), the
 * console (server-rendered eta templates + htmx), `/boot/` (HTTP boot, mounted from src/boot/http),
 * the phone-home routes (src/phonehome/http.ts), and `/healthz`, `/readyz`, `/metrics`. Which
 * instance serves which is the listener's role (./listeners.ts): administration, boot, or both.
 *
 * Scopes: health, static assets, `/boot/` and phone-home are unauthenticated (hosts and probes call
 * them); everything else sits in one encapsulated scope behind the session, role and CSRF hooks.
 * May import: store, config, metrics, net, and the ports in ./deps.ts — never a protocol module.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fastifyStatic from '@fastify/static';
import type { Service } from '../net/service.js';
import type { Config } from '../config/schema.js';
import { toBindError } from '../net/bind-error.js';
import type { AppDeps } from './deps.js';
import { makeContext } from './context.js';
import { HttpProblem, problemErrorHandler, sendProblem } from './problem.js';
import { addSharedSchemas } from './schemas.js';
import { installAuthHooks } from './auth/plugin.js';
import { issueSetupToken, SETUP_LINK_FILE } from './auth/tokens.js';
import { healthRoutes, installHttpMetrics, metricsRoute } from './health.js';
import { httpLayout, metricsToken, trustedProxies, type HttpRole, type ListenerAddress } from './listeners.js';
import { sessionRoutes } from './api/session.js';
import { hostRoutes } from './api/hosts.js';
import { clusterRoutes } from './api/clusters.js';
import { imageRoutes } from './api/images.js';
import { jobRoutes } from './api/jobs.js';
import { adminRoutes } from './api/admin.js';
import { tokenRoutes } from './api/tokens.js';
import { lifecycleRoutes } from './api/lifecycle.js';
import { consoleRoutes } from './console/index.js';
import { ImportTracker } from './imports.js';
import { storeJobReader } from './job-reader.js';
import { serializeRequest, serializeUrl } from './log-redact.js';
import { lazySchemaCompilers, type PendingSchemas } from './lazy-schemas.js';
import { capConnections, httpLimits, installJsonDepthLimit, serverTimeoutOptions } from './limits.js';

/** Directory of the console's static files (works from src/ under tsx and from dist/). */
export const PUBLIC_DIR = fileURLToPath(new URL('../../src/web/public/', import.meta.url));

/** TLS material for HTTPS (PEM text). */
export interface TlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
}

/**
 * The fastify instance: request logs (secret query values redacted, `reqId`, client address),
 * body limit, request/headers timeouts (./limits.ts), HTTPS when `tls` is given, ajv options.
 */
function createInstance(
  deps: AppDeps,
  limits: ReturnType<typeof httpLimits>,
  tls: TlsOptions | undefined,
  role: HttpRole,
): FastifyInstance {
  const { compilersFactory, pending } = lazySchemaCompilers();
  const app = Fastify({
    // Request lines (and any `url` field logged in a request) show the URL with secret query
    // values (phone-home and setup-link tokens) redacted.
    loggerInstance: deps.log.child(
      { subsystem: 'http' },
      { serializers: { req: serializeRequest, url: serializeUrl } },
    ),
    genReqId: () => randomUUID().slice(0, 8),
    // The request id is `reqId` (not `req`: that key is the serialized request of fastify's
    // "incoming request" line, and a `req` binding went through the request serializer and lost
    // the id); every request's child logger also binds the client address:port.
    logController: new LogController({ requestIdLogLabel: 'reqId' }),
    childLoggerFactory: (logger, bindings, opts, raw) =>
      logger.child(
        { ...bindings, client: `${raw.socket?.remoteAddress ?? '?'}:${raw.socket?.remotePort ?? '?'}` },
        opts,
      ),
    bodyLimit: 8 * 1024 * 1024,
    // `req.ip` is the socket's peer, except behind a cache or proxy the admin named in
    // `boot-http.trusted-proxies` (listeners serving /boot/): then X-Forwarded-For's client (./listeners.ts).
    trustProxy: trustedProxies(deps.config, role),
    // Request/headers timeouts and connection caps: ./limits.ts.
    requestTimeout: limits.requestTimeoutMs,
    http: serverTimeoutOptions(limits),
    ...(tls ? { https: { cert: tls.cert, key: tls.key, ...serverTimeoutOptions(limits) } } : {}),
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: true } },
    // Route schemas are compiled on first use (./lazy-schemas.ts: ~10 MiB less idle RSS).
    schemaController: { compilersFactory },
  }) as unknown as FastifyInstance;
  PENDING.set(app, pending);
  return app;
}

const PENDING = new WeakMap<FastifyInstance, PendingSchemas>();

/**
 * The route schemas of an app from {@link buildApp} not compiled yet (./lazy-schemas.ts); tests
 * compile them all to find a bad schema without sending every request.
 * @throws Error when `app` was not built by {@link buildApp}
 */
export function pendingSchemas(app: FastifyInstance): PendingSchemas {
  const p = PENDING.get(app);
  if (!p) throw new Error('pendingSchemas: not an app from buildApp');
  return p;
}

/**
 * Builds the app (not listening). Call `app.ready()` or `inject` in tests, `listen` in the service.
 * @param deps store and logger are required; every other dependency is optional (routes answer 503)
 * @param tls when given, the instance serves HTTPS
 * @param role `admin`: console, API, OpenAPI, `/metrics`; `boot`: `/boot/` and the HTTP
 *   phone-home; `both` (default): all of them. Every role serves `/healthz` and `/readyz`.
 * @throws Error when `http.metrics-token-file`/`-env` is set but cannot be read
 */
export async function buildApp(deps: AppDeps, tls?: TlsOptions, role: HttpRole = 'both'): Promise<FastifyInstance> {
  const admin = role !== 'boot';
  const boot = role !== 'admin';
  const token = admin ? metricsToken(deps.config) : undefined;
  const ctx = makeContext({ ...deps, jobs: deps.jobs ?? storeJobReader(deps.store.jobs, deps.queueView) });
  const limits = httpLimits(deps.config);
  const app = createInstance(deps, limits, tls, role);

  capConnections(app.server, limits);
  installJsonDepthLimit(app);
  app.setErrorHandler(problemErrorHandler);
  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, req, 404, 'Not Found', `no route ${req.method} ${req.url.split('?')[0]}`),
  );
  for (const type of ['application/xml', 'text/xml', 'text/plain']) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: 4 * 1024 * 1024 }, (_req, body, done) =>
      done(null, body),
    );
  }
  if (admin) {
    await app.register(cookie);
    await app.register(formbody);
  }
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_req, c) =>
      new HttpProblem(429, 'Too Many Requests', `too many attempts; retry in ${Math.ceil(c.ttl / 1000)} s`, undefined, {
        retryAfter: Math.ceil(c.ttl / 1000),
      }),
  });
  if (admin) await registerOpenApi(app);
  addSharedSchemas(app);
  installHttpMetrics(app);

  await app.register((s, _opts, done) => {
    healthRoutes(s, ctx);
    if (admin) metricsRoute(s, token);
    done();
  });
  if (boot && deps.bootPlugin) {
    const bootPlugin = deps.bootPlugin;
    await app.register(async (s) => {
      // `/boot/*` serves hosts, not API clients: keep it out of the OpenAPI document.
      s.addHook('onRoute', (route) => {
        route.schema = { ...(route.schema ?? {}), hide: true };
      });
      await s.register(bootPlugin);
    });
  }
  if (boot && deps.phoneHomePlugin) await app.register(deps.phoneHomePlugin, { prefix: '/api/v1' });
  if (!admin) return app;

  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/static/', maxAge: 3600_000, index: false });
  const tracker = new ImportTracker();
  await app.register(async (scope) => {
    installAuthHooks(scope, ctx);
    await scope.register(swaggerUi, { routePrefix: '/api/docs' });
    sessionRoutes(scope, ctx);
    hostRoutes(scope, ctx);
    clusterRoutes(scope, ctx);
    imageRoutes(scope, ctx, tracker);
    jobRoutes(scope, ctx);
    adminRoutes(scope, ctx);
    tokenRoutes(scope, ctx);
    lifecycleRoutes(scope, ctx);
    await consoleRoutes(scope);
  });
  return app;
}

/** The OpenAPI document (`/api/docs`): the session cookie, API bearer tokens, and the `/metrics` bearer token. */
async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'statelesx API',
        version: '1',
        description:
          'Hosts, cluster joins, cluster files, images, jobs. Errors are RFC 9457 application/problem+json. Either log in with POST /api/v1/session and send the csrfToken as x-csrf-token on POST/PUT/PATCH/DELETE (cookie sessions), or send an API token (POST /api/v1/tokens, statelesx token create) as Authorization: Bearer <token>, which needs no CSRF token.',
      },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: 'sx_session' },
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description:
              "an API token (sxt_…) made by an admin (POST /api/v1/tokens, statelesx token create); acts with the token's role, audited as token:<name>; no CSRF token needed",
          },
          metricsToken: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ session: [] }, { bearer: [] }],
    },
    refResolver: {
      buildLocalReference: (json, _base, _frag, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`),
    },
  });
}

/** The HTTP service as the composition root sees it, with the bound address once started. */
export interface HttpService extends Service {
  /** Bound address after `start`. */
  address(): { address: string; port: number } | undefined;
  /** The app after `start` (tests). */
  app(): FastifyInstance | undefined;
}

/**
 * The administration HTTP listener as a {@link Service} (console, API, OpenAPI, `/metrics`; role
 * `both`, `/boot/` and phone-home too, when `boot-http` has the same address and port, see
 * ./listeners.ts): listens on `http.port` at `http.address` (default `listen-address`), HTTPS when
 * `http.tls-cert` and `http.tls-key` are set. On first start with no user it issues a one-time
 * setup link, writes it to `<data-dir>/setup-link` (mode 0600) and gives it to `announce` with
 * `secret` true (default: stderr) — never to stdout, which is the log stream under systemd and
 * Docker, and never to the log. Other lines (where the console is) go to stdout when it is a
 * terminal, else to stderr: under systemd or Docker stdout carries only JSON log lines.
 * @throws BindError from `start` (flag `--http-port`), Error when the TLS files or the metrics
 *   token cannot be read
 */
export function createHttpService(
  config: Config,
  deps: Omit<AppDeps, 'config'>,
  announce: (line: string, secret?: boolean) => void = (l, secret) =>
    (secret || !process.stdout.isTTY ? process.stderr : process.stdout).write(l + '\n'),
): HttpService {
  const layout = httpLayout(config);
  return listenerService(config, deps, layout.shared ? 'both' : 'admin', layout.admin, async (a, tls) => {
    // An address a browser can open: the one configured, the advertised one, else loopback.
    const host = layout.admin.address;
    const shown =
      config.http.address && host !== '0.0.0.0'
        ? host
        : (config['advertise-address'] ?? (host === '0.0.0.0' ? '127.0.0.1' : host));
    const base = `${tls ? 'https' : 'http'}://${shown}:${a.port}`;
    announce(`statelesx: console at ${base}/`);
    if ((await deps.store.users.count()) === 0) {
      const token = await issueSetupToken(deps.store.settings);
      const url = `${base}/setup?token=${token}`;
      const file = join(config['data-dir'], SETUP_LINK_FILE);
      writeFileSync(file, url + '\n', { mode: 0o600 });
      chmodSync(file, 0o600); // an older file keeps its mode on overwrite
      deps.log.warn(
        { subsystem: 'http', file },
        'no console user exists yet: open the one-time setup link printed on stderr and written to the file, or run `statelesx user add NAME --role admin`',
      );
      announce(`statelesx: create the first admin (one-time link, also in ${file}): ${url}`, true);
    }
    deps.log.info(
      {
        subsystem: 'http',
        address: a.address,
        port: a.port,
        tls: Boolean(tls),
        url: `${base}/`,
        role: layout.shared ? 'both' : 'admin',
      },
      'console listening',
    );
  });
}

/**
 * The boot HTTP listener as a {@link Service}: `/boot/`, the HTTP phone-home, `/healthz` and
 * `/readyz` on `boot-http.port` at `boot-http.address` (default `listen-address`), plain HTTP
 * (firmware and iPXE fetch over `http://`). Undefined in the single-port layout, where
 * {@link createHttpService} serves boot traffic too.
 * @throws BindError from `start` (flag `--boot-http-port`)
 */
export function createBootHttpService(config: Config, deps: Omit<AppDeps, 'config'>): HttpService | undefined {
  const layout = httpLayout(config);
  if (layout.shared) return undefined;
  return listenerService(config, deps, 'boot', layout.boot, (a) => {
    deps.log.info({ subsystem: 'boot-http', address: a.address, port: a.port }, 'HTTP boot listening');
  });
}

/** One fastify listener of `role` at `at`; `listening` runs once it is bound. */
function listenerService(
  config: Config,
  deps: Omit<AppDeps, 'config'>,
  role: HttpRole,
  at: ListenerAddress,
  listening: (bound: ListenerAddress, tls: TlsOptions | undefined) => void | Promise<void>,
): HttpService {
  let app: FastifyInstance | undefined;
  let bound: ListenerAddress | undefined;
  const { address: host, port } = at;
  return {
    name: role === 'boot' ? 'boot-http' : 'http',
    address: () => bound,
    app: () => app,
    async start() {
      const tls = role === 'boot' ? undefined : readTls(config);
      app = await buildApp({ ...deps, config }, tls, role);
      try {
        await app.listen({ port, host });
      } catch (e) {
        await app.close().catch(() => undefined);
        app = undefined;
        const flag = role === 'boot' ? '--boot-http-port' : '--http-port';
        throw toBindError(e, tls ? 'HTTPS (tcp)' : 'HTTP (tcp)', host, port, flag);
      }
      const a = app.server.address() as AddressInfo;
      bound = { address: a.address, port: a.port };
      await listening(bound, tls);
    },
    async close() {
      if (app) await app.close();
      app = undefined;
    },
  };
}

/** The PEM files of `http.tls-cert`/`http.tls-key`, or undefined when neither is set. */
function readTls(config: Config): TlsOptions | undefined {
  const certFile = config.http['tls-cert'];
  const keyFile = config.http['tls-key'];
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new Error('http.tls-cert and http.tls-key must be set together');
  try {
    return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  } catch (e) {
    throw new Error(
      `cannot read TLS files for HTTPS (${certFile}, ${keyFile}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { cause: e },
    );
  }
}
