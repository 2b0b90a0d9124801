/**
 * The ordered list of schema migrations. Add a new file `NNN-name.ts` exporting `name` and
 * `up(db)`, and append it here; never edit a migration that has shipped.
 */
import type { Database } from 'better-sqlite3';
import * as m001 from './001-initial.js';
import * as m003 from './003-phone-homes-host-index.js';
import * as m004 from './004-job-steps-args.js';
import * as m007 from './007-boot-events-address-index.js';
import * as m008 from './008-engine-maintenance.js';
import * as m009 from './009-boot-tokens-expiry-index.js';
import * as m010 from './010-pool-allocations.js';
import * as m011 from './011-host-boots.js';
import * as m012 from './012-host-boots-failed.js';
import * as m013 from './013-retention-indexes.js';
import * as m014 from './014-host-installs.js';
import * as m015 from './015-api-tokens.js';
import * as m016 from './016-host-boots-hostname.js';
import * as m017 from './017-job-leases.js';
import * as m018 from './018-engine-lease.js';
import * as m019 from './019-image-catalog.js';
import * as m020 from './020-cluster-files.js';

/**
 * One step of the schema history, the same for both stores: `up` applies it to SQLite, `postgres`
 * is the same change as PostgreSQL SQL (one history, two dialects; test/integration/store-schema-
 * pg.test.ts checks both end with the same tables, columns and indexes).
 */
export interface Migration {
  name: string;
  up(db: Database): void;
  postgres: string;
}

export const migrations: Migration[] = [
  m001,
  m003,
  m004,
  m007,
  m008,
  m009,
  m010,
  m011,
  m012,
  m013,
  m014,
  m015,
  m016,
  m017,
  m018,
  m019,
  m020,
];
