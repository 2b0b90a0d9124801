/**
 * 012: how the engine's last attempt on a member's current boot ended, when it failed for a reason
 * a retry of the same boot cannot fix (the phone-home's thumbprint is not vCenter's, the host's
 * root password is set and not the configured one, another machine holds the member's FQDN, …).
 * Without it every restart queued a rejoin for such a boot again (its phone-home is newer than its
 * last convergence), repeating the failure and counting a spoof again each time. A new phone-home
 * (a new boot) makes the host due again. Kept here rather than derived from `jobs`: a cluster job's
 * target is the cluster, not the host, and a job's reason text does not say whether a retry helps.
 */
import type { Database } from 'better-sqlite3';

export const name = '012-host-boots-failed';

export function up(db: Database): void {
  db.exec(`
    ALTER TABLE host_boots ADD COLUMN failed_at  INTEGER; -- epoch ms a job for the host failed permanently
    ALTER TABLE host_boots ADD COLUMN failed_job TEXT;    -- that job's id
  `);
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT, identity keys). */
export const postgres = `
    ALTER TABLE host_boots ADD COLUMN failed_at BIGINT;
    ALTER TABLE host_boots ADD COLUMN failed_job TEXT;
  `;
