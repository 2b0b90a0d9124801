/**
 * Durable engine jobs (tables `jobs`, `job_steps`, `job_log`, `host_thumbprints`,
 * `engine_maintenance`; see migrations 001, 004 and 008). A job is a persisted plan: one row per job, one row per step with its start, end,
 * result and fault, and log lines. Times are epoch milliseconds. JSON columns are decoded here.
 */
import type { Database } from 'better-sqlite3';
import type { JobHistory } from './ports.js';
import { PoolAllocationRepo } from './pools.js';

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

/** Repository for jobs, their steps and log, and trusted host thumbprints. Synchronous (better-sqlite3). */
export class JobRepo implements JobHistory {
  /** Address pool allocations (`pool_allocations`): the engine plans with them, so they travel with the job repository. */
  readonly pools: PoolAllocationRepo;

  constructor(private readonly db: Database) {
    this.pools = new PoolAllocationRepo(db);
  }

  /** Inserts a queued job. */
  create(j: {
    id: string;
    kind: JobKind;
    target: string;
    cluster?: string | null;
    vcenter?: string | null;
    requestedBy?: string | null;
    at: number;
  }): JobRecord {
    this.db
      .prepare(
        `INSERT INTO jobs (id, kind, target, cluster, vcenter, state, created_at, requested_by) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)`,
      )
      .run(j.id, j.kind, j.target, j.cluster ?? null, j.vcenter ?? null, j.at, j.requestedBy ?? null);
    return this.get(j.id)!;
  }

  get(id: string): JobRecord | undefined {
    const r = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return r ? toJob(r) : undefined;
  }

  /** Newest first. */
  list(filter: { state?: JobState; target?: string; limit?: number } = {}): JobRecord[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.state) {
      where.push('state = ?');
      args.push(filter.state);
    }
    if (filter.target) {
      where.push('target = ?');
      args.push(filter.target);
    }
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, rowid DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, filter.limit ?? 100) as JobRow[]).map(toJob);
  }

  /**
   * The queued or running job for a target, if any (one job per host at a time).
   * @param kinds only jobs of these kinds (default: any)
   */
  active(target: string, kinds?: JobKind[]): JobRecord | undefined {
    const rows = this.db
      .prepare(`SELECT * FROM jobs WHERE target = ? AND state IN ('queued', 'running') ORDER BY created_at, rowid`)
      .all(target) as JobRow[];
    const r = rows.find((x) => !kinds || kinds.includes(x.kind));
    return r ? toJob(r) : undefined;
  }

  /** Jobs left queued or running (e.g. by a crash), oldest first. */
  unfinished(): JobRecord[] {
    return (
      this.db
        .prepare(`SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at, rowid`)
        .all() as JobRow[]
    ).map(toJob);
  }

  /** Marks a job running (stamps started_at once, counts the attempt). */
  markRunning(id: string, at: number): void {
    this.db
      .prepare(
        `UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, ?), attempts = attempts + 1 WHERE id = ?`,
      )
      .run(at, id);
  }

  /** Final state with an optional reason. */
  finish(id: string, state: 'succeeded' | 'failed' | 'cancelled' | 'blocked', at: number, error?: string): void {
    this.db
      .prepare('UPDATE jobs SET state = ?, finished_at = ?, error = ? WHERE id = ?')
      .run(state, at, error ?? null, id);
  }

  /** Appends steps after the existing ones (seq continues), all pending. Returns their seq numbers. */
  appendSteps(jobId: string, steps: NewJobStep[]): number[] {
    const max = this.db
      .prepare('SELECT COALESCE(MAX(seq), 0) FROM job_steps WHERE job_id = ?')
      .pluck()
      .get(jobId) as number;
    const ins = this.db.prepare(
      `INSERT INTO job_steps (job_id, seq, name, target, host_uuid, args, before, after, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
    );
    const seqs: number[] = [];
    this.db.transaction(() => {
      steps.forEach((s, i) => {
        ins.run(jobId, max + i + 1, s.name, s.target, s.hostUuid ?? null, json(s.args), json(s.before), json(s.after));
        seqs.push(max + i + 1);
      });
    })();
    return seqs;
  }

  /** Marks every pending or running step skipped with a reason (the rest is re-planned). Returns how many. */
  skipUnfinished(jobId: string, reason: string, at: number): number {
    return this.db
      .prepare(
        `UPDATE job_steps SET state = 'skipped', finished_at = ?, result = ? WHERE job_id = ? AND state IN ('pending', 'running')`,
      )
      .run(at, json({ skipped: reason }), jobId).changes;
  }

  steps(jobId: string): JobStepRecord[] {
    return (this.db.prepare('SELECT * FROM job_steps WHERE job_id = ? ORDER BY seq').all(jobId) as StepRow[]).map(
      toStep,
    );
  }

  stepStarted(jobId: string, seq: number, at: number): void {
    this.db
      .prepare(
        `UPDATE job_steps SET state = 'running', started_at = COALESCE(started_at, ?), attempts = attempts + 1, fault = NULL WHERE job_id = ? AND seq = ?`,
      )
      .run(at, jobId, seq);
  }

  stepDone(jobId: string, seq: number, at: number, result: unknown): void {
    this.db
      .prepare(`UPDATE job_steps SET state = 'done', finished_at = ?, result = ? WHERE job_id = ? AND seq = ?`)
      .run(at, json(result ?? null), jobId, seq);
  }

  /** Records a fault; `final` = the step failed for good (else it stays running for a retry). */
  stepFault(jobId: string, seq: number, at: number, fault: string, final: boolean): void {
    this.db
      .prepare(`UPDATE job_steps SET state = ?, finished_at = ?, fault = ? WHERE job_id = ? AND seq = ?`)
      .run(final ? 'failed' : 'running', final ? at : null, fault, jobId, seq);
  }

  log(jobId: string, at: number, level: string, msg: string): void {
    this.db.prepare('INSERT INTO job_log (job_id, at, level, msg) VALUES (?, ?, ?, ?)').run(jobId, at, level, msg);
  }

  /** Log lines of a job after id `afterId` (0 = from the start). */
  logs(jobId: string, afterId = 0): JobLogLine[] {
    return this.db
      .prepare('SELECT id, job_id AS jobId, at, level, msg FROM job_log WHERE job_id = ? AND id > ? ORDER BY id')
      .all(jobId, afterId) as JobLogLine[];
  }

  /** The SSL thumbprint trusted on first use for a host (FQDN as given to AddHost_Task). */
  thumbprint(host: string): string | undefined {
    return this.db.prepare('SELECT thumbprint FROM host_thumbprints WHERE host = ?').pluck().get(host) as
      string | undefined;
  }

  /** Forgets the thumbprint trusted on first use for a host (admin reset). @returns whether one was recorded */
  forgetThumbprint(host: string): boolean {
    return this.db.prepare('DELETE FROM host_thumbprints WHERE host = ?').run(host).changes > 0;
  }

  /** Records a thumbprint unless one is already recorded; returns the recorded one (the first wins). */
  trustThumbprint(host: string, thumbprint: string, at: number): string {
    this.db
      .prepare('INSERT OR IGNORE INTO host_thumbprints (host, thumbprint, first_seen) VALUES (?, ?, ?)')
      .run(host, thumbprint, at);
    return this.thumbprint(host)!;
  }

  /**
   * Records that the engine is putting a host into maintenance mode (written before
   * EnterMaintenanceMode_Task is sent; the latest job wins). @param hostUuid SMBIOS UUID (any case)
   */
  markMaintenance(hostUuid: string, jobId: string, at: number): void {
    this.db
      .prepare('INSERT OR REPLACE INTO engine_maintenance (host_uuid, job_id, entered_at) VALUES (?, ?, ?)')
      .run(hostUuid.toLowerCase(), jobId, at);
  }

  /** Forgets that record (after ExitMaintenanceMode_Task, or when the host is no longer in maintenance mode). */
  clearMaintenance(hostUuid: string): void {
    this.db.prepare('DELETE FROM engine_maintenance WHERE host_uuid = ?').run(hostUuid.toLowerCase());
  }

  /** Lower-case UUIDs of the hosts the engine put into maintenance mode and has not taken out yet. */
  maintenanceHosts(): Set<string> {
    return new Set(this.db.prepare('SELECT host_uuid FROM engine_maintenance').pluck().all() as string[]);
  }
}
