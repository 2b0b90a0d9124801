/**
 * Phone-home attempts (table `phone_homes`, migration 001): every message that parsed, accepted or
 * refused, with where it came from. Messages refused before parsing (garbage, oversized, …) are
 * only counted, never stored. Times are epoch milliseconds.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { PhoneHomeLog } from './ports.js';

/** `ok` = configure job queued; `unregistered` = no match, host listed; `refused` = see reason. */
export type PhoneHomeResult = 'ok' | 'unregistered' | 'refused';

export interface PhoneHomeRecord {
  id?: number;
  at: number;
  /** Source IP address of the connection. */
  address: string;
  transport: 'tcp' | 'http';
  /** SMBIOS UUID as claimed (or as matched). */
  hostUuid: string | null;
  hostname: string | null;
  result: PhoneHomeResult;
  /** Refusal reason (`token-missing`, `address-mismatch`, …), or a note for accepted ones. */
  reason: string | null;
  jobId: string | null;
}

interface Row {
  id: number;
  at: number;
  address: string;
  transport: 'tcp' | 'http';
  host_uuid: string | null;
  hostname: string | null;
  result: PhoneHomeResult;
  reason: string | null;
  job_id: string | null;
}

function toRecord(r: Row): PhoneHomeRecord {
  return {
    id: r.id,
    at: r.at,
    address: r.address,
    transport: r.transport,
    hostUuid: r.host_uuid,
    hostname: r.hostname,
    result: r.result,
    reason: r.reason,
    jobId: r.job_id,
  };
}

/** Repository for `phone_homes`. Synchronous (better-sqlite3). */
export class PhoneHomeRepo implements PhoneHomeLog {
  private insertStmt: Statement | undefined;

  constructor(private readonly db: Database) {}

  /** Appends one attempt; returns its id. The statement is prepared once (a boot storm writes thousands). */
  record(r: PhoneHomeRecord): number {
    this.insertStmt ??= this.db
      .prepare(`INSERT INTO phone_homes (at, address, transport, host_uuid, hostname, result, reason, job_id)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    const res = this.insertStmt.run(r.at, r.address, r.transport, r.hostUuid, r.hostname, r.result, r.reason, r.jobId);
    return Number(res.lastInsertRowid);
  }

  /** Attempts, newest first: all, or for one host UUID (either byte order is the caller's business). */
  list(filter: { hostUuid?: string; limit?: number } = {}): PhoneHomeRecord[] {
    const limit = filter.limit ?? 100;
    const rows = (
      filter.hostUuid
        ? this.db
            .prepare('SELECT * FROM phone_homes WHERE host_uuid = ? ORDER BY at DESC, id DESC LIMIT ?')
            .all(filter.hostUuid, limit)
        : this.db.prepare('SELECT * FROM phone_homes ORDER BY at DESC, id DESC LIMIT ?').all(limit)
    ) as Row[];
    return rows.map(toRecord);
  }

  /** Number of attempts by result and reason (`reason` is '' when none). */
  counts(): Array<{ result: PhoneHomeResult; reason: string; count: number }> {
    return this.db
      .prepare(
        `SELECT result, coalesce(reason, '') AS reason, count(*) AS count FROM phone_homes
      GROUP BY result, coalesce(reason, '') ORDER BY result, reason`,
      )
      .all() as Array<{ result: PhoneHomeResult; reason: string; count: number }>;
  }

  /** Total number of stored attempts. */
  count(): number {
    return this.db.prepare('SELECT count(*) FROM phone_homes').pluck().get() as number;
  }
}
