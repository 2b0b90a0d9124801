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
 * remediation: cluster + the members already in vCenter, never AddHost_Task), remove-host (one
 * host out of vCenter — maintenance mode, Destroy_Task — then forgotten in the store; its rounds
 * are src/engine/remove-host.ts).
 *
 * Scheduling: one job per target at a time (a second request returns the queued/running job);
 * at most `engine.concurrency-per-vcenter` jobs run against one vCenter at once, and queued jobs
 * are admitted in a deterministic order (cluster `priority`, then the member order in the file)
 * under the per-cluster limit, the admission rate and the bring-up priority rule of
 * src/engine/admission.ts, which also says why a queued job waits ({@link JobRunner.queued}). One job per host
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
 *
 * Modules: this one (the public {@link JobRunner}, enqueueing, events, metrics),
 * src/engine/job-scheduler.ts (queues, running jobs, admission timers), src/engine/admission.ts
 * (the order and the limits, pure),
 * src/engine/job-connections.ts (one shared connection per vCenter) and src/engine/job-round.ts
 * (read → plan → execute rounds).
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { DesiredCluster } from '../clusters/types.js';
import type { Logger } from '../log.js';
import type { JobConflict, JobKind, JobLogLine, JobRecord, JobRepo, JobStepRecord } from '../store/jobs.js';
import type {
  CancelOutcome,
  JobControl,
  JobOrigin,
  JobQueue,
  JobRef,
  QueueView,
  RemoveHostOutcome,
  RetryOutcome,
} from './queue.js';
import type { QueuePlace } from './admission.js';
import type { VcenterApi, VcenterConnector } from './vcenter.js';
import { counter, gauge, histogram } from '../metrics.js';
import { pendingRejoins, type HostBootSource } from './job-lifecycle.js';
import type { EsxiConnector } from './vcenter.js';
import { VcenterConnections } from './job-connections.js';
import { describe } from './job-faults.js';
import { JobRounds, type RoundHost } from './job-round.js';
import { JobScheduler } from './job-scheduler.js';
import { EngineLeader, SharedJobs } from './job-leader.js';
import { JobWaiters } from './job-waiters.js';
import { RemoveHostRounds } from './remove-host.js';

export { currentJob } from './job-scheduler.js';

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
  /**
   * Every valid cluster (admission reads the lowest declared `priority`, src/engine/admission.ts);
   * absent = not known, and a join does not wait after its phone-home for higher priorities.
   */
  list?(): DesiredCluster[];
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
  /**
   * Called when a configure-host job ends (e.g. to set the host's state in the store); awaited
   * when it returns a promise. Its errors are logged, never fail the job.
   */
  onHostResult?: (uuid: string, ok: boolean, cluster: string) => unknown;
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
  /**
   * Forgets a host in the store (src/store/host-forget.ts) when its `remove-host` job has removed it
   * from vCenter; returns what was removed (recorded as the ForgetHost step's result). Without it
   * remove-host jobs fail.
   */
  forgetHost?: (uuid: string, jobId: string) => unknown;
  /**
   * Several servers on one store (PostgreSQL): only the holder of the engine lease runs jobs
   * (./job-leader.ts); the others create them. `owner`: this server's unique name; `leaseMs`: the
   * lease length (config `engine.lease-s`). Absent: this runner alone runs the store's jobs (SQLite).
   */
  shared?: { owner: string; leaseMs: number; pickupMs?: number } | undefined;
}

/** A host has a queued or running job: a removal is refused until it ends. */
export class HostBusyError extends Error {
  override name = 'HostBusyError';
  constructor(
    readonly hostUuid: string,
    readonly jobId: string,
    readonly kind: JobKind,
  ) {
    super(`host ${hostUuid} has a ${kind} job queued or running (${jobId}): wait for it to end or cancel it`);
  }
}

/** The durable job runner; implements {@link JobQueue}. */
export class JobRunner extends EventEmitter<JobEvents> implements JobQueue, JobControl, QueueView {
  private readonly waiters: JobWaiters;
  private readonly connections: VcenterConnections;
  private readonly scheduler: JobScheduler;
  private readonly rounds: JobRounds;
  private readonly removals: RemoveHostRounds;
  private closing = false;
  private started = false;
  /** Several servers: the engine lease (undefined: this runner alone runs the store's jobs). */
  private leader: EngineLeader | undefined;
  private shared: SharedJobs | undefined;
  /** Running jobs someone asked to cancel: job id → who. */
  private readonly cancels = new Map<string, string>();
  private readonly log: Logger;

  constructor(private readonly o: JobRunnerOptions) {
    super();
    this.log = o.log.child({ subsystem: 'engine' });
    this.waiters = new JobWaiters((id) => this.o.jobs.get(id));
    this.connections = new VcenterConnections(o.connect);
    const roundHost: RoundHost = {
      o,
      closing: () => this.stopping(),
      cancelRequested: (id) => this.cancels.get(id),
      connection: (name) => this.connections.get(name),
      note: (id, level, msg) => this.note(id, level, msg),
      finish: (id, state, reason) => this.finish(id, state, reason),
      emitStep: (id, seq) => this.emitStep(id, seq),
      jobChanged: (j: JobRecord) => this.emit('job', j),
    };
    this.rounds = new JobRounds(roundHost);
    this.removals = new RemoveHostRounds({ ...roundHost, forgetHost: o.forgetHost });
    this.scheduler = new JobScheduler({
      clusters: o.clusters,
      limits: () => {
        const e = this.o.config.engine;
        return {
          vcenter: e['concurrency-per-vcenter'],
          cluster: e['concurrency-per-cluster'],
          rate: e['admission-rate'],
          settleMs: e['priority-settle-s'] * 1000,
        };
      },
      closing: () => this.stopping(),
      note: (id, level, msg) => this.note(id, level, msg),
      run: async (id) =>
        (await this.o.jobs.get(id))?.kind === 'remove-host' ? this.removals.run(id) : this.rounds.run(id),
      crashed: (id, e) =>
        this.finish(id, 'failed', `internal error: ${describe(e)}`).catch((err: unknown) =>
          this.log.error(
            { job: id, err: describe(err), cause: describe(e) },
            'job crashed and its end could not be recorded',
          ),
        ),
    });
  }

  /**
   * Starts running queued jobs; with `resumeUnfinished` (the default) first queues again every job
   * a previous process left unfinished — all of them in one turn of the event loop, so they are
   * admitted in admission order. Resolves once they are queued. @throws the store's errors
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    liveRunners.add(this);
    if (this.o.shared) {
      const { owner, leaseMs, pickupMs } = this.o.shared;
      const shared = (this.shared = new SharedJobs(
        this.o.jobs,
        this.scheduler,
        {
          prepareResume: (id, why) => this.prepareResume(id, why),
          cancel: (id, by) => this.cancel(id, by),
          rejoinPending: () => this.rejoinPending(),
          closing: () => this.closing,
        },
        owner,
        leaseMs,
        this.log,
      ));
      this.leader = shared.leader = new EngineLeader(
        this.o.jobs.coordination,
        owner,
        leaseMs,
        shared,
        this.log,
        pickupMs,
      );
      await this.leader.start();
      return;
    }
    if (this.o.resumeUnfinished === false) return;
    const resumed: JobRecord[] = [];
    for (const j of await this.o.jobs.unfinished()) {
      const r = await this.prepareResume(j.id);
      if (r) resumed.push(r);
    }
    for (const j of resumed) if (!this.scheduler.holds(j.id)) this.scheduler.schedule(j);
    await this.rejoinPending();
  }

  /** True while no step may start: closing, or (several servers) not holding the engine lease. */
  private stopping(): boolean {
    return this.closing || (this.leader !== undefined && !this.leader.leading);
  }

  /** A boot that phoned home while no server ran jobs (or whose job died) has not converged: rejoin it. */
  private async rejoinPending(): Promise<void> {
    if (this.o.boots)
      for (const uuid of await pendingRejoins(this.o.boots, (u) => this.o.clusters.findByHost(u))) {
        const ref = await this.enqueueConfigureHost(uuid, { source: 'engine', actor: 'restart' });
        if (!ref.existing)
          this.log.info({ host: uuid, job: ref.id }, 'rejoin queued at start: last boot not converged');
      }
  }

  /**
   * Resumes one job a previous process left queued or running: its unfinished steps are marked
   * skipped ("interrupted") and it is re-planned from fresh state. Only for a job no live process
   * runs (the caller holds the data-dir, src/store/datadir-lock.ts). No-op for a job that is
   * finished or already run by this runner. Resolves to whether it was queued.
   */
  async resume(jobId: string): Promise<boolean> {
    const j = await this.prepareResume(jobId);
    if (!j || this.scheduler.holds(jobId)) return false;
    this.scheduler.schedule(j);
    return true;
  }

  /** The store side of {@link resume}: the job to schedule, or undefined when it is not to be resumed. */
  private async prepareResume(jobId: string, why = 'server restarted'): Promise<JobRecord | undefined> {
    const j = await this.o.jobs.get(jobId);
    if (!j || !['queued', 'running'].includes(j.state) || this.scheduler.holds(jobId)) return undefined;
    const n = await this.o.jobs.skipUnfinished(j.id, `interrupted (${why}); re-planned from fresh state`, Date.now());
    // A job created on another server and never started is simply picked up.
    const after = why === 'server restarted' ? 'restart' : why;
    const msg = `resuming after ${after} (${n} unfinished step(s) will be re-planned)`;
    if (j.state === 'running' || n > 0) await this.note(j.id, 'warn', msg);
    return j;
  }

  /** Stops starting steps; running jobs stop after their current step and resume on the next start. */
  async close(): Promise<void> {
    this.closing = true;
    this.scheduler.stop();
    liveRunners.delete(this);
    const held = this.scheduler.heldIds();
    await this.scheduler.settled();
    await this.shared?.handOver(held);
    await this.connections.closeAll();
  }

  enqueueConfigureHost(hostUuid: string, origin: JobOrigin): Promise<JobRef> {
    const uuid = hostUuid.toLowerCase();
    const desired = this.o.clusters.findByHost(uuid);
    if (!desired) throw new Error(`host ${hostUuid} is in no cluster file`);
    return this.enqueue('configure-host', uuid, desired, origin);
  }

  enqueueApplyCluster(cluster: string, origin: JobOrigin): Promise<JobRef> {
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
  enqueueRemediateCluster(cluster: string, origin: JobOrigin): Promise<JobRef> {
    const desired = this.o.clusters.get(cluster);
    if (!desired) throw new Error(`cluster ${cluster} is not defined (no cluster file declares it)`);
    return this.enqueue('drift', cluster, desired, origin);
  }

  /**
   * Queues the removal of a host from vCenter (job kind `remove-host`: maintenance mode,
   * Destroy_Task, then the store forget; see src/engine/remove-host.ts). The vCenter is the one of
   * the cluster file that declares the host, else of `hint.cluster` (the store's assignment), else
   * `hint.vcenter`, else the only configured one.
   * @param hostUuid SMBIOS UUID (any case)
   * The busy check and the insert are one unit in the store (JobRepo.createUnlessActive).
   * @throws HostBusyError when a job of the host (its own, or an apply/drift of its cluster) is
   *   queued or running; Error when no vCenter can be told
   */
  async enqueueRemoveHost(
    hostUuid: string,
    origin: JobOrigin,
    hint: { cluster?: string | null | undefined; vcenter?: string | null | undefined } = {},
  ): Promise<JobRef> {
    const uuid = hostUuid.toLowerCase();
    const desired = this.o.clusters.findByHost(uuid) ?? (hint.cluster ? this.o.clusters.get(hint.cluster) : undefined);
    const conflicts: JobConflict[] = [
      { target: uuid },
      ...(desired ? [{ target: desired.name, kinds: ['apply-cluster', 'drift'] as JobKind[] }] : []),
    ];
    const names = this.o.config.vcenters.map((v) => v.name);
    const vcenter =
      desired?.vcenter ??
      (hint.vcenter && names.includes(hint.vcenter) ? hint.vcenter : names.length === 1 ? names[0] : undefined);
    if (!vcenter) {
      // A busy host is reported as busy, whatever else is wrong.
      for (const c of conflicts) {
        const busy = await this.o.jobs.active(c.target, c.kinds);
        if (busy) throw new HostBusyError(uuid, busy.id, busy.kind);
      }
      throw new Error(
        `cannot tell which vCenter holds host ${uuid}: no cluster file declares it and ${names.length} vCenters are configured`,
      );
    }
    const { job, existing } = await this.o.jobs.createUnlessActive(
      {
        id: randomUUID(),
        kind: 'remove-host',
        target: uuid,
        cluster: desired?.name ?? hint.cluster ?? null,
        vcenter,
        requestedBy: origin.actor ? `${origin.source}:${origin.actor}` : origin.source,
        at: Date.now(),
      },
      conflicts,
    );
    if (existing) throw new HostBusyError(uuid, job.id, job.kind);
    await this.note(
      job.id,
      'info',
      `remove-host ${uuid} (vCenter "${vcenter}") queued by ${job.requestedBy ?? origin.source}`,
    );
    if (desired)
      await this.note(
        job.id,
        'warn',
        `${desired.file} still declares this host in cluster ${desired.name}: an apply of the cluster adds it again; remove it from the file`,
      );
    this.emit('job', job);
    this.scheduleNew(job);
    return { id: job.id, existing: false };
  }

  async removeHost(hostUuid: string, origin: JobOrigin, cluster?: string | null): Promise<RemoveHostOutcome> {
    try {
      return { outcome: 'queued', ref: await this.enqueueRemoveHost(hostUuid, origin, { cluster }) };
    } catch (e) {
      if (e instanceof HostBusyError) return { outcome: 'busy', jobId: e.jobId, kind: e.kind, reason: e.message };
      return { outcome: 'no-vcenter', reason: (e as Error).message };
    }
  }

  /**
   * Cancels a job (admin verb): a queued one ends `cancelled` at once; a running one when its
   * current step has finished, before the next (a vSphere task in flight is never abandoned
   * half-way). A job left queued/running by another process (no runner here holds it) ends at once.
   */
  async cancel(jobId: string, actor: string): Promise<{ outcome: CancelOutcome; state?: string }> {
    const j = await this.o.jobs.get(jobId);
    if (!j) return { outcome: 'missing' };
    if (!['queued', 'running'].includes(j.state)) return { outcome: 'finished', state: j.state };
    // Several servers: the holder of the engine lease acts on it at its next tick.
    if (this.shared && !this.scheduler.holds(jobId))
      return this.shared.requestCancel(jobId, actor, (m) => this.note(jobId, 'warn', m));
    if (this.scheduler.isRunning(jobId)) {
      if (!this.cancels.has(jobId)) {
        this.cancels.set(jobId, actor);
        await this.note(jobId, 'warn', `cancel requested by ${actor}: the running step finishes, then the job ends`);
      }
      return { outcome: 'cancelling' };
    }
    this.scheduler.dequeue(jobId);
    await this.o.jobs.skipUnfinished(jobId, `cancelled by ${actor}`, Date.now());
    await this.finish(jobId, 'cancelled', `cancelled by ${actor} before it started`);
    return { outcome: 'cancelled' };
  }

  /**
   * Retries a failed, cancelled or blocked job (admin verb): queues a new job of the same kind and
   * target from the cluster files as they are now (or returns the one already active for it).
   */
  async retry(jobId: string, origin: JobOrigin): Promise<RetryOutcome> {
    const j = await this.o.jobs.get(jobId);
    if (!j) return { outcome: 'missing' };
    if (!['failed', 'cancelled', 'blocked'].includes(j.state)) return { outcome: 'not-retryable', state: j.state };
    try {
      const ref = await (j.kind === 'configure-host'
        ? this.enqueueConfigureHost(j.target, origin)
        : j.kind === 'apply-cluster'
          ? this.enqueueApplyCluster(j.target, origin)
          : j.kind === 'remove-host'
            ? this.enqueueRemoveHost(j.target, origin, { cluster: j.cluster, vcenter: j.vcenter })
            : this.enqueueRemediateCluster(j.target, origin));
      if (!ref.existing) await this.note(ref.id, 'info', `retry of job ${jobId}`);
      return { outcome: 'queued', ref };
    } catch (e) {
      return { outcome: 'gone', reason: (e as Error).message };
    }
  }

  /**
   * Resolves when the job reaches a final state (at once when it has one; several servers: read
   * from the store, as it may run on another one).
   * @throws Error `no job <id>` when the store has no such job
   */
  wait(jobId: string): Promise<JobRecord> {
    return this.waiters.wait(jobId, this.leader !== undefined);
  }

  /**
   * Jobs this runner holds now, as [kind, state, count] rows: `queued` = scheduled and waiting for
   * a concurrency slot or a host, `running` = started and not yet finished (for `statelesx_jobs`).
   */
  activeCounts(): Array<[JobKind, 'queued' | 'running', number]> {
    return this.scheduler.activeCounts();
  }

  /**
   * Every job queued here and not started: its 1-based position in its vCenter's admission order
   * and why it waits (src/engine/admission.ts). Job id → place; running and finished jobs are absent.
   */
  queued(): Map<string, QueuePlace> {
    return this.scheduler.queued();
  }

  /** SOAP call counts of the shared connection to a vCenter (undefined if not connected). */
  async calls(vcenter: string): Promise<ReturnType<VcenterApi['calls']> | undefined> {
    return this.connections.calls(vcenter);
  }

  /** Queues a job unless one that covers it is active (checked and inserted as one unit in the store). */
  private async enqueue(kind: JobKind, target: string, desired: DesiredCluster, origin: JobOrigin): Promise<JobRef> {
    // An active drift job does not stand in for a requested apply (it adds no hosts); an apply does for a drift job.
    const kinds: JobKind[] | undefined =
      kind === 'apply-cluster' ? ['apply-cluster'] : kind === 'drift' ? ['apply-cluster', 'drift'] : undefined;
    const { job, existing } = await this.o.jobs.createUnlessActive(
      {
        id: randomUUID(),
        kind,
        target,
        cluster: desired.name,
        vcenter: desired.vcenter,
        requestedBy: origin.actor ? `${origin.source}:${origin.actor}` : origin.source,
        at: Date.now(),
      },
      [{ target, kinds }],
    );
    if (existing) return { id: job.id, existing: true };
    await this.note(job.id, 'info', `${kind} ${target} queued by ${job.requestedBy ?? origin.source}`);
    this.emit('job', job);
    this.scheduleNew(job);
    return { id: job.id, existing: false };
  }

  /** A job created here: scheduled now (alone), or picked up by the engine lease's holder (several servers). */
  private scheduleNew(job: JobRecord): void {
    if (this.started) void (this.leader ? this.leader.poke() : this.scheduler.schedule(job));
  }

  /**
   * A line in the job's log: the process log at once, then the store (`job_log`) and a `log`
   * event. A line the store refuses is logged as such and dropped: it never fails the job.
   */
  private async note(jobId: string, level: 'info' | 'warn' | 'error', msg: string): Promise<void> {
    this.log[level]({ job: jobId }, msg);
    try {
      this.emit('log', await this.o.jobs.log(jobId, Date.now(), level, msg));
    } catch (e) {
      this.log.warn({ job: jobId, err: describe(e) }, 'job log line not recorded in the store');
    }
  }

  /** Records the final state, then logs, emits and wakes the waiters. @throws the store's errors */
  private async finish(
    id: string,
    state: 'succeeded' | 'failed' | 'blocked' | 'cancelled',
    reason?: string,
  ): Promise<void> {
    this.cancels.delete(id);
    const j = await this.o.jobs.finish(id, state, Date.now(), reason);
    if (!j) return;
    jobsFinished.inc({ kind: j.kind, state });
    if (j.startedAt && j.finishedAt) jobDuration.observe({ kind: j.kind, state }, (j.finishedAt - j.startedAt) / 1000);
    await this.note(
      id,
      state === 'succeeded' ? 'info' : state === 'blocked' || state === 'cancelled' ? 'warn' : 'error',
      state === 'succeeded' ? 'job succeeded' : `job ${state}: ${reason ?? ''}`,
    );
    this.emit('job', j);
    if (j.kind === 'configure-host' && j.cluster && state !== 'blocked' && state !== 'cancelled') {
      try {
        await this.o.onHostResult?.(j.target, state === 'succeeded', j.cluster);
      } catch (e) {
        this.log.warn({ job: id, host: j.target, err: describe(e) }, 'recording the host result failed');
      }
    }
    this.waiters.finished(j);
  }

  private async emitStep(jobId: string, seq: number): Promise<void> {
    const s = await this.o.jobs.step(jobId, seq);
    if (s) this.emit('step', s);
  }

  /** The shared logged-in connection to a configured vCenter (drift checks, CLI plan). */
  vcenter(name: string): Promise<VcenterApi> {
    return this.connections.get(name);
  }
}
