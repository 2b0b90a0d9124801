/**
 * Durable engine jobs (tables `jobs`, `job_steps`, `job_log`, `host_thumbprints`,
 * `engine_maintenance`; see migrations 001, 004, 008 and 017 — job leases for servers sharing one
 * PostgreSQL: {@link JobRepo.claimNext}, {@link JobRepo.heartbeat}; not used by the scheduler yet). A job is a persisted plan: one row per
 * job, one row per step with its start, end, result and fault, and log lines. Times are epoch
 * milliseconds. JSON columns are decoded here. On either store through the SQL executor (./sql.ts):
 * every method returns a promise.
 *
 * Order of jobs created in the same millisecond: insertion order on SQLite (`rowid`), the job id
 * on PostgreSQL (which has no insertion order to read back).
 */
import type { Sql } from './sql.js';
import type { JobHistory } from './ports.js';
import { PoolAllocationRepo } from './pools.js';
import { EngineLeaseRepo } from './engine-lease.js';

/** queued | running | succeeded | failed | cancelled. */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'blocked' | 'cancelled';
/** pending | running | done | failed | skipped. */
export type StepState = 'pending' | 'running' | 'done' | 'failed' | 'skipped';
/**
 * configure-host: one member; apply-cluster: the cluster and every member; drift: scheduled drift
 * remediation of a cluster (its settings and the members already in vCenter, never AddHost_Task);
 * remove-host: one host (target = its UUID) removed from vCenter, then forgotten in the store.
 */
export type JobKind = 'configure-host' | 'apply-cluster' | 'drift' | 'remove-host';

export interface JobRecord {
  id: string;
  kind: JobKind;
  /** Host UUID (configure-host) or cluster name. */
  target: string;
  cluster: string | null;
  vcenter: string | null;
  state: JobState;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  attempts: number;
  error: string | null;
  requestedBy: string | null;
}

export interface JobStepRecord {
  jobId: string;
  seq: number;
  /** vSphere method, e.g. AddHost_Task. */
  name: string;
  target: string | null;
  hostUuid: string | null;
  args: unknown;
  before: unknown;
  after: unknown;
  state: StepState;
  startedAt: number | null;
  finishedAt: number | null;
  attempts: number;
  result: unknown;
  fault: string | null;
}

export interface JobLogLine {
  id: number;
  jobId: string;
  at: number;
  level: string;
  msg: string;
}

/** A step to persist (the plan's Step, serialised). */
export interface NewJobStep {
  name: string;
  target: string;
  hostUuid?: string | undefined;
  args: unknown;
  before: unknown;
  after: unknown;
}

interface JobRow {
  id: string;
  kind: JobKind;
  target: string;
  cluster: string | null;
  vcenter: string | null;
  state: JobState;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  attempts: number;
  error: string | null;
  requested_by: string | null;
}
interface StepRow {
  job_id: string;
  seq: number;
  name: string;
  target: string | null;
  host_uuid: string | null;
  args: string | null;
  before: string | null;
  after: string | null;
  state: StepState;
  started_at: number | null;
  finished_at: number | null;
  attempts: number;
  result: string | null;
  fault: string | null;
}

const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
const unjson = (s: string | null): unknown => (s === null ? null : JSON.parse(s));

function toJob(r: JobRow): JobRecord {
  return {
    id: r.id,
    kind: r.kind,
    target: r.target,
    cluster: r.cluster,
    vcenter: r.vcenter,
    state: r.state,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    attempts: r.attempts,
    error: r.error,
    requestedBy: r.requested_by,
  };
}
function toStep(r: StepRow): JobStepRecord {
  return {
    jobId: r.job_id,
    seq: r.seq,
    name: r.name,
    target: r.target,
    hostUuid: r.host_uuid,
    args: unjson(r.args),
    before: unjson(r.before),
    after: unjson(r.after),
    state: r.state,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    attempts: r.attempts,
    result: unjson(r.result),
    fault: r.fault,
  };
}

/** A job claimed with a lease ({@link JobRepo.claimNext}). */
export interface ClaimedJob {
  job: JobRecord;
  leaseOwner: string;
  /** When the lease lapses unless renewed ({@link JobRepo.heartbeat}), epoch ms. */
  leaseExpiresAt: number;
}

/** A `jobs` row with its lease columns (migration 017). */
interface LeasedJobRow extends JobRow {
  lease_owner: string | null;
  lease_expires_at: number | null;
}

/** A job to insert (see {@link JobRepo.create}). */
export interface NewJob {
  id: string;
  kind: JobKind;
  target: string;
  cluster?: string | null;
  vcenter?: string | null;
  requestedBy?: string | null;
  /** Creation time, epoch ms. */
  at: number;
}

/** An active job that stands in the way of a new one (see {@link JobRepo.createUnlessActive}). */
export interface JobConflict {
  /** Host UUID or cluster name, as stored in `jobs.target`. */
  target: string;
  /** Only active jobs of these kinds conflict (default: any kind). */
  kinds?: readonly JobKind[] | undefined;
}

/** Advisory lock class of "one active job per target" (PostgreSQL `pg_advisory_xact_lock(int, int)`). */
const TARGET_LOCK_CLASS = 0x534a; // "SJ"

/** Repository for jobs, their steps and log, and trusted host thumbprints, on either store (./sql.ts). */
export class JobRepo implements JobHistory {
  /** Address pool allocations (`pool_allocations`): the engine plans with them, so they travel with the job repository. */
  readonly pools: PoolAllocationRepo;
  /** The engine lease and cancel requests (several servers, ./engine-lease.ts). */
  readonly coordination: EngineLeaseRepo;
  /** The insertion-order tie-break of job lists (see the module header). */
  readonly #tieBreak: string;

  constructor(private readonly sql: Sql) {
    this.pools = new PoolAllocationRepo(sql);
    this.coordination = new EngineLeaseRepo(sql);
    this.#tieBreak = sql.dialect === 'sqlite' ? 'rowid' : 'id';
  }

  /** Inserts a queued job; resolves to it. @throws the driver's unique violation for a used id */
  async create(j: NewJob): Promise<JobRecord> {
    const r = await this.sql.get<JobRow>(
      `INSERT INTO jobs (id, kind, target, cluster, vcenter, state, created_at, requested_by)
      VALUES (?, ?, ?, ?, ?, 'queued', ?, ?) RETURNING *`,
      [j.id, j.kind, j.target, j.cluster ?? null, j.vcenter ?? null, j.at, j.requestedBy ?? null],
    );
    return toJob(r!);
  }

  /**
   * Inserts a queued job unless a job named by `conflicts` is queued or running; then that job is
   * returned instead (the first conflict that has one, its oldest job) and nothing is inserted.
   * Atomic against every other caller on the same store, other servers included: one transaction
   * (SQLite: BEGIN IMMEDIATE, one writer at a time; PostgreSQL: transaction-level advisory locks
   * on each conflict target, `pg_advisory_xact_lock`, PostgreSQL manual §9.27.10, taken in sorted
   * order so two callers never deadlock). Joins a transaction already open in the caller's context.
   */
  async createUnlessActive(
    j: NewJob,
    conflicts: readonly JobConflict[],
  ): Promise<{ job: JobRecord; existing: boolean }> {
    return this.sql.tx(async (sql) => {
      if (sql.dialect === 'postgres') {
        for (const t of [...new Set(conflicts.map((c) => c.target))].sort())
          await sql.get('SELECT pg_advisory_xact_lock(?, hashtext(?)) AS locked', [TARGET_LOCK_CLASS, t]);
      }
      for (const c of conflicts) {
        const busy = await this.active(c.target, c.kinds);
        if (busy) return { job: busy, existing: true };
      }
      return { job: await this.create(j), existing: false };
    });
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const r = await this.sql.get<JobRow>('SELECT * FROM jobs WHERE id = ?', [id]);
    return r ? toJob(r) : undefined;
  }

  /** Newest first (at most `limit`, default 100). */
  async list(filter: { state?: JobState; target?: string; limit?: number } = {}): Promise<JobRecord[]> {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (filter.state) {
      where.push('state = ?');
      args.push(filter.state);
    }
    if (filter.target) {
      where.push('target = ?');
      args.push(filter.target);
    }
    const text = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, ${this.#tieBreak} DESC LIMIT ?`;
    return (await this.sql.all<JobRow>(text, [...args, filter.limit ?? 100])).map(toJob);
  }

  /**
   * The oldest queued or running job for a target, if any (one job per host at a time).
   * @param kinds only jobs of these kinds (default: any)
   */
  async active(target: string, kinds?: readonly JobKind[]): Promise<JobRecord | undefined> {
    const rows = await this.sql.all<JobRow>(
      `SELECT * FROM jobs WHERE target = ? AND state IN ('queued', 'running') ORDER BY created_at, ${this.#tieBreak}`,
      [target],
    );
    const r = rows.find((x) => !kinds || kinds.includes(x.kind));
    return r ? toJob(r) : undefined;
  }

  /** Jobs left queued or running (e.g. by a crash), oldest first. */
  async unfinished(): Promise<JobRecord[]> {
    const rows = await this.sql.all<JobRow>(
      `SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at, ${this.#tieBreak}`,
    );
    return rows.map(toJob);
  }

  /** Marks a job running (stamps started_at once, counts the attempt); resolves to it (undefined: no such job). */
  async markRunning(id: string, at: number): Promise<JobRecord | undefined> {
    const r = await this.sql.get<JobRow>(
      `UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, ?), attempts = attempts + 1
      WHERE id = ? RETURNING *`,
      [at, id],
    );
    return r ? toJob(r) : undefined;
  }

  /** Final state with an optional reason; resolves to the job (undefined: no such job). */
  async finish(
    id: string,
    state: 'succeeded' | 'failed' | 'cancelled' | 'blocked',
    at: number,
    error?: string,
  ): Promise<JobRecord | undefined> {
    const r = await this.sql.get<JobRow>(
      'UPDATE jobs SET state = ?, finished_at = ?, error = ? WHERE id = ? RETURNING *',
      [state, at, error ?? null, id],
    );
    return r ? toJob(r) : undefined;
  }

  /**
   * Claims one runnable job for `owner` (issue 18 item 3, migration 017): the oldest job that is
   * queued or running and that nobody holds — no lease, or a lease that lapsed at or before `now`
   * (its server died; the claimer re-plans it as crash recovery does). The lease is set to
   * `owner` until `now + leaseMs`; the job's state is not changed (markRunning does that when it
   * starts). Atomic across servers: two claimers never get the same job. SQLite: one conditional
   * `UPDATE ... WHERE id = (SELECT ...) RETURNING *` (one writer at a time). PostgreSQL: a
   * transaction that picks the row with `SELECT ... FOR UPDATE SKIP LOCKED` (PostgreSQL manual,
   * SELECT "The Locking Clause"; rows another claimer has locked are passed over, not waited for)
   * and then sets its lease.
   * @param owner the claiming server, e.g. `host:pid:random` (non-empty)
   * @param now epoch ms; @param leaseMs lease length, ms (> 0)
   * @param filter `vcenter`: only jobs against that vCenter
   * @returns the job and when its lease lapses, or undefined when nothing is runnable
   * @throws RangeError for an empty owner or a lease length that is not a positive number
   */
  async claimNext(
    owner: string,
    now: number,
    leaseMs: number,
    filter: { vcenter?: string } = {},
  ): Promise<ClaimedJob | undefined> {
    if (!owner) throw new RangeError('claimNext: the lease owner must not be empty');
    if (!(leaseMs > 0) || !Number.isFinite(leaseMs))
      throw new RangeError(`claimNext: lease length ${leaseMs} ms is not a positive number`);
    const expires = now + leaseMs;
    const byVcenter = filter.vcenter === undefined ? '' : 'AND vcenter = ?';
    const runnable = `SELECT id FROM jobs
      WHERE state IN ('queued', 'running') AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= ?) ${byVcenter}
      ORDER BY created_at, ${this.#tieBreak} LIMIT 1`;
    const args = [now, ...(filter.vcenter === undefined ? [] : [filter.vcenter])];
    let row: LeasedJobRow | undefined;
    if (this.sql.dialect === 'sqlite') {
      row = await this.sql.get<LeasedJobRow>(
        `UPDATE jobs SET lease_owner = ?, lease_expires_at = ? WHERE id = (${runnable}) RETURNING *`,
        [owner, expires, ...args],
      );
    } else {
      row = await this.sql.tx(async (sql) => {
        const pick = await sql.get<{ id: string }>(`${runnable} FOR UPDATE SKIP LOCKED`, args);
        if (!pick) return undefined;
        return sql.get<LeasedJobRow>('UPDATE jobs SET lease_owner = ?, lease_expires_at = ? WHERE id = ? RETURNING *', [
          owner,
          expires,
          pick.id,
        ]);
      });
    }
    return row ? { job: toJob(row), leaseOwner: owner, leaseExpiresAt: row.lease_expires_at! } : undefined;
  }

  /**
   * Renews `owner`'s lease on a job until `now + leaseMs`. One conditional UPDATE: it renews only
   * while `owner` still holds the lease and the job is queued or running — a lease past its expiry
   * that no other server has claimed yet is still held (nobody else can have started the job).
   * @returns false when the lease was lost (another server claimed the job, it was released, the
   *   job ended or does not exist): the caller must stop working on the job
   * @throws RangeError for a lease length that is not a positive number
   */
  async heartbeat(id: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    if (!(leaseMs > 0) || !Number.isFinite(leaseMs))
      throw new RangeError(`heartbeat: lease length ${leaseMs} ms is not a positive number`);
    const n = await this.sql.run(
      `UPDATE jobs SET lease_expires_at = ?
      WHERE id = ? AND lease_owner = ? AND state IN ('queued', 'running')`,
      [now + leaseMs, id, owner],
    );
    return n > 0;
  }

  /** Gives up `owner`'s lease on a job (the job ended, or the server stops). @returns whether it held one */
  async releaseLease(id: string, owner: string): Promise<boolean> {
    const n = await this.sql.run(
      'UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?',
      [id, owner],
    );
    return n > 0;
  }

  /** Who holds the lease on a job and until when (epoch ms); undefined when nobody does or no such job. */
  async lease(id: string): Promise<{ owner: string; expiresAt: number } | undefined> {
    const r = await this.sql.get<{ lease_owner: string | null; lease_expires_at: number | null }>(
      'SELECT lease_owner, lease_expires_at FROM jobs WHERE id = ?',
      [id],
    );
    return r?.lease_owner && r.lease_expires_at !== null
      ? { owner: r.lease_owner, expiresAt: r.lease_expires_at }
      : undefined;
  }

  /** Appends steps after the existing ones (seq continues), all pending, in one transaction. Resolves to their seq numbers. */
  async appendSteps(jobId: string, steps: NewJobStep[]): Promise<number[]> {
    if (steps.length === 0) return [];
    return this.sql.tx(async (sql) => {
      const max = (await sql.get<{ n: number }>('SELECT COALESCE(MAX(seq), 0) AS n FROM job_steps WHERE job_id = ?', [
        jobId,
      ]))!.n;
      const seqs: number[] = [];
      for (const [i, s] of steps.entries()) {
        await sql.run(
          `INSERT INTO job_steps (job_id, seq, name, target, host_uuid, args, before, after, state)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
          [jobId, max + i + 1, s.name, s.target, s.hostUuid ?? null, json(s.args), json(s.before), json(s.after)],
        );
        seqs.push(max + i + 1);
      }
      return seqs;
    });
  }

  /** Marks every pending or running step skipped with a reason (the rest is re-planned). Resolves to how many. */
  async skipUnfinished(jobId: string, reason: string, at: number): Promise<number> {
    return this.sql.run(
      `UPDATE job_steps SET state = 'skipped', finished_at = ?, result = ? WHERE job_id = ? AND state IN ('pending', 'running')`,
      [at, json({ skipped: reason }), jobId],
    );
  }

  async steps(jobId: string): Promise<JobStepRecord[]> {
    return (await this.sql.all<StepRow>('SELECT * FROM job_steps WHERE job_id = ? ORDER BY seq', [jobId])).map(toStep);
  }

  /** One step, or undefined. */
  async step(jobId: string, seq: number): Promise<JobStepRecord | undefined> {
    const r = await this.sql.get<StepRow>('SELECT * FROM job_steps WHERE job_id = ? AND seq = ?', [jobId, seq]);
    return r ? toStep(r) : undefined;
  }

  async stepStarted(jobId: string, seq: number, at: number): Promise<void> {
    await this.sql.run(
      `UPDATE job_steps SET state = 'running', started_at = COALESCE(started_at, ?), attempts = attempts + 1, fault = NULL
      WHERE job_id = ? AND seq = ?`,
      [at, jobId, seq],
    );
  }

  async stepDone(jobId: string, seq: number, at: number, result: unknown): Promise<void> {
    await this.sql.run(
      `UPDATE job_steps SET state = 'done', finished_at = ?, result = ? WHERE job_id = ? AND seq = ?`,
      [at, json(result ?? null), jobId, seq],
    );
  }

  /** Records a fault; `final` = the step failed for good (else it stays running for a retry). */
  async stepFault(jobId: string, seq: number, at: number, fault: string, final: boolean): Promise<void> {
    await this.sql.run(`UPDATE job_steps SET state = ?, finished_at = ?, fault = ? WHERE job_id = ? AND seq = ?`, [
      final ? 'failed' : 'running',
      final ? at : null,
      fault,
      jobId,
      seq,
    ]);
  }

  /** Appends a log line; resolves to it (with its id). */
  async log(jobId: string, at: number, level: string, msg: string): Promise<JobLogLine> {
    const r = await this.sql.get<{ id: number }>(
      'INSERT INTO job_log (job_id, at, level, msg) VALUES (?, ?, ?, ?) RETURNING id',
      [jobId, at, level, msg],
    );
    return { id: r!.id, jobId, at, level, msg };
  }

  /** Log lines of a job after id `afterId` (0 = from the start), oldest first. */
  async logs(jobId: string, afterId = 0): Promise<JobLogLine[]> {
    return this.sql.all<JobLogLine>(
      'SELECT id, job_id AS "jobId", at, level, msg FROM job_log WHERE job_id = ? AND id > ? ORDER BY id',
      [jobId, afterId],
    );
  }

  /** The SSL thumbprint trusted on first use for a host (FQDN as given to AddHost_Task). */
  async thumbprint(host: string): Promise<string | undefined> {
    return (
      await this.sql.get<{ thumbprint: string }>('SELECT thumbprint FROM host_thumbprints WHERE host = ?', [host])
    )?.thumbprint;
  }

  /** Forgets the thumbprint trusted on first use for a host (admin reset). Resolves to whether one was recorded. */
  async forgetThumbprint(host: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM host_thumbprints WHERE host = ?', [host])) > 0;
  }

  /** Records a thumbprint unless one is already recorded; resolves to the recorded one (the first wins, across servers too). */
  async trustThumbprint(host: string, thumbprint: string, at: number): Promise<string> {
    await this.sql.run(
      'INSERT INTO host_thumbprints (host, thumbprint, first_seen) VALUES (?, ?, ?) ON CONFLICT (host) DO NOTHING',
      [host, thumbprint, at],
    );
    return (await this.thumbprint(host))!;
  }

  /**
   * Records that the engine is putting a host into maintenance mode (written before
   * EnterMaintenanceMode_Task is sent; the latest job wins). @param hostUuid SMBIOS UUID (any case)
   */
  async markMaintenance(hostUuid: string, jobId: string, at: number): Promise<void> {
    await this.sql.run(
      `INSERT INTO engine_maintenance (host_uuid, job_id, entered_at) VALUES (?, ?, ?)
      ON CONFLICT (host_uuid) DO UPDATE SET job_id = excluded.job_id, entered_at = excluded.entered_at`,
      [hostUuid.toLowerCase(), jobId, at],
    );
  }

  /** Forgets that record (after ExitMaintenanceMode_Task, or when the host is no longer in maintenance mode). */
  async clearMaintenance(hostUuid: string): Promise<void> {
    await this.sql.run('DELETE FROM engine_maintenance WHERE host_uuid = ?', [hostUuid.toLowerCase()]);
  }

  /** Lower-case UUIDs of the hosts the engine put into maintenance mode and has not taken out yet. */
  async maintenanceHosts(): Promise<Set<string>> {
    const rows = await this.sql.all<{ host_uuid: string }>('SELECT host_uuid FROM engine_maintenance');
    return new Set(rows.map((r) => r.host_uuid));
  }
}
