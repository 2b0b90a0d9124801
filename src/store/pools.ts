/**
 * Address pool allocations (`pool_allocations`, migration 010): which member host holds which
 * address of a cluster file's `<addressPool>` for the VMkernel NIC on a port group. Addresses are
 * IPv4 dotted quads; ranges are inclusive. On either store through the SQL executor (./sql.ts); each
 * change runs in one transaction, and an address is claimed by a conditional insert
 * (`ON CONFLICT DO NOTHING` against UNIQUE (cluster, pool, address)), so two jobs — of one process
 * or of two servers on one PostgreSQL — never hand out one address twice: the loser of a race
 * re-reads and takes the next free one.
 */
import type { Sql } from './sql.js';

/** One allocation. `hostUuid` is lower case. */
export interface PoolAllocation {
  cluster: string;
  pool: string;
  portgroup: string;
  hostUuid: string;
  address: string;
  allocatedAt: number;
}

/** What {@link PoolAllocationRepo.allocate} needs. */
export interface PoolAllocationRequest {
  cluster: string;
  pool: string;
  portgroup: string;
  hostUuid: string;
  /** First and last address of the pool (dotted quads, inclusive). */
  start: string;
  end: string;
  /** Addresses never handed out (e.g. the file's static addresses of other NICs). */
  reserved?: ReadonlySet<string>;
  /** The address the NIC already has (kept when it is in the range and nobody else holds it). */
  prefer?: string | undefined;
  at: number;
}

/** A key of an allocation that is still wanted (see {@link PoolAllocationRepo.releaseExcept}). */
export interface PoolAllocationKey {
  pool: string;
  portgroup: string;
  hostUuid: string;
}

interface Row {
  cluster: string;
  pool: string;
  portgroup: string;
  host_uuid: string;
  address: string;
  allocated_at: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function toInt(ip: string): number | undefined {
  const m = IPV4.exec(ip);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  return o.some((x) => x > 255) ? undefined : o.reduce((n, x) => n * 256 + x, 0);
}

function toIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

function toAllocation(r: Row): PoolAllocation {
  return {
    cluster: r.cluster,
    pool: r.pool,
    portgroup: r.portgroup,
    hostUuid: r.host_uuid,
    address: r.address,
    allocatedAt: r.allocated_at,
  };
}

/** The `pool_allocations` table, on either store. */
export class PoolAllocationRepo {
  constructor(private readonly sql: Sql) {}

  /** Allocations of a cluster, by pool, then address. */
  async list(cluster: string): Promise<PoolAllocation[]> {
    const rows = await this.sql.all<Row>('SELECT * FROM pool_allocations WHERE cluster = ? ORDER BY pool, address', [
      cluster,
    ]);
    return rows.map(toAllocation);
  }

  /**
   * The address of (cluster, pool, port group, host): the recorded one while it is inside the
   * range and not reserved; else `prefer` when it is in the range and free; else the lowest free
   * address of the range. Recorded before it resolves (one transaction; see the module header for
   * concurrent callers).
   * @returns undefined when the pool has no free address
   * @throws Error when start/end are not IPv4 dotted quads
   */
  async allocate(r: PoolAllocationRequest): Promise<string | undefined> {
    const start = toInt(r.start);
    const end = toInt(r.end);
    if (start === undefined || end === undefined)
      throw new Error(`address pool ${r.pool} of cluster ${r.cluster}: ${r.start}–${r.end} is not an IPv4 range`);
    const uuid = r.hostUuid.toLowerCase();
    const reserved = r.reserved ?? new Set<string>();
    const usable = (ip: string | undefined): ip is string => {
      const n = ip === undefined ? undefined : toInt(ip);
      return n !== undefined && n >= start && n <= end && !reserved.has(ip!);
    };
    const key = [r.cluster, r.pool, r.portgroup, uuid];
    return this.sql.tx(async (sql) => {
      // Each lost race (another caller inserted first) costs one pass; there are at most as many
      // as the range has addresses, plus one for a concurrent allocation of this very key.
      for (let pass = 0; pass <= end - start + 2; pass++) {
        const mine = await sql.get<{ address: string }>(
          'SELECT address FROM pool_allocations WHERE cluster = ? AND pool = ? AND portgroup = ? AND host_uuid = ?',
          key,
        );
        if (mine !== undefined && usable(mine.address)) return mine.address;
        if (mine !== undefined)
          await sql.run(
            'DELETE FROM pool_allocations WHERE cluster = ? AND pool = ? AND portgroup = ? AND host_uuid = ?',
            key,
          );
        const taken = new Set(
          (
            await sql.all<{ address: string }>('SELECT address FROM pool_allocations WHERE cluster = ? AND pool = ?', [
              r.cluster,
              r.pool,
            ])
          ).map((x) => x.address),
        );
        let pick: string | undefined = usable(r.prefer) && !taken.has(r.prefer) ? r.prefer : undefined;
        for (let n = start; pick === undefined && n <= end; n++) {
          const ip = toIp(n);
          if (!taken.has(ip) && !reserved.has(ip)) pick = ip;
        }
        if (pick === undefined) return undefined;
        const won = await sql.get<{ address: string }>(
          `INSERT INTO pool_allocations (cluster, pool, portgroup, host_uuid, address, allocated_at)
          VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING address`,
          [...key, pick, r.at],
        );
        if (won) return won.address;
      }
      throw new Error(`address pool ${r.pool} of cluster ${r.cluster}: lost every allocation race, giving up`);
    });
  }

  /**
   * Releases every allocation of the cluster that is not in `keep` (members that left the file,
   * NICs no longer addressed from that pool), in one transaction. @returns the number of released addresses
   */
  async releaseExcept(cluster: string, keep: PoolAllocationKey[]): Promise<number> {
    const want = new Set(keep.map((k) => `${k.pool}\n${k.portgroup}\n${k.hostUuid.toLowerCase()}`));
    return this.sql.tx(async (sql) => {
      let n = 0;
      for (const a of await this.list(cluster)) {
        if (want.has(`${a.pool}\n${a.portgroup}\n${a.hostUuid}`)) continue;
        n += await sql.run(
          'DELETE FROM pool_allocations WHERE cluster = ? AND pool = ? AND portgroup = ? AND host_uuid = ?',
          [cluster, a.pool, a.portgroup, a.hostUuid],
        );
      }
      return n;
    });
  }
}
