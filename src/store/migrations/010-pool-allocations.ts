/**
 * 010: VMkernel addresses handed out from a cluster file's address pools (`<addressPool>`), one row
 * per (cluster, pool, port group, member host), so a member keeps its address when members are
 * inserted into or removed from the file (the address used to be "pool start + position in the
 * file"). An address is held by at most one member of a pool. Rows of members that left the file
 * are deleted by the engine's next plan for that cluster.
 */
import type { Database } from 'better-sqlite3';

export const name = '010-pool-allocations';

export function up(db: Database): void {
  db.exec(`
    CREATE TABLE pool_allocations (
      cluster      TEXT NOT NULL,                -- cluster name (the file's <cluster name>)
      pool         TEXT NOT NULL,                -- <addressPool name>
      portgroup    TEXT NOT NULL,                -- port group of the VMkernel NIC the address is for
      host_uuid    TEXT NOT NULL,                -- member's SMBIOS UUID, lower case
      address      TEXT NOT NULL,                -- IPv4 dotted quad
      allocated_at INTEGER NOT NULL,             -- epoch ms
      PRIMARY KEY (cluster, pool, portgroup, host_uuid),
      UNIQUE (cluster, pool, address)
    );
  `);
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT, identity keys). */
export const postgres = `
    CREATE TABLE pool_allocations (
      cluster TEXT NOT NULL, pool TEXT NOT NULL, portgroup TEXT NOT NULL, host_uuid TEXT NOT NULL,
      address TEXT NOT NULL, allocated_at BIGINT NOT NULL,
      PRIMARY KEY (cluster, pool, portgroup, host_uuid), UNIQUE (cluster, pool, address)
    );
  `;
