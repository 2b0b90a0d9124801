/**
 * Address pool allocations (`pool_allocations`, migration 010): which member host holds which
 * address of a cluster file's `<addressPool>` for the VMkernel NIC on a port group. Addresses are
 * IPv4 dotted quads; ranges are inclusive. All changes run in one SQLite transaction each, so two
 * jobs of the same process never hand out one address twice (UNIQUE (cluster, pool, address)).
 */
import type { Database } from 'better-sqlite3';

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

/** The `pool_allocations` table. */
export class PoolAllocationRepo {
  constructor(private readonly db: Database) {}

  /** Allocations of a cluster, by pool, then address. */
  list(cluster: string): PoolAllocation[] {
    const rows = this.db
      .prepare('SELECT * FROM pool_allocations WHERE cluster = ? ORDER BY pool, address')
      .all(cluster) as Row[];
    return rows.map((r) => ({
      cluster: r.cluster,
      pool: r.pool,
      portgroup: r.portgroup,
      hostUuid: r.host_uuid,
      address: r.address,
      allocatedAt: r.allocated_at,
    }));
  }

  /**
   * The address of (cluster, pool, port group, host): the recorded one while it is inside the
   * range and not reserved; else `prefer` when it is in the range and free; else the lowest free
   * address of the range. Recorded before it is returned.
   * @returns undefined when the pool has no free address
   * @throws Error when start/end are not IPv4 dotted quads
   */
  allocate(r: PoolAllocationRequest): string | undefined {
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
    return this.db.transaction((): string | undefined => {
      const mine = this.db
        .prepare(
          'SELECT address FROM pool_allocations WHERE cluster = ? AND pool = ? AND portgroup = ? AND host_uuid = ?',
        )
        .pluck()
        .get(r.cluster, r.pool, r.portgroup, uuid) as string | undefined;
      if (mine !== undefined && usable(mine)) return mine;
      if (mine !== undefined) {
        this.db
          .prepare('DELETE FROM pool_allocations WHERE cluster = ? AND pool = ? AND portgroup = ? AND host_uuid = ?')
          .run(r.cluster, r.pool, r.portgroup, uuid);
      }
      const taken = new Set(
        this.db
          .prepare('SELECT address FROM pool_allocations WHERE cluster = ? AND pool = ?')
          .pluck()
          .all(r.cluster, r.pool) as string[],
      );
      let pick: string | undefined = usable(r.prefer) && !taken.has(r.prefer) ? r.prefer : undefined;
      for (let n = start; pick === undefined && n <= end; n++) {
        const ip = toIp(n);
        if (!taken.has(ip) && !reserved.has(ip)) pick = ip;
      }
      if (pick === undefined) return undefined;
      this.db
        .prepare(
          'INSERT INTO pool_allocations (cluster, pool, portgroup, host_uuid, address, allocated_at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(r.cluster, r.pool, r.portgroup, uuid, pick, r.at);
      return pick;
    })();
  }

  /**
   * Releases every allocation of the cluster that is not in `keep` (members that left the file,
   * NICs no longer addressed from that pool). @returns the number of released addresses
   */
  releaseExcept(cluster: string, keep: PoolAllocationKey[]): number {
    const want = new Set(keep.map((k) => `${k.pool}\n${k.portgroup}\n${k.hostUuid.toLowerCase()}`));
    return this.db.transaction((): number => {
      let n = 0;
      for (const a of this.list(cluster)) {
        if (want.has(`${a.pool}\n${a.portgroup}\n${a.hostUuid}`)) continue;
        n += this.db
          .prepare('DELETE FROM pool_allocations WHERE cluster = ? AND pool = ? AND portgroup = ? AND host_uuid = ?')
          .run(cluster, a.pool, a.portgroup, a.hostUuid).changes;
      }
      return n;
    })();
  }
}
