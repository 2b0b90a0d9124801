/**
 * Durable engine jobs: the {@link JobQueue} implementation. A job is a persisted plan (rows in
 * `jobs` / `job_steps` / `job_log` through src/store/jobs.ts); each step is recorded with start,
 * end, result and fault. It writes and never decides: plans come from engine/plan, calls go through
 * engine/apply.
 *
 * How a job runs (one "round" = read state → plan → execute):
 * 1. read the cluster and the job's hosts (engine/apply readCurrent), plan (planHost/planCluster);
 *    steps still pending from an earlier round are marked `skipped` ("replanned") and the new plan is
 *    appended; zero steps → the job succeeded (this is also the read-back verification);
 * 2. execute the steps in order. After an inventory step (CreateDatacenter, CreateClusterEx,
 *    AddHost_Task) the affected part is read again and the remaining steps re-planned from it; the
 *    host AddHost_Task returned must report the member's hardware UUID (either byte order), else
 *    the job fails naming both UUIDs and the machine is not configured (its FQDN resolves to
 *    another machine);
 * 3. a transient fault (timeout, connection error, InvalidState/TaskInProgress, SystemError, HTTP ≥ 502,
 *    HostConnectFault other than SSLVerifyFault/AlreadyConnected) is recorded on the step, then after
 *    a backoff (retryBaseMs·2^(n-1), ≤ 30 s) a new round re-reads and re-plans — a step that had in
 *    fact completed (a timed-out AddHost_Task vCenter finished anyway) is not planned again. After
 *    `engine.max-attempts` transient faults the job fails with the last fault;
 * 4. a permanent fault (InvalidLogin, thumbprint refused, InvalidArgument, PlanError, …) fails the job
 *    at once with a reason naming the step and target;
 * 5. after a round that executed every step, the next round must plan zero steps, else the job fails
 *    ("verification").
 *
 * Maintenance mode: before EnterMaintenanceMode_Task the host is recorded in the store
 * (`engine_maintenance`, JobRepo.markMaintenance); ExitMaintenanceMode_Task clears it. A job that
 * finds a recorded host in maintenance mode plans ExitMaintenanceMode_Task for it even if nothing
 * else differs (plan: PlanContext.engineMaintenance), so a job killed or failed between the two
 * steps never leaves the host in maintenance mode for good. A host in maintenance mode without a
 * record (put there by an operator) stays in it; a record whose host is not in maintenance mode is
 * dropped when read.
 *
 * Crash recovery (decided: re-plan, not replay): on {@link JobRunner.start} every job left `queued`
 * or `running` is queued again; its unfinished steps are marked `skipped` ("interrupted") and the
 * job continues with a round from fresh state, so it resumes at the first change not yet made and
 * never repeats one that completed before the crash (vSphere calls are not all idempotent, and a step
 * in flight at the crash may or may not have happened).
 *
 * Job kinds: configure-host (one member), apply-cluster (cluster + every member), drift (scheduled
 * remediation: cluster + the members already in vCenter, never AddHost_Task).
 *
 * Scheduling: one job per target at a time (a second request returns the queued/running job);
 * at most `engine.concurrency-per-vcenter` jobs run against one vCenter at once. One job per host
 * at a time, across job kinds: a job's hosts are its target (configure-host) or every member of
 * its cluster file (apply-cluster, drift); a queued job starts only when no running job has one of its
 * hosts, and hosts are granted in queue order (a waiting job holds its hosts against jobs queued
 * after it, so an apply-cluster is not starved by configure-host jobs of its members; jobs with
 * no host in common pass a waiting one). So a configure-host job and an apply-cluster job never
 * change the same host at once: the later one waits for the earlier one to finish, then plans from
 * the state it left. (Within one runner, i.e. one process; the CLI refuses to run its own runner
 * on a data-dir a server holds, see src/store/datadir-lock.ts.) One connection
 * (VcenterApi) per vCenter is shared by its jobs. A missing or unreachable vCenter is a failed job
 * with a clear reason, never a crash.
 *
 * Events ({@link JobEvents}): `job` (JobRecord after every state change), `step`
 * (JobStepRecord after every step change), `log` (JobLogLine). The console streams them over SSE.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { readSecret } from '../config/secrets.js';
import type { DesiredCluster } from '../clusters/types.js';
import type { Logger } from '../log.js';
import type { JobKind, JobLogLine, JobRecord, JobRepo, JobStepRecord } from '../store/jobs.js';
import {
  AlreadyConnected,
  HostConnectFault,
  InvalidLogin,
  isTransientFault,
  ManagedObjectNotFound,
  SSLVerifyFault,
  VsphereFault,
} from '../vsphere/faults.js';
import { executeStep, PermanentStepError, readCurrent, REPLAN_AFTER, type ApplyContext } from './apply.js';
import { poolAllocator } from './pools.js';
import { memberByUuid, planCluster, planClusterSteps, planHost, planHostSteps, PlanError, type Step } from './plan.js';
import type { JobOrigin, JobQueue, JobRef } from './queue.js';
import type { CurrentState } from './state.js';
import type { VcenterApi, VcenterConnector } from './vcenter.js';
import { counter, gauge, histogram } from '../metrics.js';
import { normalizeUuid, swapUuidByteOrder } from '../hosts/identity.js';
import { bootLookup, heldOutcome, pendingRejoins, type HostBootSource } from './job-lifecycle.js';
import type { HostHold } from './lifecycle.js';
import type { EsxiConnector } from './vcenter.js';
import { escapePathSegment } from '../vsphere/read.js';

const jobsFinished = counter('jobs_finished_total', 'Engine jobs finished, by kind and final state', ['kind', 'state']);
const jobDuration = histogram(
  'job_duration_seconds',
  'Engine job duration from start to finish, by kind and final state',
  ['kind', 'state'],
  [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
);
/** Runners started in this process and not closed: `statelesx_jobs` is computed from them at scrape time. */
const liveRunners = new Set<JobRunner>();
gauge(
  'jobs',
  'Engine jobs of this process now queued (waiting for a slot or a host) or running, by kind and state',
  ['kind', 'state'],
  function () {
    this.reset();
    for (const r of liveRunners) {
      for (const [kind, state, n] of r.activeCounts()) this.inc({ kind, state }, n);
    }
  },
);

/** Where the runner gets validated cluster files (src/clusters loader, or tests). */
export interface ClusterSource {
  /** The cluster of that name, or undefined. */
  get(name: string): DesiredCluster | undefined;
  /** The cluster whose members include this SMBIOS UUID, or undefined. */
  findByHost(uuid: string): DesiredCluster | undefined;
}

/** Events emitted by {@link JobRunner}. */
export interface JobEvents {
  job: [JobRecord];
  step: [JobStepRecord];
  log: [JobLogLine];
}

export interface JobRunnerOptions {
  jobs: JobRepo;
  config: Pick<Config, 'engine' | 'vcenters' | 'credentials'>;
  clusters: ClusterSource;
  connect: VcenterConnector;
  log: Logger;
  /** First retry delay in ms (doubles per attempt, capped at 30 s). Default 1000. */
  retryBaseMs?: number;
  /** Environment for password-env secrets (tests). */
  env?: NodeJS.ProcessEnv;
  /** Called when a configure-host job ends (e.g. to set the host's state in the store). */
  onHostResult?: (uuid: string, ok: boolean, cluster: string) => void;
  /**
   * Whether {@link JobRunner.start} queues again every job left unfinished in the store (default
   * true: the server, which owns the data-dir). False for a runner that only runs the jobs it is
   * given (`statelesx cluster apply`): it never touches other processes' jobs.
   */
  resumeUnfinished?: boolean;
  /**
   * Members' current boots (store `host_boots`): phone-home thumbprints, convergence. Without it
   * every member counts as phoned home and a disconnected one as waiting for boot.
   */
  boots?: HostBootSource;
  /** Sessions on ESXi hosts' own SDK, to set a fresh boot's root password (engine.esxi-sdk-url). */
  esxi?: EsxiConnector;
}

const jobContext = new AsyncLocalStorage<{ id: string; kind: JobKind; target: string }>();

/**
 * The job whose code is running (AsyncLocalStorage over everything a job's run awaits: reads,
 * steps, SOAP calls), or undefined outside a job. For attributing vCenter calls to jobs
 * (src/bench/engine.ts counts duplicate reads per host's job).
 */
export function currentJob(): { id: string; kind: JobKind; target: string } | undefined {
  return jobContext.getStore();
}

/** Faults that are a definite "no" from vCenter, even though their class is HostConnectFault. */
function isTransient(e: unknown): boolean {
  if (e instanceof PermanentStepError || e instanceof PlanError || e instanceof InvalidLogin) return false;
  if (e instanceof SSLVerifyFault || e instanceof AlreadyConnected) return false;
  if (e instanceof HostConnectFault && e.faultName === 'HostConnectFault') return true;
  // A task or object that vanished (e.g. the session that owned a task was logged out and logged
  // in again) is ambiguous: retry, which re-reads vCenter and re-plans from what really happened.
  if (e instanceof ManagedObjectNotFound) return true;
  return isTransientFault(e);
}

function describe(e: unknown): string {
  if (e instanceof VsphereFault) return e.message;
  return e instanceof Error ? e.message : String(e);
}

/** Whether two SMBIOS UUIDs name the same machine, in either byte order of the first three fields. */
function sameHardware(a: string, b: string): boolean {
  const x = normalizeUuid(a);
  const y = normalizeUuid(b);
  return !!x && !!y && (x === y || swapUuidByteOrder(x) === y);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The durable job runner; implements {@link JobQueue}. */
export class JobRunner extends EventEmitter<JobEvents> implements JobQueue {
  private readonly queues = new Map<string, JobRecord[]>();
  private readonly running = new Map<string, number>();
  /** Lower-case host UUID → id of the running job that holds it (one job per host). */
  private readonly busyHosts = new Map<string, string>();
  /** Queued jobs whose wait for a host has been logged once. */
  private readonly waitNoted = new Set<string>();
  private readonly inflight = new Map<string, Promise<void>>();
  /** Kind of each inflight job (for {@link activeCounts}). */
  private readonly inflightKind = new Map<string, JobKind>();
  private readonly waiters = new Map<string, ((j: JobRecord) => void)[]>();
  private readonly connections = new Map<string, Promise<VcenterApi>>();
  private closing = false;
  private started = false;
  private readonly log: Logger;

  constructor(private readonly o: JobRunnerOptions) {
    super();
    this.log = o.log.child({ subsystem: 'engine' });
  }

  /**
   * Starts running queued jobs; with `resumeUnfinished` (the default) first queues again every job
   * a previous process left unfinished.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    liveRunners.add(this);
    if (this.o.resumeUnfinished === false) return;
    for (const j of this.o.jobs.unfinished()) this.resume(j.id);
    // A boot that phoned home while we were down (or whose job died) has not converged: rejoin it.
    if (this.o.boots)
      for (const uuid of pendingRejoins(this.o.boots, (u) => this.o.clusters.findByHost(u))) {
        const ref = this.enqueueConfigureHost(uuid, { source: 'engine', actor: 'restart' });
        if (!ref.existing)
          this.log.info({ host: uuid, job: ref.id }, 'rejoin queued at start: last boot not converged');
      }
  }

  /**
   * Resumes one job a previous process left queued or running: its unfinished steps are marked
   * skipped ("interrupted") and it is re-planned from fresh state. Only for a job no live process
   * runs (the caller holds the data-dir, src/store/datadir-lock.ts). No-op for a job that is
   * finished or already run by this runner. @returns whether it was queued
   */
  resume(jobId: string): boolean {
    const j = this.o.jobs.get(jobId);
    if (!j || !['queued', 'running'].includes(j.state) || this.inflight.has(jobId)) return false;
    if ([...this.queues.values()].some((q) => q.some((x) => x.id === jobId))) return false;
    const n = this.o.jobs.skipUnfinished(
      j.id,
      'interrupted (server restarted); re-planned from fresh state',
      Date.now(),
    );
    this.note(j.id, 'warn', `resuming after restart (${n} unfinished step(s) will be re-planned)`);
    this.schedule(j);
    return true;
  }

  /** Stops starting steps; running jobs stop after their current step and resume on the next start. */
  async close(): Promise<void> {
    this.closing = true;
    liveRunners.delete(this);
    await Promise.allSettled([...this.inflight.values()]);
    for (const c of this.connections.values()) {
      await c.then((vc) => vc.close()).catch(() => undefined);
    }
    this.connections.clear();
  }

  enqueueConfigureHost(hostUuid: string, origin: JobOrigin): JobRef {
    const uuid = hostUuid.toLowerCase();
    const desired = this.o.clusters.findByHost(uuid);
    if (!desired) throw new Error(`host ${hostUuid} is in no cluster file`);
    return this.enqueue('configure-host', uuid, desired, origin);
  }

  enqueueApplyCluster(cluster: string, origin: JobOrigin): JobRef {
    const desired = this.o.clusters.get(cluster);
    if (!desired) throw new Error(`cluster ${cluster} is not defined (no cluster file declares it)`);
    return this.enqueue('apply-cluster', cluster, desired, origin);
  }

  /**
   * Queues drift remediation of a cluster (job kind `drift`): its settings and the members vCenter
   * already knows are made to match the file; members not in vCenter (not booted yet) are left
   * out — never AddHost_Task. An apply-cluster or drift job already active for the cluster is
   * returned instead (it covers this). @throws Error when no cluster file declares it
   */
  enqueueRemediateCluster(cluster: string, origin: JobOrigin): JobRef {
    const desired = this.o.clusters.get(cluster);
    if (!desired) throw new Error(`cluster ${cluster} is not defined (no cluster file declares it)`);
    return this.enqueue('drift', cluster, desired, origin);
  }

  /** Resolves when the job reaches a final state. */
  wait(jobId: string): Promise<JobRecord> {
    const j = this.o.jobs.get(jobId);
    if (!j) return Promise.reject(new Error(`no job ${jobId}`));
    if (['succeeded', 'failed', 'cancelled', 'blocked'].includes(j.state)) return Promise.resolve(j);
    return new Promise((res) => {
      this.waiters.set(jobId, [...(this.waiters.get(jobId) ?? []), res]);
    });
  }

  /**
   * Jobs this runner holds now, as [kind, state, count] rows: `queued` = scheduled and waiting for
   * a concurrency slot or a host, `running` = started and not yet finished (for `statelesx_jobs`).
   */
  activeCounts(): Array<[JobKind, 'queued' | 'running', number]> {
    const n = new Map<string, number>();
    const add = (kind: JobKind, state: 'queued' | 'running') =>
      n.set(`${kind} ${state}`, (n.get(`${kind} ${state}`) ?? 0) + 1);
    for (const q of this.queues.values()) for (const j of q) add(j.kind, 'queued');
    for (const id of this.inflight.keys()) add(this.inflightKind.get(id) ?? 'configure-host', 'running');
    return [...n].map(([k, c]) => [...(k.split(' ') as [JobKind, 'queued' | 'running']), c]);
  }

  /** SOAP call counts of the shared connection to a vCenter (undefined if not connected). */
  async calls(vcenter: string): Promise<ReturnType<VcenterApi['calls']> | undefined> {
    const c = this.connections.get(vcenter);
    return c ? (await c).calls() : undefined;
  }

  private enqueue(kind: JobKind, target: string, desired: DesiredCluster, origin: JobOrigin): JobRef {
    // An active drift job does not stand in for a requested apply (it adds no hosts); an apply does for a drift job.
    const active = this.o.jobs.active(
      target,
      kind === 'apply-cluster' ? ['apply-cluster'] : kind === 'drift' ? ['apply-cluster', 'drift'] : undefined,
    );
    if (active) return { id: active.id, existing: true };
    const job = this.o.jobs.create({
      id: randomUUID(),
      kind,
      target,
      cluster: desired.name,
      vcenter: desired.vcenter,
      requestedBy: origin.actor ? `${origin.source}:${origin.actor}` : origin.source,
      at: Date.now(),
    });
    this.note(job.id, 'info', `${kind} ${target} queued by ${job.requestedBy ?? origin.source}`);
    this.emit('job', job);
    if (this.started) this.schedule(job);
    return { id: job.id, existing: false };
  }

  private limit(): number {
    return this.o.config.engine['concurrency-per-vcenter'];
  }

  private schedule(job: JobRecord): void {
    const vc = job.vcenter ?? '';
    this.queues.set(vc, [...(this.queues.get(vc) ?? []), job]);
    this.pump(vc);
  }

  /** The hosts a job may change (lower-case UUIDs): its target, or every member of its cluster. */
  private hostsOf(job: JobRecord): string[] {
    if (job.kind === 'configure-host') return [job.target.toLowerCase()];
    const desired = job.cluster ? this.o.clusters.get(job.cluster) : undefined;
    return (desired?.hosts ?? []).map((h) => h.uuid.toLowerCase());
  }

  /** Starts queued jobs of a vCenter up to its limit, each only when none of its hosts is held (see the module note). */
  private pump(vc: string): void {
    const q = this.queues.get(vc) ?? [];
    const reserved = new Set<string>();
    for (let i = 0; i < q.length && !this.closing && (this.running.get(vc) ?? 0) < this.limit(); i++) {
      const job = q[i]!;
      const hosts = this.hostsOf(job);
      if (hosts.some((h) => this.busyHosts.has(h) || reserved.has(h))) {
        const held = hosts.find((h) => this.busyHosts.has(h));
        if (!this.waitNoted.has(job.id)) {
          this.waitNoted.add(job.id);
          this.note(
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
        .run({ id, kind: job.kind, target: job.target }, () => this.run(id))
        .catch((e: unknown) => this.finish(id, 'failed', `internal error: ${describe(e)}`))
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

  private note(jobId: string, level: 'info' | 'warn' | 'error', msg: string): void {
    const at = Date.now();
    this.o.jobs.log(jobId, at, level, msg);
    this.log[level]({ job: jobId }, msg);
    const line = this.o.jobs.logs(jobId).at(-1);
    if (line) this.emit('log', line);
  }

  private finish(id: string, state: 'succeeded' | 'failed' | 'blocked', reason?: string): void {
    this.o.jobs.finish(id, state, Date.now(), reason);
    const j = this.o.jobs.get(id)!;
    jobsFinished.inc({ kind: j.kind, state });
    if (j.startedAt && j.finishedAt) jobDuration.observe({ kind: j.kind, state }, (j.finishedAt - j.startedAt) / 1000);
    this.note(
      id,
      state === 'succeeded' ? 'info' : state === 'blocked' ? 'warn' : 'error',
      state === 'succeeded' ? 'job succeeded' : `job ${state}: ${reason ?? ''}`,
    );
    this.emit('job', j);
    if (j.kind === 'configure-host' && j.cluster && state !== 'blocked')
      this.o.onHostResult?.(j.target, state === 'succeeded', j.cluster);
    for (const w of this.waiters.get(id) ?? []) w(j);
    this.waiters.delete(id);
  }

  private emitStep(jobId: string, seq: number): void {
    const s = this.o.jobs.steps(jobId).find((x) => x.seq === seq);
    if (s) this.emit('step', s);
  }

  /** The shared logged-in connection to a configured vCenter (drift checks, CLI plan). */
  vcenter(name: string): Promise<VcenterApi> {
    return this.connection(name);
  }

  private connection(name: string): Promise<VcenterApi> {
    let c = this.connections.get(name);
    if (!c) {
      c = this.o.connect(name);
      this.connections.set(name, c);
      c.catch(() => this.connections.delete(name));
    }
    return c;
  }

  private credentials(name: string): { username: string; password: string } {
    const c = this.o.config.credentials.find((x) => x.name === name);
    if (!c)
      throw new PermanentStepError(
        `ESXi credentials "${name}" are not defined under credentials: in the server configuration`,
      );
    try {
      return { username: c.username, password: readSecret(c, `credentials[${name}]`, this.o.env) };
    } catch (e) {
      throw new PermanentStepError((e as Error).message);
    }
  }

  private plan(job: JobRecord, desired: DesiredCluster, state: CurrentState, holds: HostHold[]): Step[] {
    const engineMaintenance = this.maintenanceRecord(state);
    const poolAddress = poolAllocator(this.o.jobs.pools, desired, state);
    const boot = this.o.boots ? bootLookup(this.o.boots) : undefined;
    const ctx = { engineMaintenance, poolAddress, holds, ...(boot ? { boot } : {}) };
    if (job.kind === 'configure-host') {
      return planHost(
        desired,
        memberByUuid(desired, job.target),
        { cluster: state.cluster, host: state.hosts[job.target] },
        ctx,
      );
    }
    return planCluster(desired, state, { ...ctx, existingOnly: job.kind === 'drift' });
  }

  /**
   * The hosts the engine put into maintenance mode (store record), after dropping the records of
   * hosts just read that are no longer in it (exited by hand, or a crash between the exit and
   * clearing the record). Safe because one job at a time acts on a host (see the module note).
   */
  private maintenanceRecord(state: CurrentState): Set<string> {
    const rec = this.o.jobs.maintenanceHosts();
    for (const [uuid, h] of Object.entries(state.hosts)) {
      const key = uuid.toLowerCase();
      if (h && !h.inMaintenanceMode && rec.has(key)) {
        this.o.jobs.clearMaintenance(key);
        rec.delete(key);
      }
    }
    return rec;
  }

  /** Runs a job to its end (or until the runner closes). Never throws for vCenter problems. */
  private async run(id: string): Promise<void> {
    const job0 = this.o.jobs.get(id);
    if (!job0 || !['queued', 'running'].includes(job0.state)) return;
    this.o.jobs.markRunning(id, Date.now());
    const job = this.o.jobs.get(id)!;
    this.emit('job', job);
    const desired = job.cluster ? this.o.clusters.get(job.cluster) : undefined;
    if (!desired) return this.finish(id, 'failed', `cluster ${job.cluster ?? '?'} is not defined by any cluster file`);
    const vcName = desired.vcenter;
    if (!this.o.config.vcenters.some((v) => v.name === vcName)) {
      return this.finish(
        id,
        'failed',
        `vCenter "${vcName}" named by cluster ${desired.name} is not configured (vcenters: in statelesx.yaml)`,
      );
    }
    const uuids = job.kind === 'configure-host' ? [job.target] : desired.hosts.map((h) => h.uuid);
    const maxAttempts = this.o.config.engine['max-attempts'];
    let transient = 0;
    let completedRound = false;
    const maxRounds = 4 + maxAttempts;

    const failTransient = async (e: unknown, what: string): Promise<boolean> => {
      transient++;
      if (transient >= maxAttempts) {
        this.finish(id, 'failed', `${what}: ${describe(e)} (gave up after ${transient} attempt(s))`);
        return false;
      }
      const delay = Math.min(30_000, (this.o.retryBaseMs ?? 1000) * 2 ** (transient - 1));
      this.note(
        id,
        'warn',
        `${what}: ${describe(e)}; retrying in ${delay} ms (attempt ${transient + 1} of ${maxAttempts})`,
      );
      await sleep(delay);
      return true;
    };

    for (let round = 0; round < maxRounds; round++) {
      if (this.closing) return;
      let vc: VcenterApi;
      let state: CurrentState;
      let steps: Step[];
      const holds: HostHold[] = [];
      try {
        vc = await this.connection(vcName);
        state = await readCurrent(vc, desired, uuids);
        steps = this.plan(job, desired, state, holds);
      } catch (e) {
        if (e instanceof InvalidLogin)
          return this.finish(
            id,
            'failed',
            `vCenter "${vcName}" refused the login: ${describe(e)} — check vcenters[${vcName}].username and its password source`,
          );
        if (!isTransient(e))
          return this.finish(
            id,
            'failed',
            `${e instanceof PlanError ? 'cannot plan' : `vCenter "${vcName}"`}: ${describe(e)}`,
          );
        if (await failTransient(e, `vCenter "${vcName}" not reachable`)) continue;
        return;
      }
      this.o.jobs.skipUnfinished(id, 'replanned from fresh state', Date.now());
      if (steps.length === 0) {
        this.note(
          id,
          'info',
          round === 0
            ? 'nothing to change: vCenter already matches the cluster file'
            : 'verified: read back, vCenter matches the cluster file',
        );
        const held = new Set(holds.map((h) => h.uuid.toLowerCase()));
        for (const u of uuids) if (!held.has(u.toLowerCase())) this.o.boots?.markConverged(u, Date.now());
        const outcome = heldOutcome(job.kind, holds);
        for (const h of holds)
          this.note(id, h.reason === 'thumbprint-mismatch' ? 'error' : 'warn', `${h.fqdn}: ${h.detail}`);
        if (holds.length)
          this.note(
            id,
            'info',
            `per-host outcome: ${desired.hosts
              .filter((h) => uuids.includes(h.uuid))
              .map((h) => `${h.fqdn} ${holds.find((x) => x.uuid === h.uuid)?.reason ?? 'converged'}`)
              .join(', ')}`,
          );
        return this.finish(id, outcome.state, outcome.reason);
      }
      if (completedRound) {
        return this.finish(
          id,
          'failed',
          `verification failed: after applying, ${steps.length} difference(s) remain: ${steps.map((s) => `${s.name} ${s.target}`).join('; ')}`,
        );
      }
      this.note(id, 'info', `round ${round + 1}: ${steps.length} step(s) planned`);
      const outcome = await this.execute(id, desired, vc, state, steps);
      if (outcome.kind === 'closed') return;
      if (outcome.kind === 'permanent') return this.finish(id, 'failed', outcome.reason);
      if (outcome.kind === 'transient') {
        if (await failTransient(outcome.error, outcome.what)) continue;
        return;
      }
      completedRound = true;
    }
    this.finish(id, 'failed', `did not converge after ${maxRounds} rounds`);
  }

  /** Executes a plan with in-round re-planning after inventory steps. */
  private async execute(
    id: string,
    desired: DesiredCluster,
    vc: VcenterApi,
    state: CurrentState,
    planned: Step[],
  ): Promise<
    | { kind: 'done' }
    | { kind: 'closed' }
    | { kind: 'permanent'; reason: string }
    | { kind: 'transient'; error: unknown; what: string }
  > {
    let steps = planned;
    let seqs = this.o.jobs.appendSteps(id, steps);
    const ctx: ApplyContext = {
      vc,
      desired,
      state,
      credentials: (n) => this.credentials(n),
      thumbprintPolicy: this.o.config.engine['thumbprint-policy'],
      trustedThumbprint: (h) => this.o.jobs.thumbprint(h),
      trustThumbprint: (h, t) => this.o.jobs.trustThumbprint(h, t, Date.now()),
      note: (level, msg) => this.note(id, level, msg),
      esxi: this.o.esxi,
      esxiSdkUrl: this.o.config.engine['esxi-sdk-url'],
      ...(this.o.boots
        ? { boot: bootLookup(this.o.boots), joined: this.o.boots.setJoinedThumbprint.bind(this.o.boots) }
        : {}),
    };
    for (let i = 0; i < steps.length; i++) {
      if (this.closing) return { kind: 'closed' };
      const step = steps[i]!;
      const seq = seqs[i]!;
      this.o.jobs.stepStarted(id, seq, Date.now());
      this.emitStep(id, seq);
      let result: unknown;
      // Recorded before the call: if the process dies while it is in flight, the next job finds the
      // host in maintenance mode with our record and takes it out (or drops a record never used).
      if (step.name === 'EnterMaintenanceMode_Task' && step.hostUuid)
        this.o.jobs.markMaintenance(step.hostUuid, id, Date.now());
      try {
        result = await executeStep(ctx, step);
        if (step.name === 'ExitMaintenanceMode_Task' && step.hostUuid) this.o.jobs.clearMaintenance(step.hostUuid);
        if (REPLAN_AFTER.has(step.name)) {
          const rest = await this.replan(ctx, step, result, steps.slice(i + 1));
          this.o.jobs.stepDone(id, seq, Date.now(), result);
          this.emitStep(id, seq);
          this.o.jobs.skipUnfinished(id, `replanned after ${step.name}`, Date.now());
          steps = rest;
          seqs = this.o.jobs.appendSteps(id, rest);
          i = -1;
          continue;
        }
      } catch (e) {
        // vCenter answered "no" (a fault, not a timeout): the host did not enter maintenance mode.
        if (step.name === 'EnterMaintenanceMode_Task' && step.hostUuid && e instanceof VsphereFault)
          this.o.jobs.clearMaintenance(step.hostUuid);
        const transient = isTransient(e);
        this.o.jobs.stepFault(
          id,
          seq,
          Date.now(),
          `${e instanceof VsphereFault ? e.faultName : ((e as Error).name ?? 'Error')}: ${describe(e)}`,
          true,
        );
        this.emitStep(id, seq);
        const what = `${step.name} ${step.target}`;
        if (transient) return { kind: 'transient', error: e, what };
        return { kind: 'permanent', reason: `${what}: ${describe(e)}` };
      }
      this.o.jobs.stepDone(id, seq, Date.now(), result);
      this.emitStep(id, seq);
    }
    return { kind: 'done' };
  }

  /**
   * The error for a member FQDN that vCenter knows under another hardware UUID (a motherboard swap,
   * or DNS naming another machine): names both UUIDs and how to resolve it; nothing is taken over.
   */
  private async nameHeldByOther(ctx: ApplyContext, fqdn: string, uuid: string): Promise<PermanentStepError> {
    const { vc, desired } = ctx;
    const seg = escapePathSegment;
    let other: string | undefined;
    for (const path of [
      `${desired.datacenter}/host/${seg(desired.name)}/${seg(fqdn)}`,
      `${desired.datacenter}/host/${seg(fqdn)}/${seg(fqdn)}`,
    ]) {
      const ref = await vc.findByInventoryPath(path).catch(() => undefined);
      if (ref) {
        other = (await vc.readHost(ref, []).catch(() => undefined))?.uuid;
        if (other) break;
      }
    }
    return new PermanentStepError(
      `vCenter already has a host named ${fqdn}${other ? ` with hardware UUID ${other}` : ''}, but ${desired.file} declares ${uuid} for it — ` +
        `a replaced machine (motherboard swap) or a name that resolves to another machine; statelesx takes nothing over. ` +
        `If the machine was replaced: remove the old host from vCenter and run statelesx host reset-thumbprint ${fqdn}, then apply again; ` +
        `otherwise fix the member's uuid or DNS`,
    );
  }

  /**
   * The steps that follow an inventory step, re-planned from what it changed:
   * CreateDatacenter/CreateClusterEx → the cluster is read again and the whole remainder re-planned;
   * AddHost_Task → the new host is read and its own remaining steps re-planned (other hosts' kept).
   */
  private async replan(ctx: ApplyContext, step: Step, result: unknown, rest: Step[]): Promise<Step[]> {
    const { vc, desired, state } = ctx;
    if (step.name === 'ReconnectHost_Task') {
      const uuid = step.hostUuid!;
      const member = memberByUuid(desired, uuid);
      const ref = state.hosts[uuid]?.refs.host ?? (await vc.findHostByUuid(state.cluster.datacenterRef, uuid));
      if (!ref) throw new PermanentStepError(`host ${member.fqdn} (${uuid}) vanished from vCenter during its rejoin`);
      const back = await vc.readHost(
        ref,
        desired.advanced.map((a) => a.key),
      );
      state.hosts[uuid] = back;
      // the reboot (or the engine) left it in maintenance mode: exit it after reconverging
      const engineMaintenance = new Set([...this.o.jobs.maintenanceHosts(), uuid.toLowerCase()]);
      const fresh = planHostSteps(desired, member, back, state.cluster.clusterRef, {
        memberIndex: desired.hosts.indexOf(member),
        engineMaintenance,
        poolAddress: poolAllocator(this.o.jobs.pools, desired, state),
      });
      return [...fresh, ...rest.filter((s) => s.hostUuid !== uuid)];
    }
    if (step.name === 'AddHost_Task') {
      const uuid = step.hostUuid!;
      let ref = (result as { host?: string } | null)?.host;
      ref ??= await vc.findHostByUuid(state.cluster.datacenterRef, uuid);
      if (!ref) throw await this.nameHeldByOther(ctx, step.args.hostName, uuid);
      const added = await vc.readHost(
        ref,
        desired.advanced.map((a) => a.key),
      );
      if (!sameHardware(added.uuid, uuid)) {
        throw new PermanentStepError(
          `host ${step.args.hostName} is not the machine the cluster file declares: vCenter reports hardware UUID ` +
            `(hardware.systemInfo.uuid) ${added.uuid}, ${desired.file} declares ${uuid} — does ${step.args.hostName} resolve to another machine? ` +
            `Not configuring it; it was added to cluster ${desired.name} (${ref}): remove it from vCenter, fix DNS or the file, then apply again`,
        );
      }
      state.hosts[uuid] = added;
      const member = memberByUuid(desired, uuid);
      const index = desired.hosts.indexOf(member);
      const fresh = planHostSteps(desired, member, state.hosts[uuid], state.cluster.clusterRef, {
        memberIndex: index,
        engineMaintenance: this.o.jobs.maintenanceHosts(),
        poolAddress: poolAllocator(this.o.jobs.pools, desired, state),
      });
      return [...fresh, ...rest.filter((s) => s.hostUuid !== uuid)];
    }
    state.cluster = await vc.readCluster(desired.datacenter, desired.name);
    const clusterSteps = planClusterSteps(desired, state.cluster);
    return [...clusterSteps, ...rest.filter((s) => s.hostUuid !== undefined)];
  }
}
