/**
 * DHCP leases of full mode (table `dhcp_leases`, migration 001), on either store (./sql.ts). One
 * row per address; the DHCP service keeps its working set in memory and writes through here, so
 * leases survive a restart. Times are epoch milliseconds; MACs lower-case colon-separated.
 *
 * Several servers on one store (issue 18): the row of an address is the arbiter of who holds it.
 * {@link LeaseRepo.claim} takes an address in one statement (`INSERT ... ON CONFLICT (address) DO
 * UPDATE ... WHERE <free for this client> RETURNING address`), so of two servers binding one
 * address for two clients at once exactly one succeeds; {@link LeaseRepo.release} and the
 * conditional {@link LeaseRepo.delete} only touch a row the client still holds.
 */
import type { Sql } from './sql.js';
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

/**
 * Whether the stored `row` lets `mac` take its address at `now` (epoch ms): it expired (a lapsed
 * lease, an offer, a decline's quarantine), or it is not declined and is the client's own or was
 * released. The condition {@link LeaseRepo.claim} applies in SQL, for callers that read a row.
 */
export function leaseFreeFor(row: DhcpLease, mac: string, now: number): boolean {
  return row.expiresAt <= now || (row.state !== 'declined' && (row.mac === mac || row.state === 'released'));
}

const COLUMNS = 'address, mac, client_id, hostname, state, expires_at, updated_at';

const params = (l: DhcpLease) => [l.address, l.mac, l.clientId, l.hostname, l.state, l.expiresAt, l.updatedAt];

/** Repository for `dhcp_leases`, on either store (./sql.ts). */
export class LeaseRepo implements LeaseStore {
  constructor(private readonly sql: Sql) {}

  /** Every lease row, by address (text order). */
  async all(): Promise<DhcpLease[]> {
    return (await this.sql.all<LeaseRow>('SELECT * FROM dhcp_leases ORDER BY address')).map(toLease);
  }

  /** The lease of `address`, or undefined. */
  async get(address: string): Promise<DhcpLease | undefined> {
    const r = await this.sql.get<LeaseRow>('SELECT * FROM dhcp_leases WHERE address = ?', [address]);
    return r && toLease(r);
  }

  /** Leases held by `mac` (any state), newest first. */
  async byMac(mac: string): Promise<DhcpLease[]> {
    const rows = await this.sql.all<LeaseRow>(
      'SELECT * FROM dhcp_leases WHERE mac = ? ORDER BY updated_at DESC, address',
      [mac],
    );
    return rows.map(toLease);
  }

  /**
   * Inserts or replaces the row of `lease.address`, whoever held it: for a DHCPDECLINE's
   * quarantine (the address is in use on the wire, so no one may have it) and for tests. A server
   * handing out an address uses {@link claim}.
   */
  async upsert(lease: DhcpLease): Promise<void> {
    await this.sql.run(
      `INSERT INTO dhcp_leases (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (address) DO UPDATE SET mac = excluded.mac, client_id = excluded.client_id,
        hostname = excluded.hostname, state = excluded.state, expires_at = excluded.expires_at,
        updated_at = excluded.updated_at`,
      params(lease),
    );
  }

  /**
   * Takes `lease.address` for `lease.mac` atomically: writes the row when there is none or the
   * stored one is free for this client at `now` (epoch ms; {@link leaseFreeFor}: expired, or not
   * declined and the client's own or released), in one statement. When `previousAddress` is given
   * and the claim succeeds, the client's row there (not a declined one) is deleted in the same
   * transaction (the client moved). Two claims of one address by two MACs, from two servers at
   * once: exactly one resolves true.
   * @returns false when another client holds the address (nothing written)
   */
  async claim(lease: DhcpLease, now: number, previousAddress?: string): Promise<boolean> {
    const take = async (sql: Sql): Promise<boolean> =>
      (await sql.get<{ address: string }>(
        `INSERT INTO dhcp_leases (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (address) DO UPDATE SET mac = excluded.mac, client_id = excluded.client_id,
          hostname = excluded.hostname, state = excluded.state, expires_at = excluded.expires_at,
          updated_at = excluded.updated_at
        WHERE dhcp_leases.expires_at <= ? OR (dhcp_leases.state <> 'declined'
          AND (dhcp_leases.mac = excluded.mac OR dhcp_leases.state = 'released'))
        RETURNING address`,
        [...params(lease), now],
      )) !== undefined;
    if (previousAddress === undefined || previousAddress === lease.address) return take(this.sql);
    return this.sql.tx(async (sql) => {
      if (!(await take(sql))) return false;
      await sql.run("DELETE FROM dhcp_leases WHERE address = ? AND mac = ? AND state <> 'declined'", [
        previousAddress,
        lease.mac,
      ]);
      return true;
    });
  }

  /**
   * DHCPRELEASE: marks the row of `address` released at `at` (epoch ms; it expires then) when
   * `mac` holds it bound. @returns false when it does not (nothing written)
   */
  async release(address: string, mac: string, at: number): Promise<boolean> {
    return (
      (await this.sql.run(
        "UPDATE dhcp_leases SET state = 'released', expires_at = ?, updated_at = ? WHERE address = ? AND mac = ? AND state = 'bound'",
        [at, at, address, mac],
      )) === 1
    );
  }

  /**
   * Removes the row of `address` (no-op when absent); with `mac`, only while that client holds it
   * and it is not declined.
   */
  async delete(address: string, mac?: string): Promise<void> {
    if (mac === undefined) await this.sql.run('DELETE FROM dhcp_leases WHERE address = ?', [address]);
    else
      await this.sql.run("DELETE FROM dhcp_leases WHERE address = ? AND mac = ? AND state <> 'declined'", [
        address,
        mac,
      ]);
  }
}
