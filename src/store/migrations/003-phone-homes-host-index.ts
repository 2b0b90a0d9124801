/**
 * 003: index `phone_homes` by host, so a host's latest phone-homes (`statelesx host list`, the
 * console's host page) are read without scanning every attempt ever recorded.
 */
import type { Database } from 'better-sqlite3';

export const name = '003-phone-homes-host-index';

export function up(db: Database): void {
  db.exec('CREATE INDEX phone_homes_host ON phone_homes(host_uuid, at)');
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT, identity keys). */
export const postgres = `
    CREATE INDEX phone_homes_host ON phone_homes(host_uuid, at);
  `;
