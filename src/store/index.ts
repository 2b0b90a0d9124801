/**
 * src/store: the store, the only module that speaks SQL. One repository per table group; open it
 * with {@link openStore}. Owns the SQLite file, its migrations and the data-dir lock.
 * Subsystems receive the ports they need (./ports.ts, implemented by the repositories), never the
 * database handle: it is private to this folder (tests that assert on the file itself use
 * ./inspect.ts). May import: log, libraries (better-sqlite3).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Database } from 'better-sqlite3';
import { openDatabase } from './db.js';
import { HostRepo } from './hosts.js';
import { AuditRepo, SettingsRepo } from './audit.js';
import { TokenRepo } from './tokens.js';
import { UserRepo } from './users.js';
import { ApiTokenRepo } from './api-tokens.js';
import { HostForgetRepo } from './host-forget.js';
import { PhoneHomeRepo } from './phonehomes.js';
import { JobRepo } from './jobs.js';
import { LeaseRepo } from './leases.js';
import { attachDatabase } from './handle.js';
import type { StoreHealth, Transactions } from './ports.js';
import { HostBootRepo } from './hostboots.js';
import { HostInstallRepo } from './hostinstalls.js';
import { RetentionRepo } from './retention.js';
import { ImageCatalogRepo } from './image-catalog.js';
import { ClusterFileRepo } from './cluster-files.js';
import { PostgresSql, SqliteSql, type Dialect, type Sql } from './sql.js';
import { openPostgres, redactDatabaseUrl } from './pg.js';
import type pg from 'pg';
import type { Logger } from '../log.js';

/**
 * What a {@link Store} runs on: SQLite (one better-sqlite3 connection, the embedded default) or
 * PostgreSQL (a node-postgres pool shared by several servers, issue 18).
 */
export type StoreBackend =
  | { dialect: 'sqlite'; db: Database }
  | { dialect: 'postgres'; pool: pg.Pool; /** For messages, password redacted. */ url: string };

/** The opened store: its repositories, health, transactions and close. */
export class Store implements StoreHealth, Transactions {
  readonly hosts: HostRepo;
  readonly audit: AuditRepo;
  readonly settings: SettingsRepo;
  readonly tokens: TokenRepo;
  readonly users: UserRepo;
  /** API bearer tokens (`api_tokens`), not the per-boot phone-home tokens of {@link tokens}. */
  readonly apiTokens: ApiTokenRepo;
  /** Forget a host; delete stale unregistered sightings (admin lifecycle verbs). */
  readonly hostForget: HostForgetRepo;
  readonly phoneHomes: PhoneHomeRepo;
  readonly jobs: JobRepo;
  readonly leases: LeaseRepo;
  /** Member hosts' current boot (phone-home thumbprints, convergence): the stateless lifecycle. */
  readonly hostBoots: HostBootRepo;
  /** Stateful members' installs (boot-once) and reinstall requests. */
  readonly hostInstalls: HostInstallRepo;
  /** Deletes boot events, phone-homes and unregistered hosts past their retention. */
  readonly retention: RetentionRepo;
  /** The site's image catalog (manifests of every published image). */
  readonly imageCatalog: ImageCatalogRepo;
  /** Cluster files shared by several servers (the source of truth on PostgreSQL). */
  readonly clusterFiles: ClusterFileRepo;

  /** Which engine the store runs on. */
  readonly dialect: Dialect;
  /** Where, for messages: the SQLite file's directory or the PostgreSQL URL with its password redacted. */
  readonly location: string;
  readonly #backend: StoreBackend;
  /** The SQL executor of the repositories already on it (./sql.ts); the others use the handle. */
  readonly #sql: Sql;
  #closed = false;
  #ended: Promise<void> = Promise.resolve();
  /** Nesting depth of {@link transaction} in the current asynchronous context (undefined: none open). */
  readonly #txDepth = new AsyncLocalStorage<{ depth: number; scope: { open: boolean } }>();

  constructor(backend: StoreBackend) {
    this.#backend = backend;
    this.dialect = backend.dialect;
    this.location = backend.dialect === 'sqlite' ? backend.db.name : backend.url;
    this.#sql = backend.dialect === 'sqlite' ? new SqliteSql(backend.db) : new PostgresSql(backend.pool);
    if (backend.dialect === 'sqlite') attachDatabase(this, backend.db);
    this.hosts = new HostRepo(this.#sql);
    this.audit = new AuditRepo(this.#sql);
    this.settings = new SettingsRepo(this.#sql);
    this.tokens = new TokenRepo(this.#sql);
    this.users = new UserRepo(this.#sql);
    this.apiTokens = new ApiTokenRepo(this.#sql);
    this.hostForget = new HostForgetRepo(this.#sql);
    this.phoneHomes = new PhoneHomeRepo(this.#sql);
    this.jobs = new JobRepo(this.#sql);
    this.leases = new LeaseRepo(this.#sql);
    this.hostBoots = new HostBootRepo(this.#sql);
    this.hostInstalls = new HostInstallRepo(this.#sql);
    this.retention = new RetentionRepo(this.#sql);
    this.imageCatalog = new ImageCatalogRepo(this.#sql);
    this.clusterFiles = new ClusterFileRepo(this.#sql);
  }

  /**
   * True when the store is open and answers `SELECT 1`; false when closed.
   * @throws the driver's error (SqliteError; PostgreSQL unreachable, ECONNREFUSED, 57P01 …)
   */
  async ping(): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#backend.dialect === 'sqlite' && !this.#backend.db.open) return false;
    return Number((await this.#sql.get<{ one: number }>('SELECT 1 AS one'))?.one) === 1;
  }

  /**
   * Runs `fn` in one transaction on the SQL executor (`Sql.tx`: BEGIN … COMMIT, ROLLBACK and
   * rethrow when `fn` rejects). Statements from `fn`'s asynchronous context join it while it is
   * open; work that context scheduled and that runs after it ended is outside it. A nested call is
   * a SAVEPOINT: its writes are rolled back alone when its `fn` rejects, the outer ones kept.
   */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    const cur = this.#txDepth.getStore();
    // Not open (any more): work scheduled from an ended transaction's context starts its own.
    if (!cur?.scope.open) {
      const scope = { open: true };
      return this.#sql.tx(() => this.#txDepth.run({ depth: 1, scope }, fn).finally(() => (scope.open = false)));
    }
    const name = `sx_${cur.depth}`;
    await this.#sql.run(`SAVEPOINT ${name}`);
    try {
      const out = await this.#txDepth.run({ depth: cur.depth + 1, scope: cur.scope }, fn);
      await this.#sql.run(`RELEASE SAVEPOINT ${name}`);
      return out;
    } catch (e) {
      await this.#sql.run(`ROLLBACK TO SAVEPOINT ${name}`);
      await this.#sql.run(`RELEASE SAVEPOINT ${name}`);
      throw e;
    }
  }

  /** SQLite's `PRAGMA integrity_check` result: 'ok' when the file is sound; 'ok' on PostgreSQL (the server keeps its own). */
  integrityCheck(): string {
    if (this.#backend.dialect !== 'sqlite') return 'ok';
    return this.#backend.db.pragma('integrity_check', { simple: true }) as string;
  }

  /**
   * Closes the database (idempotent). On PostgreSQL it starts ending the pool (connections close
   * once their queries finish); {@link end} waits for that.
   */
  close(): void {
    void this.end().catch(() => undefined);
  }

  /** Closes the database or ends the pool and waits until every connection is closed (idempotent). */
  async end(): Promise<void> {
    if (this.#closed) return this.#ended;
    this.#closed = true;
    if (this.#backend.dialect === 'sqlite') {
      if (this.#backend.db.open) this.#backend.db.close();
      return;
    }
    this.#ended = this.#backend.pool.end();
    return this.#ended;
  }
}

/** Where {@link openStore} opens the store. */
export interface StoreTarget {
  /** SQLite's directory (`<dataDir>/statelesx.db`), or `':memory:'`; unused with {@link url}. */
  dataDir: string;
  /** PostgreSQL connection string (config `store.url`); absent: SQLite. */
  url?: string | undefined;
  /** PostgreSQL password (config `store.password-file` / `password-env`), when not in the URL or ~/.pgpass. */
  password?: string | undefined;
  /** PostgreSQL pool size (config `store.pool-size`, default 10). */
  poolSize?: number | undefined;
}

/**
 * Opens the store, migrated: SQLite `<dataDir>/statelesx.db` (or `':memory:'`) when given a
 * directory, PostgreSQL when given a {@link StoreTarget} with a `url`.
 * @throws StoreOpenError when the directory is not writable or the file cannot be opened; for
 *   PostgreSQL naming the URL (password redacted) and the server's reason.
 */
export async function openStore(target: string | StoreTarget, log?: Logger): Promise<Store> {
  const t = typeof target === 'string' ? { dataDir: target } : target;
  if (t.url) {
    const pool = await openPostgres(t.url, log, t.poolSize, t.password);
    try {
      return new Store({ dialect: 'postgres', pool, url: redactDatabaseUrl(t.url) });
    } catch (e) {
      await pool.end();
      throw e;
    }
  }
  return new Store({ dialect: 'sqlite', db: await openDatabase(t.dataDir, log) });
}

export { StoreOpenError } from './db.js';
export type { HostRecord, HostState, HostSighting, BootEvent, HostPage, HostPageKey } from './hosts.js';
export type { AuditEntry } from './audit.js';
export type { PoolAllocation, PoolAllocationKey, PoolAllocationRequest } from './pools.js';
export { PoolAllocationRepo } from './pools.js';
export { leaseFreeFor, type DhcpLease, type LeaseState } from './leases.js';
export type { PhoneHomeRecord, PhoneHomeResult } from './phonehomes.js';
export type { JobRecord, JobStepRecord, JobLogLine, JobState, JobKind } from './jobs.js';
export { DuplicateUserError, ROLES } from './users.js';
export { DuplicateApiTokenError, type ApiTokenRecord } from './api-tokens.js';
export type { ForgetResult } from './host-forget.js';
export type * from './ports.js';
export { HostBootRepo, type HostBootRecord } from './hostboots.js';
export { HostInstallRepo, type HostInstallRecord } from './hostinstalls.js';
export type { RetentionPolicy, RetentionResult } from './retention.js';
export type { CatalogEntry, PublishResult } from './image-catalog.js';
export type { SharedClusterFileHead, SharedClusterFileWrite } from './cluster-files.js';
export type { UserRecord, SessionRecord, Role } from './users.js';
