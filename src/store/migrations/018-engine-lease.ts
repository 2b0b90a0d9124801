/**
 * 018: the engine lease and cancel requests (issue 18 item 3, jobs shared between servers). With
 * several servers on one PostgreSQL exactly one of them schedules and runs jobs: the holder of
 * the `engine` row of `engine_leases` (renewed by a heartbeat; it lapses when its server dies and
 * another server takes over). `jobs.cancel_requested_by` carries a cancel asked on any server to
 * the one running the job, which stops it between steps.
 */
import type { Database } from 'better-sqlite3';

export const name = '018-engine-lease';

export function up(db: Database): void {
  db.exec(`
    CREATE TABLE engine_leases (
      name       TEXT PRIMARY KEY,    -- 'engine'
      owner      TEXT NOT NULL,       -- host:pid:random of the holding server
      expires_at INTEGER NOT NULL     -- epoch ms; lapses then unless renewed
    );
    ALTER TABLE jobs ADD COLUMN cancel_requested_by TEXT;  -- who asked to cancel (actor), or NULL
  `);
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT). */
export const postgres = `
    CREATE TABLE engine_leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at BIGINT NOT NULL);
    ALTER TABLE jobs ADD COLUMN cancel_requested_by TEXT;
  `;
