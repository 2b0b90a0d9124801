/**
 * Drift: compares a cluster's hosts in vCenter with its cluster file. A plan with zero steps means
 * no drift. On demand ({@link checkDrift}, `statelesx cluster drift NAME`) and on a schedule
 * ({@link DriftScheduler}, `engine.drift-interval-s`, 0 = off), optionally remediating by queueing
 * an apply-cluster job (origin `drift`). Reads only; never calls a mutating method itself.
 */
import type { DesiredCluster } from '../clusters/types.js';
import type { Logger } from '../log.js';
import { readCurrent } from './apply.js';
import { planCluster, type Step } from './plan.js';
import type { JobQueue, JobRef } from './queue.js';
import type { VcenterApi } from './vcenter.js';

/** Result of one drift check. */
export interface DriftReport {
  cluster: string;
  at: number;
  /** True when at least one step would be needed. */
  drifted: boolean;
  /** What apply would do (empty = in sync). */
  steps: Step[];
  /** Members vCenter does not know yet (by UUID). */
  missingHosts: string[];
}

/**
 * Reads the cluster and every member and plans. @throws the client's errors and PlanError.
 * @param vc a logged-in vCenter (the one the file names)
 */
export async function checkDrift(vc: VcenterApi, desired: DesiredCluster, now = Date.now()): Promise<DriftReport> {
  const state = await readCurrent(vc, desired, desired.hosts.map((h) => h.uuid));
  const steps = planCluster(desired, state);
  return {
    cluster: desired.name, at: now, drifted: steps.length > 0, steps,
    missingHosts: desired.hosts.filter((h) => !state.hosts[h.uuid]).map((h) => h.uuid),
  };
}

export interface DriftSchedulerOptions {
  /** Every cluster file currently loaded. */
  clusters: () => DesiredCluster[];
  /** Logged-in vCenter by name (the job runner's shared connection). */
  vcenter: (name: string) => Promise<VcenterApi>;
  queue: JobQueue;
  /** Seconds between checks; 0 = off. */
  intervalS: number;
  /** Queue an apply-cluster job when drift is found. */
  remediate: boolean;
  log: Logger;
  /** Latest report per cluster (console display). */
  onReport?: (r: DriftReport) => void;
}

/** Periodic drift checks; one pass at a time, each cluster checked in turn. */
export class DriftScheduler {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private readonly log: Logger;
  readonly last = new Map<string, DriftReport>();

  constructor(private readonly o: DriftSchedulerOptions) {
    this.log = o.log.child({ subsystem: 'drift' });
  }

  /** Starts the schedule (no-op when intervalS is 0). */
  start(): void {
    if (this.o.intervalS <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      this.pass ??= this.runPass().then(() => undefined).finally(() => { this.pass = undefined; });
    }, this.o.intervalS * 1000);
    this.timer.unref();
  }

  /** Checks every cluster once; remediates if configured. Errors are logged per cluster, never thrown. */
  async runPass(): Promise<DriftReport[]> {
    const out: DriftReport[] = [];
    for (const d of this.o.clusters()) {
      try {
        const r = await checkDrift(await this.o.vcenter(d.vcenter), d);
        this.last.set(d.name, r);
        this.o.onReport?.(r);
        out.push(r);
        if (r.drifted) {
          this.log.warn({ cluster: d.name, steps: r.steps.length }, 'cluster drifted from its file');
          if (this.o.remediate) {
            const job: JobRef = this.o.queue.enqueueApplyCluster(d.name, { source: 'drift' });
            this.log.info({ cluster: d.name, job: job.id }, 'remediation queued');
          }
        }
      } catch (e) {
        this.log.warn({ cluster: d.name, err: (e as Error).message }, 'drift check failed');
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.pass;
  }
}
