/**
 * 009: expired phone-home tokens are deleted each time a token is issued
 * (TokenRepo.insertBounded, `DELETE FROM boot_tokens WHERE expires_at < ?`): index the expiry so
 * that purge is a range seek, not a scan; the per-host bound reads the host's rows newest first.
 */
import type { Database } from 'better-sqlite3';

export const name = '009-boot-tokens-expiry-index';

export function up(db: Database): void {
  db.exec('CREATE INDEX boot_tokens_expires ON boot_tokens(expires_at)');
  db.exec('CREATE INDEX boot_tokens_host_created ON boot_tokens(host_uuid, created_at)');
  db.exec('DROP INDEX boot_tokens_host');
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT, identity keys). */
export const postgres = `
    CREATE INDEX boot_tokens_expires ON boot_tokens(expires_at);
    CREATE INDEX boot_tokens_host_created ON boot_tokens(host_uuid, created_at);
    DROP INDEX boot_tokens_host;
  `;
