/**
 * 013: retention (src/store/retention.ts) deletes boot events by age and unregistered hosts by
 * last sighting, periodically: index both so a run reads only the rows it deletes.
 */
import type { Database } from 'better-sqlite3';

export const name = '013-retention-indexes';

export function up(db: Database): void {
  db.exec(`
    CREATE INDEX boot_events_at ON boot_events(at);
    CREATE INDEX hosts_state_seen ON hosts(state, last_seen);
  `);
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT, identity keys). */
export const postgres = `
    CREATE INDEX boot_events_at ON boot_events(at);
    CREATE INDEX hosts_state_seen ON hosts(state, last_seen);
  `;
