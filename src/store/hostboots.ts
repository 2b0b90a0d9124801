/**
 * Member hosts' current boot, as the engine needs it for the stateless lifecycle (table
 * `host_boots`, migration 011): the last verified phone-home with the SSL thumbprints the host
 * reported, the thumbprint vCenter last accepted, the last convergence and the last failure a
 * retry cannot fix (migration 012). On either store through the SQL executor (./sql.ts). UUIDs
 * are stored lower case.
 */
import type { Sql } from './sql.js';
import { jsonTextElements } from './dialect.js';
import type { HostBootStore } from './ports.js';

/** One host's row. Times are epoch ms; thumbprints upper-case colon hex. */
export interface HostBootRecord {
  uuid: string;
  phonedHomeAt?: number | undefined;
  /** How the last phone-home was authenticated: `token`, `address` or `none` (legacy, unverified). */
  verifiedBy?: string | undefined;
  /** SHA-256 thumbprint reported in the last phone-home. */
  thumbprint?: string | undefined;
  /** SHA-1 thumbprint reported in the last phone-home. */
  thumbprintSha1?: string | undefined;
  /**
   * Host name (an FQDN from current initiators, a short name from older ones) sent in the last
   * phone-home (migration 016), lower case; undefined when it sent none.
   */
  hostname?: string | undefined;
  /** The thumbprint vCenter accepted at the last AddHost_Task / ReconnectHost_Task. */
  joinedThumbprint?: string | undefined;
  convergedAt?: number | undefined;
  /**
   * When a job for the host last failed for a reason a retry of the same boot cannot fix
   * (migration 012); with {@link failedJob}. Older than {@link phonedHomeAt}: a new boot since.
   */
  failedAt?: number | undefined;
  /** The id of that job. */
  failedJob?: string | undefined;
  /** Newest PXE/boot-file answer served to the host (table `boot_events`, either UUID byte order). */
  pxeBootAt?: number | undefined;
}

interface Row {
  host_uuid: string;
  phoned_home_at: number | null;
  verified_by: string | null;
  thumbprint: string | null;
  thumbprint_sha1: string | null;
  hostname: string | null;
  joined_thumbprint: string | null;
  converged_at: number | null;
  failed_at: number | null;
  failed_job: string | null;
}

const u = (x: string) => x.toLowerCase();
const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

/** One host's record from its `host_boots` row (if any) and its newest boot event (epoch ms, if any). */
function toRecord(uuid: string, r: Row | undefined, pxeBootAt: number | undefined): HostBootRecord {
  return {
    uuid: u(uuid),
    phonedHomeAt: opt(r?.phoned_home_at ?? null),
    verifiedBy: opt(r?.verified_by ?? null),
    thumbprint: opt(r?.thumbprint ?? null),
    thumbprintSha1: opt(r?.thumbprint_sha1 ?? null),
    hostname: opt(r?.hostname ?? null),
    joinedThumbprint: opt(r?.joined_thumbprint ?? null),
    convergedAt: opt(r?.converged_at ?? null),
    failedAt: opt(r?.failed_at ?? null),
    failedJob: opt(r?.failed_job ?? null),
    pxeBootAt,
  };
}

/** Repository of `host_boots`, on either store (./sql.ts). */
export class HostBootRepo implements HostBootStore {
  constructor(private readonly sql: Sql) {}

  /** Records a verified phone-home (replaces the previous boot's thumbprints and host name). */
  async recordPhoneHome(
    uuid: string,
    p: {
      at: number;
      verifiedBy: string;
      thumbprint?: string | undefined;
      thumbprintSha1?: string | undefined;
      hostname?: string | undefined;
    },
  ): Promise<void> {
    await this.sql.run(
      `INSERT INTO host_boots (host_uuid, phoned_home_at, verified_by, thumbprint, thumbprint_sha1, hostname)
      VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT(host_uuid) DO UPDATE SET phoned_home_at = excluded.phoned_home_at,
        verified_by = excluded.verified_by, thumbprint = excluded.thumbprint,
        thumbprint_sha1 = excluded.thumbprint_sha1, hostname = excluded.hostname`,
      [u(uuid), p.at, p.verifiedBy, p.thumbprint ?? null, p.thumbprintSha1 ?? null, p.hostname ?? null],
    );
  }

  /** The host's row plus its newest boot event (either byte order); undefined when neither exists. */
  async get(uuid: string, otherByteOrder?: string): Promise<HostBootRecord | undefined> {
    const r = await this.sql.get<Row>('SELECT * FROM host_boots WHERE host_uuid = ?', [u(uuid)]);
    const pxe = await this.sql.get<{ at: number | null }>(
      'SELECT max(at) AS at FROM boot_events WHERE lower(host_uuid) IN (?, ?)',
      [u(uuid), u(otherByteOrder ?? uuid)],
    );
    if (!r && (pxe?.at ?? null) === null) return undefined;
    return toRecord(uuid, r, opt(pxe?.at ?? null));
  }

  /**
   * {@link get} for many hosts in two queries (one per table), whatever their number: for lists.
   * The UUID lists go as one JSON parameter (./dialect.ts).
   * @param hosts each host's UUID and its other byte order
   * @returns the records by lower-case UUID; hosts with neither a row nor a boot event are absent
   */
  async getMany(hosts: ReadonlyArray<{ uuid: string; otherByteOrder: string }>): Promise<Map<string, HostBootRecord>> {
    const out = new Map<string, HostBootRecord>();
    if (hosts.length === 0) return out;
    const list = jsonTextElements(this.sql.dialect);
    const rows = await this.sql.all<Row>(`SELECT * FROM host_boots WHERE host_uuid IN (SELECT value FROM ${list})`, [
      JSON.stringify(hosts.map((h) => u(h.uuid))),
    ]);
    const byUuid = new Map(rows.map((r) => [r.host_uuid, r]));
    const ids = hosts.flatMap((h) => [u(h.uuid), u(h.otherByteOrder)]);
    const pxeRows = await this.sql.all<{ id: string; at: number }>(
      `SELECT lower(host_uuid) AS id, max(at) AS at FROM boot_events
      WHERE lower(host_uuid) IN (SELECT value FROM ${list}) GROUP BY lower(host_uuid)`,
      [JSON.stringify(ids)],
    );
    const pxeBy = new Map(pxeRows.map((r) => [r.id, r.at]));
    for (const h of hosts) {
      const r = byUuid.get(u(h.uuid));
      const a = pxeBy.get(u(h.uuid));
      const b = pxeBy.get(u(h.otherByteOrder));
      const pxe = a === undefined ? b : b === undefined ? a : Math.max(a, b);
      if (!r && pxe === undefined) continue;
      out.set(u(h.uuid), toRecord(h.uuid, r, pxe));
    }
    return out;
  }

  /** Records the thumbprint vCenter accepted for the host (AddHost_Task / ReconnectHost_Task). */
  async setJoinedThumbprint(uuid: string, thumbprint: string): Promise<void> {
    await this.sql.run(
      `INSERT INTO host_boots (host_uuid, joined_thumbprint) VALUES (?, ?)
      ON CONFLICT(host_uuid) DO UPDATE SET joined_thumbprint = excluded.joined_thumbprint`,
      [u(uuid), thumbprint],
    );
  }

  /** Records that a job for the host succeeded at `at`. */
  async markConverged(uuid: string, at: number): Promise<void> {
    await this.sql.run(
      `INSERT INTO host_boots (host_uuid, converged_at) VALUES (?, ?)
      ON CONFLICT(host_uuid) DO UPDATE SET converged_at = excluded.converged_at`,
      [u(uuid), at],
    );
  }

  /**
   * Records that job `jobId` for the host failed at `at` for a reason a retry of the same boot
   * cannot fix: {@link pendingRejoins} leaves this boot out until the host phones home again.
   */
  async markFailed(uuid: string, at: number, jobId: string): Promise<void> {
    await this.sql.run(
      `INSERT INTO host_boots (host_uuid, failed_at, failed_job) VALUES (?, ?, ?)
      ON CONFLICT(host_uuid) DO UPDATE SET failed_at = excluded.failed_at, failed_job = excluded.failed_job`,
      [u(uuid), at, jobId],
    );
  }

  /**
   * Forgets the thumbprints recorded for the host (reported and accepted): an admin reset after a
   * certificate was replaced on purpose. @returns whether a row had any
   */
  async resetThumbprint(uuid: string): Promise<boolean> {
    const n = await this.sql.run(
      `UPDATE host_boots SET thumbprint = NULL, thumbprint_sha1 = NULL, joined_thumbprint = NULL
      WHERE host_uuid = ? AND (thumbprint IS NOT NULL OR thumbprint_sha1 IS NOT NULL OR joined_thumbprint IS NOT NULL)`,
      [u(uuid)],
    );
    return n > 0;
  }

  /**
   * Hosts whose last phone-home is newer than their last convergence (a boot not yet rejoined) and
   * whose job for that boot did not fail for good ({@link markFailed}): a boot whose job never ran
   * or was interrupted. Oldest phone-home first.
   */
  async pendingRejoins(): Promise<string[]> {
    const rows = await this.sql.all<{ host_uuid: string }>(
      `SELECT host_uuid FROM host_boots
      WHERE phoned_home_at IS NOT NULL AND (converged_at IS NULL OR converged_at < phoned_home_at)
        AND (failed_at IS NULL OR failed_at < phoned_home_at)
      ORDER BY phoned_home_at, host_uuid`,
    );
    return rows.map((r) => r.host_uuid);
  }
}
