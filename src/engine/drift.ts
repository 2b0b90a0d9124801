/**
 * Drift: compares a cluster and its hosts in vCenter with its cluster file. Drift is what differs
 * for what exists: the cluster's settings (or the cluster/datacenter itself) and the members
 * vCenter knows. Members vCenter does not know yet (not booted / not phoned home) are not drift:
 * they are reported separately as `missingHosts`, and their AddHost_Task and configuration only
 * appear in the full plan (`steps`). On demand ({@link checkDrift}, `statelesx cluster drift NAME`)
 * and on a schedule ({@link DriftScheduler}, `engine.drift-interval-s`, 0 = off), remediating when
 * `engine.drift-remediate` is on by queueing a `drift` job (JobRunner.enqueueRemediateCluster,
 * origin `drift`), which changes the cluster and the members already in vCenter only — scheduled
 * remediation never adds a host. Reads only; never calls a mutating method itself.
 */
import type { DesiredCluster } from '../clusters/types.js';
import type { Logger } from '../log.js';
import { readCurrent } from './apply.js';
import { planCluster, type Step } from './plan.js';
import { planWithPools, type PoolAddressFn } from './pools.js';
import { fqdnMismatch, rejoinDue, type FqdnMismatch, type HostBoot, type HostHold } from './lifecycle.js';
import type { PoolAllocationRepo } from '../store/pools.js';
import type { JobOrigin, JobRef } from './queue.js';
import type { BootsReader } from './job-lifecycle.js';
import type { VcenterApi } from './vcenter.js';

/** Result of one drift check. */
export interface DriftReport {
  cluster: string;
  at: number;
  /** True when {@link driftSteps} is not empty (missing members alone are not drift). */
  drifted: boolean;
  /** What apply would do, missing members' AddHost_Task and configuration included (empty = in sync). */
  steps: Step[];
  /** The drift: steps for the cluster and for the members vCenter knows (what remediation does). */
  driftSteps: Step[];
  /** Members vCenter does not know yet, by SMBIOS UUID (not booted / not phoned home: not drift). */
  missingHosts: string[];
  /**
   * Members left out of the plan (engine/lifecycle): not responding and not booted since ("waiting
   * for boot"), only seen by PXE, or a thumbprint mismatch. Not drift.
   */
  held: HostHold[];
  /**
   * Members whose current boot phoned home and has not converged since: a (re)join is due (its
   * job is queued or running, or failed; {@link RejoinDue.failedJob}). Empty without boot facts.
   */
  rejoins: RejoinDue[];
  /**
   * Warnings that change nothing in the plan: members whose last phone-home named them
   * differently from the FQDN the file declares ({@link fqdnMismatch}). Empty without boot facts.
   */
  warnings: FqdnMismatch[];
  /** The remediation job queued for this report by {@link DriftScheduler} (drift-remediate on). */
  remediation?: JobRef | undefined;
}

/** A member whose current boot phoned home and has not converged yet (engine/lifecycle rejoinDue). */
export interface RejoinDue {
  uuid: string;
  fqdn: string;
  /** The phone-home of this boot, epoch ms. */
  phonedHomeAt: number;
  /** The job that failed for this boot for a reason a retry cannot fix (not re-queued at start). */
  failedJob?: string | undefined;
}

/** The members of `desired` whose rejoin is due, by the boot facts. */
export function rejoinsDue(desired: DesiredCluster, boot: (uuid: string) => HostBoot | undefined): RejoinDue[] {
  return desired.hosts.flatMap((h) => {
    const b = boot(h.uuid);
    if (!b || !rejoinDue(b)) return [];
    const failed = b.failedAt !== undefined && b.failedAt >= b.phonedHomeAt! ? { failedJob: b.failedJob } : {};
    return [{ uuid: h.uuid, fqdn: h.fqdn, phonedHomeAt: b.phonedHomeAt!, ...failed }];
  });
}

/** The members of `desired` whose last phone-home named another host than the file (engine/lifecycle fqdnMismatch). */
export function fqdnWarnings(desired: DesiredCluster, boot: (uuid: string) => HostBoot | undefined): FqdnMismatch[] {
  return desired.hosts.flatMap((h) => fqdnMismatch(h.uuid, h.fqdn, boot(h.uuid)) ?? []);
}

/**
 * Reads the cluster and every member and plans. @throws the client's errors and PlanError.
 * @param vc a logged-in vCenter (the one the file names)
 * @param readBoots reads members' current boots (engine/job-lifecycle bootLookup), once per check;
 *   without it a not-connected member is held as waiting for boot
 * @param pools the store's pool allocations (what the job runner plans with; JobRepo.pools). Without
 *   them pool addresses are planned as `start + position in the file`, which reports drift for
 *   members whose allocation differs from that.
 */
export async function checkDrift(
  vc: VcenterApi,
  desired: DesiredCluster,
  now = Date.now(),
  pools?: PoolAllocationRepo,
  readBoots?: BootsReader,
): Promise<DriftReport> {
  const state = await readCurrent(
    vc,
    desired,
    desired.hosts.map((h) => h.uuid),
  );
  const boot = readBoots ? await readBoots(desired.hosts.map((h) => h.uuid)) : undefined;
  // planWithPools may plan more than once (pool addresses allocated between passes): holds of the last pass only.
  let held: HostHold[] = [];
  const plan = (poolAddress?: PoolAddressFn) => {
    held = [];
    return planCluster(desired, state, {
      holds: held,
      ...(boot ? { boot } : {}),
      ...(poolAddress ? { poolAddress } : {}),
    });
  };
  const steps = pools ? await planWithPools(pools, desired, state, plan, now) : plan();
  const driftSteps = steps.filter((s) => !s.hostUuid || state.hosts[s.hostUuid]);
  return {
    cluster: desired.name,
    at: now,
    drifted: driftSteps.length > 0,
    steps,
    driftSteps,
    missingHosts: desired.hosts.filter((h) => !state.hosts[h.uuid]).map((h) => h.uuid),
    held,
    rejoins: boot ? rejoinsDue(desired, boot) : [],
    warnings: boot ? fqdnWarnings(desired, boot) : [],
  };
}

/** Where scheduled remediation is queued (implemented by JobRunner). */
export interface RemediationQueue {
  /**
   * Queues a `drift` job: the cluster and its members already in vCenter, never AddHost_Task.
   * @throws Error when no cluster file declares the cluster (rejects)
   */
  enqueueRemediateCluster(cluster: string, origin: JobOrigin): Promise<JobRef>;
}

export interface DriftSchedulerOptions {
  /** Every cluster file currently loaded. */
  clusters: () => DesiredCluster[];
  /** Logged-in vCenter by name (the job runner's shared connection). */
  vcenter: (name: string) => Promise<VcenterApi>;
  queue: RemediationQueue;
  /** Seconds between checks; 0 = off. */
  intervalS: number;
  /** Queue a `drift` remediation job when drift is found (`engine.drift-remediate`). */
  remediate: boolean;
  log: Logger;
  /** Latest report per cluster (console display). */
  onReport?: (r: DriftReport) => void;
  /** Pool allocations to plan with (JobRepo.pools; see {@link checkDrift}). */
  pools?: PoolAllocationRepo;
  /** Reads members' current boots (engine/job-lifecycle bootLookup): held members and due rejoins in the reports. */
  boot?: BootsReader;
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
      this.pass ??= this.runPass()
        .then(() => undefined)
        .finally(() => {
          this.pass = undefined;
        });
    }, this.o.intervalS * 1000);
    this.timer.unref();
  }

  /** Checks every cluster once; remediates if configured (drifted clusters only). Errors are logged per cluster, never thrown. */
  async runPass(): Promise<DriftReport[]> {
    const out: DriftReport[] = [];
    for (const d of this.o.clusters()) {
      try {
        const r = await checkDrift(await this.o.vcenter(d.vcenter), d, Date.now(), this.o.pools, this.o.boot);
        if (r.missingHosts.length)
          this.log.info({ cluster: d.name, missingHosts: r.missingHosts }, 'members not in vCenter yet (not drift)');
        if (r.drifted) {
          this.log.warn({ cluster: d.name, steps: r.driftSteps.length }, 'cluster drifted from its file');
          if (this.o.remediate) {
            r.remediation = await this.o.queue.enqueueRemediateCluster(d.name, { source: 'drift' });
            this.log.info({ cluster: d.name, job: r.remediation.id }, 'remediation queued');
          }
        }
        this.last.set(d.name, r);
        this.o.onReport?.(r);
        out.push(r);
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
