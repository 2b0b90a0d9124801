/**
 * Which HTTP listener serves what (issue 16, finding 4: the console could not be kept off the boot
 * LAN while `/boot/` shared its port).
 *
 * - `admin` (`http.address`, `http.port`, default 8080): console, REST API, OpenAPI (`/api/docs`),
 *   `/metrics`, `/static/`, `/healthz`, `/readyz`.
 * - `boot` (`boot-http.address`, `boot-http.port`, default 80): `/boot/`, the HTTP phone-home
 *   (`/api/v1/phone-home`), `/healthz`, `/readyz`: what a booting host needs, nothing more.
 * - `both`: the single-port layout, chosen by giving `boot-http` the same address and port as
 *   `http` (port 0, "any free port", never counts as the same).
 *
 * Every URL handed to hosts (DHCP option 67, iPXE scripts, `boot.cfg` prefix, `ks=`) names the
 * boot listener's port, or `boot-http.advertise-port` when a cache or proxy in front of `/boot/`
 * (nginx, README "Running several servers") listens on another one.
 *
 * Behind such a proxy the peer of every request is the proxy; files rendered per host are chosen
 * by the client's address, so the boot listener takes the client from `X-Forwarded-For` — only
 * when the peer is one of `boot-http.trusted-proxies` (anyone else could claim any address).
 */
import { readSecret } from '../config/secrets.js';
import type { Config } from '../config/schema.js';

/** What one listener serves. */
export type HttpRole = 'admin' | 'boot' | 'both';

/** An address and port to bind. */
export interface ListenerAddress {
  address: string;
  port: number;
}

/** The HTTP listeners of a configuration: one `both`, or an `admin` and a `boot` one. */
export interface HttpLayout {
  admin: ListenerAddress;
  boot: ListenerAddress;
  /** True when one listener serves both (same address and port, port not 0). */
  shared: boolean;
}

/** Reads the listener layout from `http` and `boot-http` (addresses default to `listen-address`). */
export function httpLayout(config: Config): HttpLayout {
  const admin = { address: config.http.address ?? config['listen-address'], port: config.http.port };
  const boot = { address: config['boot-http'].address ?? config['listen-address'], port: config['boot-http'].port };
  return { admin, boot, shared: admin.port !== 0 && admin.port === boot.port && admin.address === boot.address };
}

/**
 * Fastify's `trustProxy` for a listener of `role`: the `boot-http.trusted-proxies` addresses
 * (IPv4 or CIDR, proxy-addr syntax) for one that serves `/boot/` (boot, both), else false.
 */
export function trustedProxies(config: Config | undefined, role: HttpRole): string[] | false {
  const proxies = config?.['boot-http']['trusted-proxies'] ?? [];
  return role !== 'admin' && proxies.length > 0 ? [...proxies] : false;
}

/** The port URLs handed to hosts name: `boot-http.advertise-port`, else the bound boot listener's `port`. */
export function advertisedBootPort(config: Config, port: number): number {
  return config['boot-http']['advertise-port'] ?? port;
}

/**
 * The bearer token `/metrics` requires, read from `http.metrics-token-file` or
 * `http.metrics-token-env` (src/config/secrets.ts); undefined when neither is set. Never logged.
 * @throws Error naming the file or variable (not the value) when it is missing or empty
 */
export function metricsToken(config: Config | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = config?.http['metrics-token-file'];
  const name = config?.http['metrics-token-env'];
  if (!file && !name) return undefined;
  return readSecret(
    { 'password-file': file, 'password-env': name },
    file ? 'http.metrics-token-file' : 'http.metrics-token-env',
    env,
  );
}
