/**
 * 004: job steps carry what is needed to run them again after a crash: the step's arguments
 * (JSON, no secrets — passwords are looked up at run time), the host it acts on, and how many
 * attempts it took.
 */
import type { Database } from 'better-sqlite3';

export const name = '004-job-steps-args';

export function up(db: Database): void {
  db.exec(`
    ALTER TABLE job_steps ADD COLUMN args TEXT;
    ALTER TABLE job_steps ADD COLUMN host_uuid TEXT;
    ALTER TABLE job_steps ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
  `);
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT, identity keys). */
export const postgres = `
    ALTER TABLE job_steps ADD COLUMN args TEXT;
    ALTER TABLE job_steps ADD COLUMN host_uuid TEXT;
    ALTER TABLE job_steps ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
  `;
