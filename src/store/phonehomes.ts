/**
 * Phone-home attempts (table `phone_homes`, migration 001): every message that parsed, accepted or
 * refused, with where it came from. Messages refused before parsing (garbage, oversized, …) are
 * only counted, never stored. Times are epoch milliseconds.
 */
import type { Sql } from './sql.js';
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

/** Repository for `phone_homes`, on either store (./sql.ts). */
export class PhoneHomeRepo implements PhoneHomeLog {
  constructor(private readonly sql: Sql) {}

  /** Appends one attempt; resolves to its id. One statement text (prepared once by the executor: a boot storm writes thousands). */
  async record(r: PhoneHomeRecord): Promise<number> {
    const row = await this.sql.get<{ id: number }>(
      `INSERT INTO phone_homes (at, address, transport, host_uuid, hostname, result, reason, job_id)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      [r.at, r.address, r.transport, r.hostUuid, r.hostname, r.result, r.reason, r.jobId],
    );
    return row!.id;
  }

  /** Attempts, newest first: all, or for one host UUID (either byte order is the caller's business). */
  async list(filter: { hostUuid?: string; limit?: number } = {}): Promise<PhoneHomeRecord[]> {
    const limit = filter.limit ?? 100;
    const rows = filter.hostUuid
      ? await this.sql.all<Row>('SELECT * FROM phone_homes WHERE host_uuid = ? ORDER BY at DESC, id DESC LIMIT ?', [
          filter.hostUuid,
          limit,
        ])
      : await this.sql.all<Row>('SELECT * FROM phone_homes ORDER BY at DESC, id DESC LIMIT ?', [limit]);
    return rows.map(toRecord);
  }

  /** Number of attempts by result and reason (`reason` is '' when none), ordered by result then reason. */
  async counts(): Promise<Array<{ result: PhoneHomeResult; reason: string; count: number }>> {
    // count(*) is a BIGINT on PostgreSQL (read back as a number, src/store/pg.ts); the alias is not
    // reused in GROUP BY (PostgreSQL would take it for the column `reason`), the expression is.
    return this.sql.all<{ result: PhoneHomeResult; reason: string; count: number }>(
      `SELECT result, coalesce(reason, '') AS reason, count(*) AS count FROM phone_homes
      GROUP BY result, coalesce(reason, '') ORDER BY result, coalesce(reason, '')`,
    );
  }

  /** Total number of stored attempts. */
  async count(): Promise<number> {
    return (await this.sql.get<{ n: number }>('SELECT count(*) AS n FROM phone_homes'))!.n;
  }
}
