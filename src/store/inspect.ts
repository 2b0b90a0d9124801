/**
 * The raw SQLite handle of an opened Store, for tests and diagnostics that must assert on the
 * database file itself (no secret in any column, a query plan uses an index, WAL mode). Product
 * code never imports this: subsystems go through the ports in ./ports.ts.
 */
import type { Database } from 'better-sqlite3';
import type { Store } from './index.js';
import { databaseOf } from './handle.js';

/** The better-sqlite3 handle of `store`. @throws Error when `store` was not opened by openStore */
export function sqliteOf(store: Store): Database {
  return databaseOf(store);
}
