/**
 * 007: boot files are matched to a host by the client address of its latest identified boot
 * event (HostRepo.lastIdentifiedBootEventFrom), once per TFTP/HTTP request: index it.
 */
import type { Database } from 'better-sqlite3';

export const name = '007-boot-events-address-index';

export function up(db: Database): void {
  db.exec('CREATE INDEX boot_events_address ON boot_events(address, at)');
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT, identity keys). */
export const postgres = `
    CREATE INDEX boot_events_address ON boot_events(address, at);
  `;
