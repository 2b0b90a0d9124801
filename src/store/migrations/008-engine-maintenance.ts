/**
 * 008: hosts the engine itself put into maintenance mode (EnterMaintenanceMode_Task), so a later
 * job takes them out again (ExitMaintenanceMode_Task) even when the job that entered it died
 * before its exit step. A host the operator put into maintenance mode has no row and is left alone.
 */
import type { Database } from 'better-sqlite3';

export const name = '008-engine-maintenance';

export function up(db: Database): void {
  db.exec(`
    CREATE TABLE engine_maintenance (
      host_uuid  TEXT PRIMARY KEY,               -- SMBIOS UUID as written in the cluster file, lower case
      job_id     TEXT NOT NULL,                  -- the job that sent EnterMaintenanceMode_Task
      entered_at INTEGER NOT NULL                -- epoch ms, recorded before the call
    );
  `);
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT, identity keys). */
export const postgres = `
    CREATE TABLE engine_maintenance (host_uuid TEXT PRIMARY KEY, job_id TEXT NOT NULL, entered_at BIGINT NOT NULL);
  `;
