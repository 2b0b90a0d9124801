/**
 * The store: the only module that speaks SQL. One repository per table group; open it with
 * {@link openStore}. Subsystems receive the repositories they need, not the database handle.
 */
import type { Database } from 'better-sqlite3';
import { openDatabase } from './db.js';
import { HostRepo } from './hosts.js';
import { AuditRepo, SettingsRepo } from './audit.js';
import { TokenRepo } from './tokens.js';
import { UserRepo } from './users.js';
import { PhoneHomeRepo } from './phonehomes.js';
import { JobRepo } from './jobs.js';
import { LeaseRepo } from './leases.js';
import type { Logger } from '../log.js';

export class Store {
  readonly hosts: HostRepo;
  readonly audit: AuditRepo;
  readonly settings: SettingsRepo;
  readonly tokens: TokenRepo;
  readonly users: UserRepo;
  readonly phoneHomes: PhoneHomeRepo;
  readonly jobs: JobRepo;
  readonly leases: LeaseRepo;

  constructor(readonly db: Database) {
    this.hosts = new HostRepo(db);
    this.audit = new AuditRepo(db);
    this.settings = new SettingsRepo(db);
    this.tokens = new TokenRepo(db);
    this.users = new UserRepo(db);
    this.phoneHomes = new PhoneHomeRepo(db);
    this.jobs = new JobRepo(db);
    this.leases = new LeaseRepo(db);
  }

  /** `PRAGMA integrity_check` result: 'ok' when the file is sound. */
  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Opens `<dataDir>/statelesx.db` (or `':memory:'`), migrated.
 * @throws StoreOpenError when the directory is not writable or the file cannot be opened.
 */
export async function openStore(dataDir: string, log?: Logger): Promise<Store> {
  return new Store(await openDatabase(dataDir, log));
}

export { StoreOpenError } from './db.js';
export type { HostRecord, HostState, HostSighting, BootEvent } from './hosts.js';
export type { AuditEntry } from './audit.js';
export type { PoolAllocation, PoolAllocationKey, PoolAllocationRequest } from './pools.js';
export { PoolAllocationRepo } from './pools.js';
export type { UserRecord, SessionRecord, Role } from './users.js';
