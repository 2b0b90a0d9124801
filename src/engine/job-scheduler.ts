/**
 * Engine job scheduling (see src/engine/jobs.ts, "Scheduling"): one queue per vCenter, jobs admitted
 * in the order and under the limits of src/engine/admission.ts (cluster priority, member order,
 * one job per host, `engine.concurrency-per-cluster`, `engine.concurrency-per-vcenter`,
 * `engine.admission-rate`). Decides when a job starts; what it does is src/engine/job-round.ts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { JobKind, JobRecord } from '../store/jobs.js';
import type { ClusterSource } from './jobs.js';
import { DEFAULT_CLUSTER_PRIORITY, type DesiredCluster } from '../clusters/types.js';
import {
  admit,
  type AdmissionJob,
  type AdmissionLimits,
  type AdmissionState,
  type ClusterActivity,
  type QueuePlace,
  type WaitReason,
} from './admission.js';

const jobContext = new AsyncLocalStorage<{ id: string; kind: JobKind; target: string }>();

/**
 * The job whose code is running (AsyncLocalStorage over everything a job's run awaits: reads,
 * steps, SOAP calls), or undefined outside a job. For attributing vCenter calls to jobs
 * (src/bench/engine.ts counts duplicate reads per host's job).
 */
export function currentJob(): { id: string; kind: JobKind; target: string } | undefined {
  return jobContext.getStore();
}

/** What the scheduler needs from the runner. */
export interface SchedulerHost {
  clusters: ClusterSource;
  /** The admission limits now (`engine.concurrency-per-vcenter` and the others, read at each decision). */
  limits(): AdmissionLimits;
  /** True once the runner is closing: no job starts. */
  closing(): boolean;
  /** A line in the job's log; never rejects (the scheduler does not wait for it). */
  note(jobId: string, level: 'info' | 'warn' | 'error', msg: string): Promise<void>;
  /** Runs a job to its end. */
  run(jobId: string): Promise<void>;
  /** Called when {@link run} threw (an internal error); ends the job. Never rejects. */
  crashed(jobId: string, error: unknown): Promise<void>;
}

/** A queued job with its arrival number. */
interface Queued {
  job: JobRecord;
  seq: number;
}

/** Wait reasons worth a line in the job's log (the others are the normal queue). */
const NOTED: ReadonlySet<WaitReason> = new Set(['host', 'priority', 'cluster-limit']);

/** Queues and running jobs per vCenter (see the module docstring). */
export class JobScheduler {
  private readonly queues = new Map<string, Queued[]>();
  private readonly running = new Map<string, number>();
  /** Lower-case host UUID → id of the running job that holds it (one job per host). */
  private readonly busyHosts = new Map<string, string>();
  /** Wait reasons logged once per queued job. */
  private readonly waitNoted = new Map<string, Set<WaitReason>>();
  private readonly inflight = new Map<string, Promise<void>>();
  /** Kind and cluster of each inflight job (for {@link activeCounts} and admission). */
  private readonly inflightJob = new Map<string, { kind: JobKind; cluster: string }>();
  /** Cluster → when a join (configure-host) of it was last queued, epoch ms. */
  private readonly lastJoinQueued = new Map<string, number>();
  /** vCenter → its last job start, epoch ms. */
  private readonly lastStart = new Map<string, number>();
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly h: SchedulerHost,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the job is queued or running here. */
  holds(jobId: string): boolean {
    return this.inflight.has(jobId) || [...this.queues.values()].some((q) => q.some((x) => x.job.id === jobId));
  }

  /** The ids of every job queued or running here. */
  heldIds(): string[] {
    return [...this.inflight.keys(), ...[...this.queues.values()].flatMap((q) => q.map((x) => x.job.id))];
  }

  /** Whether the job has started here and not ended. */
  isRunning(jobId: string): boolean {
    return this.inflight.has(jobId);
  }

  /** Removes a job that has not started from its queue; whether it was queued here. */
  dequeue(jobId: string): boolean {
    for (const q of this.queues.values()) {
      const i = q.findIndex((x) => x.job.id === jobId);
      if (i < 0) continue;
      q.splice(i, 1);
      this.waitNoted.delete(jobId);
      this.pumpAll();
      return true;
    }
    return false;
  }

  /** Resolves when every running job has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inflight.values()]);
  }

  /** Stops the admission timer (the runner is closing; nothing starts any more). */
  stop(): void {
    clearImmediate(this.immediate);
    this.immediate = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /**
   * Jobs held now, as [kind, state, count] rows: `queued` = scheduled and waiting for a
   * concurrency slot or a host, `running` = started and not yet finished.
   */
  activeCounts(): Array<[JobKind, 'queued' | 'running', number]> {
    const n = new Map<string, number>();
    const add = (kind: JobKind, state: 'queued' | 'running') =>
      n.set(`${kind} ${state}`, (n.get(`${kind} ${state}`) ?? 0) + 1);
    for (const q of this.queues.values()) for (const x of q) add(x.job.kind, 'queued');
    for (const id of this.inflight.keys()) add(this.inflightJob.get(id)?.kind ?? 'configure-host', 'running');
    return [...n].map(([k, c]) => [...(k.split(' ') as [JobKind, 'queued' | 'running']), c]);
  }

  /**
   * Every queued job's place: its 1-based position in its vCenter's admission order and why it
   * waits (src/engine/admission.ts), decided as the next admission would. Job id → place.
   */
  queued(): Map<string, QueuePlace> {
    const out = new Map<string, QueuePlace>();
    const ctx = this.context();
    for (const vc of this.queues.keys()) {
      const { decisions } = admit(this.admissionJobs(vc, ctx), this.h.limits(), this.state(vc, ctx));
      let pos = 0;
      for (const d of decisions) {
        pos++;
        if (!d.start) out.set(d.id, { queuePosition: pos, waitReason: d.waitReason, waitDetail: d.waitDetail });
      }
    }
    return out;
  }

  /**
   * Queues a job on its vCenter; what may start starts on the next turn of the event loop, so jobs
   * queued together (a bulk join, the jobs resumed at start) are admitted in admission order, not
   * in the order they were queued.
   */
  schedule(job: JobRecord): void {
    const vc = job.vcenter ?? '';
    this.queues.set(vc, [...(this.queues.get(vc) ?? []), { job, seq: this.seq++ }]);
    if (job.kind === 'configure-host' && job.cluster) this.lastJoinQueued.set(job.cluster, this.now());
    this.immediate ??= setImmediate(() => {
      this.immediate = undefined;
      this.pumpAll();
    });
  }

  /** The hosts a job may change (lower-case UUIDs): its target (configure-host, remove-host), or every member of its cluster. */
  private hostsOf(job: JobRecord): string[] {
    if (job.kind === 'configure-host' || job.kind === 'remove-host') return [job.target.toLowerCase()];
    const desired = job.cluster ? this.h.clusters.get(job.cluster) : undefined;
    return (desired?.hosts ?? []).map((h) => h.uuid.toLowerCase());
  }

  /** The cluster files and activity admission reads, gathered once per round. */
  private context(): { files: Map<string, DesiredCluster | undefined>; activity: ClusterActivity[]; top?: number } {
    const files = new Map<string, DesiredCluster | undefined>();
    const file = (name: string) => {
      if (!files.has(name)) files.set(name, this.h.clusters.get(name));
      return files.get(name);
    };
    const joins = new Map<string, number>();
    for (const q of this.queues.values())
      for (const { job } of q)
        if (job.kind === 'configure-host' && job.cluster) joins.set(job.cluster, (joins.get(job.cluster) ?? 0) + 1);
    for (const j of this.inflightJob.values())
      if (j.kind === 'configure-host' && j.cluster) joins.set(j.cluster, (joins.get(j.cluster) ?? 0) + 1);
    const names = new Set([...joins.keys(), ...this.lastJoinQueued.keys()]);
    const activity = [...names].map((cluster) => ({
      cluster,
      priority: file(cluster)?.priority ?? DEFAULT_CLUSTER_PRIORITY,
      joins: joins.get(cluster) ?? 0,
      lastQueuedAt: this.lastJoinQueued.get(cluster),
    }));
    const declared = this.h.clusters.list?.().map((c) => c.priority ?? DEFAULT_CLUSTER_PRIORITY);
    return { files, activity, ...(declared?.length ? { top: Math.min(...declared) } : {}) };
  }

  /** The queued jobs of a vCenter as admission sees them. */
  private admissionJobs(vc: string, ctx: ReturnType<JobScheduler['context']>): AdmissionJob[] {
    return (this.queues.get(vc) ?? []).map(({ job, seq }) => {
      const cluster = job.cluster ?? '';
      if (cluster && !ctx.files.has(cluster)) ctx.files.set(cluster, this.h.clusters.get(cluster));
      const desired = ctx.files.get(cluster);
      const target = job.target.toLowerCase();
      const index =
        job.kind === 'configure-host' ? (desired?.hosts.findIndex((h) => h.uuid.toLowerCase() === target) ?? -1) : -1;
      return {
        id: job.id,
        kind: job.kind,
        cluster,
        priority: desired?.priority ?? DEFAULT_CLUSTER_PRIORITY,
        memberIndex: job.kind === 'configure-host' && index < 0 ? Number.MAX_SAFE_INTEGER : index,
        seq,
        queuedAt: job.createdAt,
        hosts: this.hostsOf(job),
      };
    });
  }

  /** The load admission reads for one vCenter. */
  private state(vc: string, ctx: ReturnType<JobScheduler['context']>): AdmissionState {
    const byCluster = new Map<string, number>();
    for (const j of this.inflightJob.values()) byCluster.set(j.cluster, (byCluster.get(j.cluster) ?? 0) + 1);
    return {
      now: this.now(),
      vcenter: vc,
      running: this.running.get(vc) ?? 0,
      runningByCluster: byCluster,
      busyHosts: this.busyHosts,
      lastStartAt: this.lastStart.get(vc),
      clusters: ctx.activity,
      topDeclared: ctx.top,
    };
  }

  /** Admits what may start on every vCenter, then sets the timer for the earliest time-based wait. */
  private pumpAll(): void {
    if (this.h.closing()) return;
    const ctx = this.context();
    let wake = Infinity;
    for (const vc of this.queues.keys()) wake = Math.min(wake, this.pump(vc, ctx) ?? Infinity);
    this.forget();
    if (wake < this.timerAt) {
      clearTimeout(this.timer);
      this.timerAt = wake;
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.timerAt = Infinity;
          this.pumpAll();
        },
        Math.max(0, wake - this.now()),
      );
    }
  }

  /** Drops phone-home times older than the settle window (they no longer hold anything back). */
  private forget(): void {
    const horizon = this.now() - this.h.limits().settleMs;
    for (const [c, at] of this.lastJoinQueued) if (at < horizon) this.lastJoinQueued.delete(c);
  }

  /** Starts what admission lets start on one vCenter; returns when a time-based wait ends. */
  private pump(vc: string, ctx: ReturnType<JobScheduler['context']>): number | undefined {
    const q = this.queues.get(vc) ?? [];
    const { decisions, wakeAt } = admit(this.admissionJobs(vc, ctx), this.h.limits(), this.state(vc, ctx));
    const starting = new Set<string>();
    for (const d of decisions) {
      if (d.start) starting.add(d.id);
      else this.noteWait(d.id, d.waitReason, d.waitDetail);
    }
    if (starting.size === 0) return wakeAt;
    const byId = new Map(q.map((x) => [x.job.id, x.job]));
    this.queues.set(
      vc,
      q.filter((x) => !starting.has(x.job.id)),
    );
    for (const d of decisions) if (d.start) this.start(vc, byId.get(d.id)!);
    return wakeAt;
  }

  /** Logs a wait once per job and reason (host, priority and cluster limit; see {@link NOTED}). */
  private noteWait(jobId: string, reason: WaitReason, detail: string): void {
    if (!NOTED.has(reason)) return;
    const seen = this.waitNoted.get(jobId) ?? new Set<WaitReason>();
    if (seen.has(reason)) return;
    seen.add(reason);
    this.waitNoted.set(jobId, seen);
    void this.h.note(jobId, 'info', `waiting: ${detail}`);
  }

  /** Runs a job now: its hosts are held and it counts against its vCenter and cluster until it ends. */
  private start(vc: string, job: JobRecord): void {
    this.waitNoted.delete(job.id);
    const id = job.id;
    const hosts = this.hostsOf(job);
    for (const h of hosts) this.busyHosts.set(h, id);
    this.running.set(vc, (this.running.get(vc) ?? 0) + 1);
    this.lastStart.set(vc, this.now());
    this.inflightJob.set(id, { kind: job.kind, cluster: job.cluster ?? '' });
    const p = jobContext
      .run({ id, kind: job.kind, target: job.target }, () => this.h.run(id))
      .catch((e: unknown) => this.h.crashed(id, e))
      .finally(() => {
        this.inflight.delete(id);
        this.inflightJob.delete(id);
        for (const h of hosts) if (this.busyHosts.get(h) === id) this.busyHosts.delete(h);
        this.running.set(vc, (this.running.get(vc) ?? 1) - 1);
        this.pumpAll();
      });
    this.inflight.set(id, p);
  }
}
