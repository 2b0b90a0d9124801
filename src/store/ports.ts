/**
 * The store's ports: what each subsystem may read or write, as interfaces the SQLite
 * repositories implement. Subsystems depend on these (and on the record types), never on the
 * repository classes or the database handle, so another store (PostgreSQL) can plug in behind them.
 *
 * Who uses which (wired in src/app/server.ts):
 *  - boot files / policy:  {@link HostReader}, {@link BootEventWriter}, {@link LeaseStore} (`get`)
 *  - DHCP:                 {@link SightingWriter}, {@link BootEventWriter}, {@link LeaseStore}
 *  - phone-home registry:  {@link HostReader}, {@link HostWriter}, {@link PhoneHomeLog}, {@link TokenStore},
 *                          {@link LeaseStore} (`byMac`), {@link Transactions}
 *  - web:                  {@link HostReader}, {@link HostWriter} (state, pins), {@link UserStore},
 *                          {@link ApiTokenStore}, {@link AuditLog}, {@link SettingsStore}, {@link JobHistory}, {@link StoreHealth}
 *  - engine (JobRunner):   the job repository itself (./jobs.ts `JobRepo`: jobs, steps, log, TOFU thumbprints,
 *                          maintenance records; `createUnlessActive` = one active job per target) and its
 *                          `pools` (./pools.ts `PoolAllocationRepo`) — asynchronous, either store
 *  - thumbprint reset:     {@link HostBootStore} (`resetThumbprint`), {@link TofuThumbprints}
 *
 * Ports whose methods return promises run on either store through the SQL executor (./sql.ts):
 * SQLite (better-sqlite3) or PostgreSQL (node-postgres); several servers may share one PostgreSQL
 * (issue 18), so a port that hands something out (boot tokens consumed once, DHCP addresses
 * claimed) does it in one atomic statement, never read-then-write. Every repository is on it now,
 * the host ports too ({@link HostReader}, {@link SightingWriter}, {@link BootEventWriter},
 * {@link HostWriter}, {@link HostBootStore}, {@link HostInstallStore}); the boot policy, pure and
 * synchronous, reads hosts through src/hosts/policy-lookups.ts.
 */
import type { AuditEntry } from './audit.js';
import type { BootEvent, HostPage, HostPageKey, HostRecord, HostSighting, HostState } from './hosts.js';
import type { JobLogLine, JobRecord, JobState, JobStepRecord } from './jobs.js';
import type { DhcpLease } from './leases.js';
import type { PhoneHomeRecord, PhoneHomeResult } from './phonehomes.js';
import type { TokenRow } from './tokens.js';
import type { HostBootRecord } from './hostboots.js';
import type { HostInstallRecord } from './hostinstalls.js';
import type { Role, SessionRecord, UserRecord } from './users.js';
import type { ApiTokenRecord, NewApiToken } from './api-tokens.js';
import type { ForgetResult } from './host-forget.js';
import type { CatalogEntry, PublishResult } from './image-catalog.js';

/** Reads hosts (table `hosts`) and their boot history (table `boot_events`). UUIDs SMBIOS-form, lower-case. */
export interface HostReader {
  get(uuid: string): Promise<HostRecord | undefined>;
  /** Hosts that have been seen with this MAC (`aa:bb:cc:dd:ee:ff`), newest sighting first. */
  findByMac(mac: string): Promise<HostRecord[]>;
  /** All hosts (or those in `state`), newest sighting first. */
  list(state?: HostState): Promise<HostRecord[]>;
  /** One page of hosts (or those in `state`), newest sighting first, after `after`; one query. */
  page(opts: { limit: number; state?: HostState | undefined; after?: HostPageKey | undefined }): Promise<HostPage>;
  /** Number of hosts in each state; one query. */
  countByState(): Promise<Partial<Record<HostState, number>>>;
  /** The image each of `hosts` last booted (by UUID, or MAC-only events of its MACs); one query. */
  lastImages(hosts: ReadonlyArray<Pick<HostRecord, 'uuid' | 'macs'>>): Promise<Map<string, string>>;
  /** UUIDs of hosts whose image pin is `image`. */
  pinnedTo(image: string): Promise<string[]>;
  /** Boot history for a host UUID or a MAC (either may be null), newest first, at most `limit` (100). */
  bootEvents(filter?: { uuid?: string | null; mac?: string | null; limit?: number }): Promise<BootEvent[]>;
  /**
   * The newest boot event from client `address` at or after `since` (epoch ms) that names a host
   * UUID or MAC, or undefined.
   */
  lastIdentifiedBootEventFrom(
    address: string,
    since: number,
  ): Promise<{ hostUuid: string | null; mac: string | null; firmware: string | null; at: number } | undefined>;
}

/** Records that a host was seen (creates it in `newState` when new). */
export interface SightingWriter {
  upsertSighting(s: HostSighting, newState?: HostState): Promise<HostRecord>;
}

/** Appends to the boot history (table `boot_events`); resolves to the event's id. */
export interface BootEventWriter {
  addBootEvent(e: BootEvent): Promise<number>;
}

/** Changes hosts: sightings, state (and its cluster), image pin (epoch ms `at`). */
export interface HostWriter extends SightingWriter, BootEventWriter {
  /** False when no such host. */
  setState(uuid: string, state: HostState, cluster?: string | null): Promise<boolean>;
  setImagePin(uuid: string, image: string | null, at?: number): Promise<void>;
}

/**
 * DHCP leases (table `dhcp_leases`), keyed by IPv4 address. Servers sharing one store hand out
 * addresses only through {@link LeaseStore.claim}: the stored row arbitrates who holds an address.
 */
export interface LeaseStore {
  all(): Promise<DhcpLease[]>;
  get(address: string): Promise<DhcpLease | undefined>;
  /** Leases held by `mac`, newest first. */
  byMac(mac: string): Promise<DhcpLease[]>;
  /** Writes the row whoever holds the address (a DHCPDECLINE's quarantine). */
  upsert(lease: DhcpLease): Promise<void>;
  /**
   * Takes `lease.address` for `lease.mac` in one atomic statement unless another client holds it
   * at `now` (bound or offered and unexpired, or declined and quarantined); with
   * `previousAddress`, deletes the client's row there in the same transaction. Resolves false
   * (nothing written) when another client holds it.
   */
  claim(lease: DhcpLease, now: number, previousAddress?: string): Promise<boolean>;
  /** Marks `address` released at `at` when `mac` holds it bound; false otherwise. */
  release(address: string, mac: string, at: number): Promise<boolean>;
  /** Removes the row; with `mac`, only while that client holds it (not declined). */
  delete(address: string, mac?: string): Promise<void>;
}

/**
 * Per-boot phone-home tokens (table `boot_tokens`); only SHA-256 hashes. Shared by every server on
 * one store: a token issued by one server is checked (and consumed, once) by any.
 */
export interface TokenStore {
  insert(row: Omit<TokenRow, 'usedAt'>): Promise<void>;
  get(tokenHash: string): Promise<TokenRow | undefined>;
  /** The host's newest unused token issued at or after `since` (epoch ms), if any. */
  newestUnused(hostUuid: string, since: number): Promise<TokenRow | undefined>;
  /** False when already used (or unknown); atomic across servers. */
  markUsed(tokenHash: string, at: number): Promise<boolean>;
  markUnused(tokenHash: string, at: number): Promise<boolean>;
  /**
   * Inserts (a row already stored under the same hash is kept), then (same transaction) deletes
   * expired tokens and the host's tokens beyond the newest `keepPerHost` used and unused; resolves
   * to how many rows were deleted. @throws RangeError for keepPerHost < 1
   */
  insertBounded(row: Omit<TokenRow, 'usedAt'>, keepPerHost: number): Promise<number>;
  /** Deletes expired tokens; resolves to how many. */
  purgeExpired(now: number): Promise<number>;
}

/** Every phone-home received (table `phone_homes`). */
export interface PhoneHomeLog {
  /** Appends one attempt; resolves to its id. */
  record(r: PhoneHomeRecord): Promise<number>;
  /** Newest first (at most `limit`, default 100), all or one host's. */
  list(filter?: { hostUuid?: string; limit?: number }): Promise<PhoneHomeRecord[]>;
  counts(): Promise<Array<{ result: PhoneHomeResult; reason: string; count: number }>>;
  count(): Promise<number>;
}

/** Console users and their sessions (tables `users`, `sessions`; only hashes of secrets). */
export interface UserStore {
  count(): Promise<number>;
  /** @throws DuplicateUserError */
  create(username: string, passwordHash: string, role: Role, at?: number): Promise<UserRecord>;
  /** Creates the user only while there is none; undefined otherwise. */
  createFirst(username: string, passwordHash: string, role: Role, at?: number): Promise<UserRecord | undefined>;
  get(id: number): Promise<UserRecord | undefined>;
  getByName(username: string): Promise<UserRecord | undefined>;
  passwordHash(username: string): Promise<{ user: UserRecord; hash: string } | undefined>;
  list(): Promise<UserRecord[]>;
  setPassword(id: number, passwordHash: string): Promise<boolean>;
  update(id: number, patch: { role?: Role; disabled?: boolean }): Promise<UserRecord | undefined>;
  delete(id: number): Promise<boolean>;
  /** Enabled admins. */
  adminCount(): Promise<number>;
  createSession(idHash: string, userId: number, createdAt: number, expiresAt: number): Promise<void>;
  getSession(idHash: string, now?: number): Promise<SessionRecord | undefined>;
  deleteSession(idHash: string): Promise<void>;
  pruneSessions(now?: number): Promise<number>;
}

/**
 * API bearer tokens (table `api_tokens`; only keyed hashes of the tokens). Not the per-boot
 * phone-home tokens of {@link TokenStore}.
 */
export interface ApiTokenStore {
  /** @throws DuplicateApiTokenError when the name is taken */
  create(t: NewApiToken): Promise<ApiTokenRecord>;
  get(id: number): Promise<ApiTokenRecord | undefined>;
  getByName(name: string): Promise<ApiTokenRecord | undefined>;
  /** By hash, expired ones included. */
  findByHash(hash: string): Promise<ApiTokenRecord | undefined>;
  list(): Promise<ApiTokenRecord[]>;
  /** Records a use (throttled to one write a minute per token); whether it wrote. */
  touch(id: number, at: number): Promise<boolean>;
  /** Revokes at once; whether a token was removed. */
  delete(id: number): Promise<boolean>;
}

/** Lifecycle verbs on hosts (src/store/host-forget.ts): forget a host, delete stale unregistered sightings. */
export interface HostForgetStore {
  /** Forgets the host's row, pin, sightings, boot tokens and boot record. */
  forget(uuid: string): Promise<ForgetResult>;
  /** Deletes unregistered hosts unseen for `olderThanDays`; their UUIDs. */
  deleteStaleUnregistered(olderThanDays: number, now: number): Promise<string[]>;
  deleteUnregistered(uuid: string): Promise<'deleted' | 'missing' | 'registered'>;
}

/** The audit log (table `audit_log`), newest first. */
export interface AuditLog {
  add(e: Omit<AuditEntry, 'id'>): Promise<number>;
  list(limit?: number, beforeId?: number): Promise<AuditEntry[]>;
}

/** Key/value settings (table `settings`). */
export interface SettingsStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  /** Stores `value` unless `key` has one; resolves to the stored value (first writer wins). */
  setIfAbsent(key: string, value: string): Promise<string>;
  delete(key: string): Promise<void>;
}

/** The read side of durable jobs (tables `jobs`, `job_steps`, `job_log`). */
export interface JobHistory {
  get(id: string): Promise<JobRecord | undefined>;
  /** Newest first (at most `limit`, default 100). */
  list(filter?: { state?: JobState; target?: string; limit?: number }): Promise<JobRecord[]>;
  steps(jobId: string): Promise<JobStepRecord[]>;
  /** Log lines with id > `afterId`, oldest first. */
  logs(jobId: string, afterId?: number): Promise<JobLogLine[]>;
}

/** Whether the store answers. */
export interface StoreHealth {
  /** True when the store is open and answers a trivial query; false when closed. @throws the driver's error */
  ping(): Promise<boolean>;
}

/** Runs several calls as one unit of work. */
export interface Transactions {
  /**
   * Runs `fn` in one transaction: committed when its promise resolves, rolled back when it
   * rejects (the error is rethrown). Every store call made from `fn`'s asynchronous context joins
   * it. Nests: an inner call is a SAVEPOINT, rolled back alone when the inner `fn` rejects.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * Member hosts' current boot (table `host_boots`, src/store/hostboots.ts): the phone-home registry
 * records verified phone-homes and their thumbprints; the engine reads boots and records
 * convergence; the web and CLI reset thumbprints.
 */
export interface HostBootStore {
  /** Records a phone-home: time, how it was verified, the thumbprints and host name it sent. */
  recordPhoneHome(
    uuid: string,
    p: {
      at: number;
      verifiedBy: string;
      thumbprint?: string | undefined;
      thumbprintSha1?: string | undefined;
      hostname?: string | undefined;
    },
  ): Promise<void>;
  get(uuid: string, otherByteOrder?: string): Promise<HostBootRecord | undefined>;
  /** `get` for a list of hosts, in a fixed number of queries; by lower-case UUID. */
  getMany(hosts: ReadonlyArray<{ uuid: string; otherByteOrder: string }>): Promise<Map<string, HostBootRecord>>;
  /** Forgets the recorded thumbprints (admin reset); whether any was recorded. */
  resetThumbprint(uuid: string): Promise<boolean>;
}

/** The trust-on-first-use thumbprints by FQDN (table `host_thumbprints`): the admin reset. */
export interface TofuThumbprints {
  /** Whether one was recorded. */
  forgetThumbprint(host: string): Promise<boolean>;
}

/**
 * Stateful members' installs (table `host_installs`, src/store/hostinstalls.ts): the phone-home
 * registry records a reported install, the boot policy reads it (boot-once: an installed host
 * boots from its local disk), the web and CLI request a reinstall.
 */
export interface HostInstallStore {
  get(uuid: string): Promise<HostInstallRecord | undefined>;
  /** When the install was reported done (epoch ms); undefined: an install is due. */
  installedAt(uuid: string): Promise<number | undefined>;
  markInstalled(uuid: string, p: { at: number; address: string }): Promise<void>;
  /** Forgets the install so the next boot installs again; resolves to when the forgotten one was reported. */
  requestReinstall(
    uuid: string,
    p: { at: number; actor: string },
  ): Promise<{ previousInstalledAt: number | undefined }>;
}

/**
 * The site's image catalog (table `image_catalog`, src/store/image-catalog.ts): which images
 * exist and what their files are, shared by every server on one PostgreSQL.
 */
export interface ImageCatalog {
  /** First writer wins; `same` / `conflict` when the name is taken. */
  publish(e: CatalogEntry): Promise<PublishResult>;
  get(name: string): Promise<CatalogEntry | undefined>;
  list(): Promise<CatalogEntry[]>;
  delete(name: string): Promise<boolean>;
}
