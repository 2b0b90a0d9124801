/**
 * DHCP leases of full mode (table `dhcp_leases`, migration 001). One row per address; the
 * DHCP service keeps its working set in memory and writes through here, so leases survive a
 * restart. Times are epoch milliseconds; MACs lower-case colon-separated.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { LeaseStore } from './ports.js';

/** offered: held for a client between OFFER and REQUEST; bound: ACKed; declined: the client
 * found the address in use (DHCPDECLINE), quarantined until `expiresAt`; released: given back. */
export type LeaseState = 'offered' | 'bound' | 'declined' | 'released';

/** One lease row. */
export interface DhcpLease {
  address: string;
  mac: string;
  /** Option 61 as hex, or null. */
  clientId: string | null;
  /** Option 12, or null. */
  hostname: string | null;
  state: LeaseState;
  expiresAt: number;
  updatedAt: number;
}

interface LeaseRow {
  address: string;
  mac: string;
  client_id: string | null;
  hostname: string | null;
  state: LeaseState;
  expires_at: number;
  updated_at: number;
}

function toLease(r: LeaseRow): DhcpLease {
  return {
    address: r.address,
    mac: r.mac,
    clientId: r.client_id,
    hostname: r.hostname,
    state: r.state,
    expiresAt: r.expires_at,
    updatedAt: r.updated_at,
  };
}

/** Repository for `dhcp_leases`. Synchronous (better-sqlite3); statements prepared once. */
export class LeaseRepo implements LeaseStore {
  private readonly upsertStmt: Statement;
  private readonly deleteStmt: Statement;

  constructor(private readonly db: Database) {
    this.upsertStmt =
      db.prepare(`INSERT INTO dhcp_leases (address, mac, client_id, hostname, state, expires_at, updated_at)
      VALUES (@address, @mac, @clientId, @hostname, @state, @expiresAt, @updatedAt)
      ON CONFLICT(address) DO UPDATE SET mac = excluded.mac, client_id = excluded.client_id, hostname = excluded.hostname,
        state = excluded.state, expires_at = excluded.expires_at, updated_at = excluded.updated_at`);
    this.deleteStmt = db.prepare('DELETE FROM dhcp_leases WHERE address = ?');
  }

  /** Every lease row, by address. */
  all(): DhcpLease[] {
    const rows = this.db.prepare('SELECT * FROM dhcp_leases ORDER BY address').all() as LeaseRow[];
    return rows.map(toLease);
  }

  /** The lease of `address`, or undefined. */
  get(address: string): DhcpLease | undefined {
    const r = this.db.prepare('SELECT * FROM dhcp_leases WHERE address = ?').get(address) as LeaseRow | undefined;
    return r ? toLease(r) : undefined;
  }

  /** Leases held by `mac` (any state), newest first. */
  byMac(mac: string): DhcpLease[] {
    const rows = this.db
      .prepare('SELECT * FROM dhcp_leases WHERE mac = ? ORDER BY updated_at DESC')
      .all(mac) as LeaseRow[];
    return rows.map(toLease);
  }

  /** Inserts or replaces the row of `lease.address`. */
  upsert(lease: DhcpLease): void {
    this.upsertStmt.run(lease);
  }

  /** Removes the row of `address` (no-op when absent). */
  delete(address: string): void {
    this.deleteStmt.run(address);
  }
}
