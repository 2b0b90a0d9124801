/**
 * 017: job leases (issue 18 item 3, jobs shared between servers). A server that runs a job holds
 * a lease on it: `lease_owner` names the server (any string it chooses, unique per process), and
 * `lease_expires_at` (epoch ms) is when the lease lapses unless renewed by a heartbeat. A job whose
 * lease has lapsed (its server died) may be claimed by another server, which re-plans it as crash
 * recovery does. NULL in both: nobody holds the job. See JobRepo.claimNext and JobRepo.heartbeat.
 */
import type { Database } from 'better-sqlite3';

export const name = '017-job-leases';

export function up(db: Database): void {
  db.exec(`
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;             -- the server holding the job, or NULL
    ALTER TABLE jobs ADD COLUMN lease_expires_at INTEGER;     -- epoch ms; the lease lapses then unless renewed
  `);
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT). */
export const postgres = `
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_expires_at BIGINT;
  `;
