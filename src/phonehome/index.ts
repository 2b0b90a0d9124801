/**
 * src/phonehome: the phone-home intake (TCP 1974 listener, HTTP routes, line parser).
 * Owns: wire formats, connection limits, replies. Decides nothing about hosts: it hands every
 * parsed message to src/hosts/registry.ts. May import: hosts, store, engine (the JobQueue port),
 * config (wiring only: never parse.ts), net, metrics, log.
 *
 * {@link createPhoneHome} builds the three pieces from the typed config, for src/app/server.ts:
 * ```ts
 * const initiator = createPhoneHome(config, { store, queue, declared, leases, log });
 * services.push(initiator.listener);                       // TCP, port initiator.port
 * buildApp({ ..., phoneHomePlugin: initiator.httpPlugin }); // registered with prefix /api/v1
 * ```
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type {
  HostBootStore,
  HostInstallStore,
  HostReader,
  HostWriter,
  LeaseStore,
  PhoneHomeLog,
  TokenStore,
  Transactions,
} from '../store/index.js';
import type { JobQueue } from '../engine/queue.js';
import { BootTokens } from '../hosts/tokens.js';
import { HostRegistry, type DeclaredHostLookup, type LeaseLookup } from '../hosts/registry.js';
import { createPhoneHomeListener, type PhoneHomeListener } from './listener.js';
import { phoneHomePlugin } from './http.js';
import { KeyedRateLimit } from '../net/rate-limit.js';

/** `(address, at) => allowed` over one {@link KeyedRateLimit}. */
function limiterOf(perMinute: number): (address: string, at: number) => boolean {
  const limit = new KeyedRateLimit(perMinute);
  return (address, at) => limit.take(address, at);
}

/** The store ports the phone-home intake reads and writes (src/store/ports.ts). */
export interface PhoneHomeStore extends Transactions {
  hosts: HostReader & HostWriter;
  phoneHomes: PhoneHomeLog;
  tokens: TokenStore;
  leases: Pick<LeaseStore, 'byMac'>;
  /** Where accepted phone-homes are recorded for the engine (this boot's thumbprints). */
  hostBoots?: Pick<HostBootStore, 'recordPhoneHome'>;
  /** Where a stateful member's reported install is recorded (boot-once). */
  hostInstalls?: Pick<HostInstallStore, 'markInstalled'>;
}

export interface PhoneHomeDeps {
  store: PhoneHomeStore;
  queue: JobQueue;
  /** Cluster-file lookup by UUID (src/clusters). */
  declared: DeclaredHostLookup;
  /** DHCP lease by MAC; default: {@link leaseLookupFromStore} over `store.leases` (empty unless DHCP runs in full mode). */
  leases?: LeaseLookup;
  log: Logger;
}

export interface PhoneHome {
  registry: HostRegistry;
  listener: PhoneHomeListener;
  httpPlugin: FastifyPluginAsync;
}

/**
 * The legacy address check's view of table `dhcp_leases`: the address of the newest `bound`,
 * unexpired lease held by `mac`, or undefined.
 */
export function leaseLookupFromStore(leases: Pick<LeaseStore, 'byMac'>): LeaseLookup {
  return async (mac, now) => (await leases.byMac(mac)).find((l) => l.state === 'bound' && l.expiresAt > now)?.address;
}

/** Builds the registry, the TCP listener (not yet started) and the HTTP plugin from `config.initiator`. */
export function createPhoneHome(config: Config, deps: PhoneHomeDeps): PhoneHome {
  const c = config.initiator;
  const log = deps.log.child({ subsystem: 'initiator' });
  const registry = new HostRegistry({
    hosts: deps.store.hosts,
    phoneHomes: deps.store.phoneHomes,
    tokens: new BootTokens(deps.store.tokens, c['token-ttl-s'] * 1000),
    queue: deps.queue,
    declared: deps.declared,
    leases: deps.leases ?? leaseLookupFromStore(deps.store.leases),
    boots: deps.store.hostBoots,
    installs: deps.store.hostInstalls,
    requireToken: c['require-token'],
    admitNewHost: limiterOf(c['new-hosts-per-source-per-minute']),
    log,
    transaction: (fn) => deps.store.transaction(fn),
  });
  const listener = createPhoneHomeListener({
    host: config['listen-address'],
    port: c.port,
    handler: registry,
    log: deps.log,
    readTimeoutMs: c['read-timeout-ms'],
    maxConnectionsPerSource: c['max-connections-per-source'],
  });
  return { registry, listener, httpPlugin: phoneHomePlugin({ handler: registry, log: deps.log }) };
}

export { createPhoneHomeListener, replyLine } from './listener.js';
export type { PhoneHomeListener, PhoneHomeListenerOptions, PhoneHomeStats, PhoneHomeHandler } from './listener.js';
export { phoneHomePlugin } from './http.js';
export { parsePhoneHomeLine, phoneHomeFromFields, MAX_MESSAGE_BYTES } from './parse.js';
export type { PhoneHomeMessage, ParseResult, ParseErrorReason } from './parse.js';
