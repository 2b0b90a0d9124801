/**
 * Engine job scheduling (see src/engine/jobs.ts, "Scheduling"): one queue per vCenter, at most
 * `engine.concurrency-per-vcenter` running jobs per vCenter, one job per host at a time across
 * job kinds, hosts granted in queue order (a waiting job holds its hosts against jobs queued after
 * it; jobs with no host in common pass a waiting one). Decides when a job starts; what it does is
 * src/engine/job-round.ts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { JobKind, JobRecord } from '../store/jobs.js';
import type { ClusterSource } from './jobs.js';

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
  /** Running jobs allowed per vCenter (`engine.concurrency-per-vcenter`). */
  limit(): number;
  /** True once the runner is closing: no job starts. */
  closing(): boolean;
  note(jobId: string, level: 'info' | 'warn' | 'error', msg: string): void;
  /** Runs a job to its end. */
  run(jobId: string): Promise<void>;
  /** Called when {@link run} threw (an internal error). */
  crashed(jobId: string, error: unknown): void;
}

/** Queues and running jobs per vCenter (see the module docstring). */
export class JobScheduler {
  private readonly queues = new Map<string, JobRecord[]>();
  private readonly running = new Map<string, number>();
  /** Lower-case host UUID → id of the running job that holds it (one job per host). */
  private readonly busyHosts = new Map<string, string>();
  /** Queued jobs whose wait for a host has been logged once. */
  private readonly waitNoted = new Set<string>();
  private readonly inflight = new Map<string, Promise<void>>();
  /** Kind of each inflight job (for {@link activeCounts}). */
  private readonly inflightKind = new Map<string, JobKind>();

  constructor(private readonly h: SchedulerHost) {}

  /** Whether the job is queued or running here. */
  holds(jobId: string): boolean {
    return this.inflight.has(jobId) || [...this.queues.values()].some((q) => q.some((x) => x.id === jobId));
  }

  /** Whether the job has started here and not ended. */
  isRunning(jobId: string): boolean {
    return this.inflight.has(jobId);
  }

  /** Removes a job that has not started from its queue; whether it was queued here. */
  dequeue(jobId: string): boolean {
    for (const [vc, q] of this.queues) {
      const i = q.findIndex((x) => x.id === jobId);
      if (i < 0) continue;
      q.splice(i, 1);
      this.waitNoted.delete(jobId);
      this.pump(vc);
      return true;
    }
    return false;
  }

  /** Resolves when every running job has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inflight.values()]);
  }

  /**
   * Jobs held now, as [kind, state, count] rows: `queued` = scheduled and waiting for a
   * concurrency slot or a host, `running` = started and not yet finished.
   */
  activeCounts(): Array<[JobKind, 'queued' | 'running', number]> {
    const n = new Map<string, number>();
    const add = (kind: JobKind, state: 'queued' | 'running') =>
      n.set(`${kind} ${state}`, (n.get(`${kind} ${state}`) ?? 0) + 1);
    for (const q of this.queues.values()) for (const j of q) add(j.kind, 'queued');
    for (const id of this.inflight.keys()) add(this.inflightKind.get(id) ?? 'configure-host', 'running');
    return [...n].map(([k, c]) => [...(k.split(' ') as [JobKind, 'queued' | 'running']), c]);
  }

  /** Queues a job on its vCenter and starts what may start. */
  schedule(job: JobRecord): void {
    const vc = job.vcenter ?? '';
    this.queues.set(vc, [...(this.queues.get(vc) ?? []), job]);
    this.pump(vc);
  }

  /** The hosts a job may change (lower-case UUIDs): its target, or every member of its cluster. */
  private hostsOf(job: JobRecord): string[] {
    if (job.kind === 'configure-host') return [job.target.toLowerCase()];
    const desired = job.cluster ? this.h.clusters.get(job.cluster) : undefined;
    return (desired?.hosts ?? []).map((h) => h.uuid.toLowerCase());
  }

  /** Starts queued jobs of a vCenter up to its limit, each only when none of its hosts is held (see the module note). */
  private pump(vc: string): void {
    const q = this.queues.get(vc) ?? [];
    const reserved = new Set<string>();
    for (let i = 0; i < q.length && !this.h.closing() && (this.running.get(vc) ?? 0) < this.h.limit(); i++) {
      const job = q[i]!;
      const hosts = this.hostsOf(job);
      if (hosts.some((h) => this.busyHosts.has(h) || reserved.has(h))) {
        const held = hosts.find((h) => this.busyHosts.has(h));
        if (!this.waitNoted.has(job.id)) {
          this.waitNoted.add(job.id);
          this.h.note(
            job.id,
            'info',
            held
              ? `waiting for job ${this.busyHosts.get(held)!}, which is changing host ${held} (one job per host at a time)`
              : 'waiting for an earlier queued job that changes the same host(s) (one job per host at a time)',
          );
        }
        for (const h of hosts) reserved.add(h);
        continue;
      }
      this.waitNoted.delete(job.id);
      q.splice(i--, 1);
      const id = job.id;
      for (const h of hosts) this.busyHosts.set(h, id);
      this.running.set(vc, (this.running.get(vc) ?? 0) + 1);
      const p = jobContext
        .run({ id, kind: job.kind, target: job.target }, () => this.h.run(id))
        .catch((e: unknown) => this.h.crashed(id, e))
        .finally(() => {
          this.inflight.delete(id);
          this.inflightKind.delete(id);
          for (const h of hosts) if (this.busyHosts.get(h) === id) this.busyHosts.delete(h);
          this.running.set(vc, (this.running.get(vc) ?? 1) - 1);
          for (const name of this.queues.keys()) this.pump(name);
        });
      this.inflight.set(id, p);
      this.inflightKind.set(id, job.kind);
    }
  }
}
