/**
 * 011: what the engine knows of each member host's current boot (the stateless lifecycle): when
 * it last phoned home with a verified message and the SSL thumbprints it reported then (a
 * stateless host makes a new certificate at every boot), the thumbprint vCenter last accepted for
 * it (AddHost_Task / ReconnectHost_Task), and when its last job converged. A boot newer than the
 * last convergence means the host needs a rejoin. Keyed by hardware UUID, not FQDN: a thumbprint
 * belongs to a machine and one of its boots (`host_thumbprints`, by FQDN, stays for the
 * trust-on-first-use policy).
 */
import type { Database } from 'better-sqlite3';

export const name = '011-host-boots';

export function up(db: Database): void {
  db.exec(`
    CREATE TABLE host_boots (
      host_uuid         TEXT PRIMARY KEY,      -- SMBIOS UUID as the cluster file spells it, lower case
      phoned_home_at    INTEGER,               -- epoch ms of the last accepted (verified) phone-home
      verified_by       TEXT,                  -- token | address | none
      thumbprint        TEXT,                  -- SHA-256 colon hex reported in that phone-home
      thumbprint_sha1   TEXT,                  -- SHA-1 colon hex reported in that phone-home
      joined_thumbprint TEXT,                  -- thumbprint vCenter accepted at the last add/reconnect
      converged_at      INTEGER                -- epoch ms the last job for the host succeeded
    );
  `);
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT, identity keys). */
export const postgres = `
    CREATE TABLE host_boots (
      host_uuid TEXT PRIMARY KEY, phoned_home_at BIGINT, verified_by TEXT, thumbprint TEXT, thumbprint_sha1 TEXT,
      joined_thumbprint TEXT, converged_at BIGINT
    );
  `;
