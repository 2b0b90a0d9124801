/**
 * Admission of queued engine jobs (issue 19 item 5, staged bring-up after a power event): in which
 * order the queued jobs of one vCenter start, which start now, and why the others wait. Pure: the
 * scheduler (src/engine/job-scheduler.ts) passes a snapshot and starts what {@link admit} returns;
 * the jobs API shows the same decisions as `queuePosition` and `waitReason`.
 *
 * Order (deterministic; not arrival order): the cluster's bring-up priority ascending
 * (`cluster/@priority`, 1 first, default 50); within one priority, whole-cluster jobs
 * (apply-cluster, drift) first, then joins and rejoins (configure-host) by the member's index in its
 * cluster file's members list, clusters taking turns (the first member of every cluster of that
 * priority, then the second, …; equal indexes by cluster name); then arrival.
 *
 * A queued job starts when all of these hold, checked in this order; the first that does not is
 * its wait reason ({@link WaitReason}):
 * 1. `host` — none of its hosts is changed by a running job, or by a job queued before it (one job
 *    per host; hosts are granted in arrival order: a waiting job holds its hosts against the jobs
 *    queued after it, so an apply-cluster is not starved by its members' joins, nor passes a join
 *    queued before it; joins of different hosts never share one);
 * 2. `priority` — joins and rejoins only. No cluster of a lower priority number is still coming
 *    up, on any vCenter: none has a configure-host job queued or running, and none had one queued
 *    (a member phoned home) less than `settle` ago. And when any cluster file declares a lower
 *    number than the job's cluster, the job itself was queued at least `settle` ago, so the
 *    members of infrastructure clusters that boot a little slower still phone home first;
 * 3. `cluster-limit` — its cluster runs fewer than `engine.concurrency-per-cluster` jobs;
 * 4. `vcenter-limit` — its vCenter runs fewer than `engine.concurrency-per-vcenter` jobs;
 * 5. `rate` — the vCenter's last start was at least 1 / `engine.admission-rate` seconds ago.
 * So a vCenter never runs more than its limit, and a lower-priority join never starts while a
 * higher-priority cluster's member that phoned home is not yet done (a failed join is done: it no
 * longer holds others back; its retry does again, for the joins that have not started).
 */
import type { JobKind } from '../store/jobs.js';

/** Why a queued job does not start now (see the module docstring for the rules). */
export type WaitReason = 'host' | 'priority' | 'cluster-limit' | 'vcenter-limit' | 'rate';

/** Where a queued job stands: its 1-based place in its vCenter's order and why it waits. */
export interface QueuePlace {
  /** 1 = the next job of its vCenter to start. */
  queuePosition: number;
  waitReason: WaitReason;
  /** One sentence: what it waits for. */
  waitDetail: string;
}

/** A queued job as admission sees it. */
export interface AdmissionJob {
  id: string;
  kind: JobKind;
  /** Its cluster's name ('' when none). */
  cluster: string;
  /** Its cluster's `priority` (1 first … 99 last). */
  priority: number;
  /** configure-host: the member's 0-based index in its cluster file; whole-cluster jobs: -1. */
  memberIndex: number;
  /** Arrival order (increasing), the last tie-break. */
  seq: number;
  /** When it was queued, epoch ms. */
  queuedAt: number;
  /** Lower-case UUIDs of the hosts it may change. */
  hosts: string[];
}

/** The configured limits. */
export interface AdmissionLimits {
  /** `engine.concurrency-per-vcenter`. */
  vcenter: number;
  /** `engine.concurrency-per-cluster`; undefined = none beyond the vCenter's. */
  cluster?: number | undefined;
  /** `engine.admission-rate`: starts per second per vCenter; 0 = no limit. */
  rate: number;
  /** `engine.priority-settle-s` in ms. */
  settleMs: number;
}

/** A cluster with joins queued or running, or a recent phone-home. */
export interface ClusterActivity {
  cluster: string;
  priority: number;
  /** Joins (configure-host) queued (any vCenter) or running. */
  joins: number;
  /** When its last join was queued, epoch ms (undefined: none remembered). */
  lastQueuedAt?: number | undefined;
}

/** What admission reads besides the queue: the vCenter's and every cluster's current load. */
export interface AdmissionState {
  /** Epoch ms. */
  now: number;
  /** The vCenter's name (for messages). */
  vcenter: string;
  /** Jobs running on this vCenter. */
  running: number;
  /** Jobs running per cluster name. */
  runningByCluster: ReadonlyMap<string, number>;
  /** Lower-case host UUID → id of the running job that changes it. */
  busyHosts: ReadonlyMap<string, string>;
  /** The vCenter's last job start, epoch ms. */
  lastStartAt?: number | undefined;
  /** Every cluster's joins and last phone-home, across vCenters (for the priority rule). */
  clusters: readonly ClusterActivity[];
  /** The lowest `priority` any cluster file declares (undefined: not known; the own-settle rule is off). */
  topDeclared?: number | undefined;
}

/** One job's decision. */
export type Admission = { id: string; start: true } | ({ id: string; start: false } & QueuePlace);

/** What {@link admit} decided: per job in order, and when a time-based wait ends (epoch ms). */
export interface AdmissionResult {
  decisions: Admission[];
  /** Earliest time a `priority` or `rate` wait ends by itself (run admission again then). */
  wakeAt?: number | undefined;
}

/** The admission order (see the module docstring); a new array. */
export function admissionOrder(queue: readonly AdmissionJob[]): AdmissionJob[] {
  return [...queue].sort(
    (a, b) =>
      a.priority - b.priority ||
      a.memberIndex - b.memberIndex ||
      (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0) ||
      a.seq - b.seq,
  );
}

const secs = (ms: number): string => `${Math.max(0, Math.ceil(ms / 1000))} s`;

/** Why a join of `job` waits for a higher priority, and until when if only time tells; undefined: it does not. */
export function priorityHold(
  job: AdmissionJob,
  limits: AdmissionLimits,
  st: AdmissionState,
): { detail: string; until?: number } | undefined {
  if (job.kind !== 'configure-host') return undefined;
  const higher = st.clusters.filter((c) => c.priority < job.priority);
  const busy = higher.filter((c) => c.joins > 0).sort((a, b) => a.priority - b.priority)[0];
  if (busy)
    return {
      detail: `cluster ${busy.cluster} (priority ${busy.priority}) has ${busy.joins} join(s) queued or running; priority ${job.priority} waits until it is done`,
    };
  const recent = higher.filter((c) => c.lastQueuedAt !== undefined && st.now - c.lastQueuedAt < limits.settleMs);
  if (recent.length) {
    const last = recent.reduce((a, b) => (b.lastQueuedAt! > a.lastQueuedAt! ? b : a));
    const until = Math.max(...recent.map((c) => c.lastQueuedAt! + limits.settleMs));
    return {
      detail: `a member of cluster ${last.cluster} (priority ${last.priority}) phoned home ${secs(st.now - last.lastQueuedAt!)} ago; lower priorities wait ${secs(limits.settleMs)} after the last one (engine.priority-settle-s), ${secs(until - st.now)} more`,
      until,
    };
  }
  if (st.topDeclared !== undefined && st.topDeclared < job.priority && st.now < job.queuedAt + limits.settleMs)
    return {
      detail: `held ${secs(limits.settleMs)} after phoning home so members of clusters with priority ${st.topDeclared} can phone home first (engine.priority-settle-s), ${secs(job.queuedAt + limits.settleMs - st.now)} more`,
      until: job.queuedAt + limits.settleMs,
    };
  return undefined;
}

/**
 * Decides, for the queued jobs of one vCenter, which start now (in order) and why each other waits
 * (see the module docstring). Pure: counts in `st` are not changed; the jobs it starts are counted
 * against the limits for the jobs after them.
 */
export function admit(queue: readonly AdmissionJob[], limits: AdmissionLimits, st: AdmissionState): AdmissionResult {
  const decisions: Admission[] = [];
  const busy = new Map(st.busyHosts);
  /** Host → the queued job that arrived first among those that change it. */
  const first = new Map<string, AdmissionJob>();
  for (const j of queue) for (const h of j.hosts) if ((first.get(h)?.seq ?? Infinity) > j.seq) first.set(h, j);
  const byCluster = new Map(st.runningByCluster);
  let running = st.running;
  let lastStart = st.lastStartAt;
  let wakeAt: number | undefined;
  const interval = limits.rate > 0 ? 1000 / limits.rate : 0;
  const wait = (job: AdmissionJob, position: number, waitReason: WaitReason, waitDetail: string, until?: number) => {
    decisions.push({ id: job.id, start: false, queuePosition: position, waitReason, waitDetail });
    if (until !== undefined) wakeAt = Math.min(wakeAt ?? until, until);
  };
  admissionOrder(queue).forEach((job, i) => {
    const position = i + 1;
    const heldBy = job.hosts.find((h) => busy.has(h));
    if (heldBy)
      return wait(
        job,
        position,
        'host',
        `waiting for job ${busy.get(heldBy)!}, which is changing host ${heldBy} (one job per host at a time)`,
      );
    const before = job.hosts.find((h) => first.get(h)!.seq < job.seq);
    if (before)
      return wait(
        job,
        position,
        'host',
        `waiting for job ${first.get(before)!.id}, queued before it, which changes host ${before} too (one job per host at a time)`,
      );
    const hold = priorityHold(job, limits, st);
    if (hold) return wait(job, position, 'priority', hold.detail, hold.until);
    const inCluster = byCluster.get(job.cluster) ?? 0;
    if (limits.cluster !== undefined && job.cluster && inCluster >= limits.cluster)
      return wait(
        job,
        position,
        'cluster-limit',
        `cluster ${job.cluster} runs ${inCluster} job(s) (engine.concurrency-per-cluster ${limits.cluster})`,
      );
    if (running >= limits.vcenter)
      return wait(
        job,
        position,
        'vcenter-limit',
        `vCenter ${st.vcenter} runs ${running} job(s) (engine.concurrency-per-vcenter ${limits.vcenter})`,
      );
    if (lastStart !== undefined && st.now < lastStart + interval)
      return wait(
        job,
        position,
        'rate',
        `vCenter ${st.vcenter} starts at most ${limits.rate} job(s) per second (engine.admission-rate)`,
        lastStart + interval,
      );
    decisions.push({ id: job.id, start: true });
    for (const h of job.hosts) busy.set(h, job.id);
    running++;
    byCluster.set(job.cluster, inCluster + 1);
    lastStart = st.now;
  });
  return { decisions, wakeAt };
}
