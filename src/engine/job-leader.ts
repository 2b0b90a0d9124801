/**
 * The engine lease (issue 18 item 3): with several servers on one PostgreSQL exactly one of them
 * schedules and runs jobs — the holder of the `engine` lease in the store (migration 018). So the
 * guarantees of one runner hold across servers: every job runs once, one job per host, the
 * per-vCenter and per-cluster limits and the admission order. The others only create jobs in the
 * store (phone-homes, API, console), which the holder picks up within `pickupMs`.
 *
 * The holder renews the lease every `leaseMs / 3` and heartbeats the lease of every job it holds
 * (JobRepo.heartbeat). A server that cannot renew (it died, or lost PostgreSQL) stops starting
 * steps once its lease may have lapsed (`validUntil`, measured from before its last successful
 * renewal: it never believes it holds a lease another server may already have taken); another
 * server acquires the lease after it lapsed, claims the jobs (JobRepo.claimNext: a job whose
 * lease lapsed) and re-plans them from fresh state, as crash recovery does.
 */
import type { Logger } from '../log.js';
import type { JobRecord } from '../store/jobs.js';
import type { JobScheduler } from './job-scheduler.js';

/** The store side (src/store/jobs.ts JobRepo). */
export interface EngineLeaseStore {
  acquireLease(name: string, owner: string, now: number, leaseMs: number): Promise<boolean>;
  releaseLease(name: string, owner: string): Promise<boolean>;
}

/** What the leader loop calls back. */
export interface LeaderHooks {
  /** This server became the holder: claim and schedule the jobs. */
  lead(): Promise<void>;
  /**
   * Still the holder, after each renewal: heartbeat the held jobs' leases. Resolves to false when
   * one was lost (the server then stops running jobs as if it had lost the engine lease).
   */
  renewed(): Promise<boolean>;
  /** Still the holder, every `pickupMs` and when poked: apply cancel requests, pick up new jobs. */
  tick(): Promise<void>;
  /** No longer the holder (or it cannot tell): stop starting steps. */
  lose(reason: string): void;
}

/** The name of the engine lease row. */
export const ENGINE_LEASE = 'engine';

/** Takes, renews and gives up the engine lease. */
export class EngineLeader {
  #leading = false;
  /** Until when (epoch ms) this server's lease is certainly valid; 0 when not holding it. */
  #validUntil = 0;
  #timer: NodeJS.Timeout | undefined;
  #pickup: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  /**
   * @param owner this server's unique name (`host:pid:random`)
   * @param leaseMs lease length, ms (renewed every third of it)
   * @param pickupMs how often the holder looks for jobs created elsewhere
   */
  constructor(
    private readonly store: EngineLeaseStore,
    readonly owner: string,
    readonly leaseMs: number,
    private readonly hooks: LeaderHooks,
    private readonly log: Logger,
    private readonly pickupMs = 500,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether this server holds the lease now (and it cannot have lapsed). */
  get leading(): boolean {
    return this.#leading && this.now() < this.#validUntil;
  }

  /** The first attempt (awaited: a lone server leads at once), then the renewal and pickup timers. */
  async start(): Promise<void> {
    await this.renew();
    this.#timer = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.#timer.unref();
    this.#pickup = setInterval(() => this.poke(), this.pickupMs);
    this.#pickup.unref();
  }

  /** Runs the holder's tick soon (a job was created here). */
  poke(): void {
    if (!this.leading || this.#running) return;
    this.#running = this.hooks
      .tick()
      .catch((err: unknown) => this.log.warn({ err }, 'engine tick failed'))
      .finally(() => (this.#running = undefined));
  }

  /** Stops the timers and gives the lease up (another server takes over at once). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearInterval(this.#pickup);
    await this.#running;
    if (this.#leading) {
      this.#leading = false;
      this.#validUntil = 0;
      await this.store.releaseLease(ENGINE_LEASE, this.owner).catch(() => undefined);
    }
  }

  private async renew(): Promise<void> {
    if (this.#stopped) return;
    const asked = this.now();
    let held: boolean;
    try {
      held = await this.store.acquireLease(ENGINE_LEASE, this.owner, asked, this.leaseMs);
    } catch (err) {
      // Cannot tell: keep running only while the last renewal certainly holds.
      if (this.#leading && this.now() >= this.#validUntil - this.leaseMs / 3) {
        this.#leading = false;
        this.hooks.lose(`cannot renew the engine lease: ${(err as Error).message}`);
      } else this.log.warn({ err }, 'engine lease renewal failed; retrying');
      return;
    }
    if (this.#stopped) return;
    if (held) {
      this.#validUntil = asked + this.leaseMs;
      if (!this.#leading) {
        this.#leading = true;
        this.log.info({ owner: this.owner }, 'this server holds the engine lease: it schedules and runs jobs');
        await this.hooks.lead().catch((err: unknown) => this.log.error({ err }, 'taking over jobs failed'));
      } else {
        const kept = await this.hooks.renewed().catch((err: unknown) => {
          this.log.warn({ err }, 'job lease heartbeat failed; retrying');
          return true;
        });
        if (!kept) {
          this.#leading = false;
          this.#validUntil = 0;
          this.hooks.lose('the lease on a job this server held was lost');
        } else this.poke();
      }
    } else if (this.#leading) {
      this.#leading = false;
      this.#validUntil = 0;
      this.hooks.lose('another server holds the engine lease');
    }
  }
}

/** The scheduler's side {@link SharedJobs} uses (src/engine/job-scheduler.ts JobScheduler). */
export type SharedScheduler = Pick<JobScheduler, 'heldIds' | 'holds' | 'isRunning' | 'dequeue' | 'schedule' | 'stop'>;

/** What {@link SharedJobs} needs from the job runner (src/engine/jobs.ts). */
export interface SharedRunner {
  /** The job to schedule, its unfinished steps skipped ("interrupted (why)"), or undefined. */
  prepareResume(id: string, why: string): Promise<JobRecord | undefined>;
  cancel(id: string, by: string): Promise<unknown>;
  rejoinPending(): Promise<void>;
  closing(): boolean;
}

/** The store side of {@link SharedJobs} (src/store/jobs.ts JobRepo and its `coordination`). */
export interface SharedJobStore {
  claimNext(owner: string, now: number, leaseMs: number): Promise<{ job: JobRecord } | undefined>;
  heartbeat(id: string, owner: string, now: number, leaseMs: number): Promise<boolean>;
  releaseLease(id: string, owner: string): Promise<boolean>;
  coordination: {
    cancelRequests(): Promise<Array<{ id: string; by: string }>>;
    requestCancel(id: string, by: string): Promise<boolean>;
  };
}

/**
 * The job runner's side of the engine lease: what the holder does when it takes the lease, at
 * each tick, and when it loses it.
 */
export class SharedJobs implements LeaderHooks {
  leader: EngineLeader | undefined;

  constructor(
    private readonly jobs: SharedJobStore,
    private readonly sched: SharedScheduler,
    private readonly runner: SharedRunner,
    private readonly owner: string,
    private readonly leaseMs: number,
    private readonly log: Logger,
  ) {}

  /** Took the lease: every job nobody holds (new ones; a stopped server's, re-planned), then pending rejoins. */
  async lead(): Promise<void> {
    await this.pickUp();
    await this.runner.rejoinPending();
  }

  /** Heartbeats the held jobs' leases (once per engine lease renewal); false when one was lost. */
  async renewed(): Promise<boolean> {
    for (const id of this.sched.heldIds()) {
      if (!(await this.jobs.heartbeat(id, this.owner, Date.now(), this.leaseMs))) {
        this.log.warn({ job: id }, 'the lease on a job this server held was lost');
        return false;
      }
    }
    return true;
  }

  /** Applies cancel requests, picks up new jobs. */
  async tick(): Promise<void> {
    for (const { id, by } of await this.jobs.coordination.cancelRequests())
      if (this.sched.holds(id)) await this.runner.cancel(id, by);
    await this.pickUp();
  }

  /** Not the holder any more: running jobs stop after their step; queued ones are given back. */
  lose(reason: string): void {
    this.log.warn({ reason }, 'this server no longer runs jobs (engine lease): running jobs stop after their step');
    this.sched.stop();
    for (const id of this.sched.heldIds())
      if (!this.sched.isRunning(id) && this.sched.dequeue(id))
        void this.jobs.releaseLease(id, this.owner).catch(() => undefined);
  }

  /** Closing: gives up the leases of the jobs it held (`held`), then the engine lease — another server takes over at once. */
  async handOver(held: string[]): Promise<void> {
    for (const id of held) await this.jobs.releaseLease(id, this.owner).catch(() => undefined);
    await this.leader?.stop();
  }

  /** A cancel asked here of a job this server does not hold: recorded for the holder, which ends it. */
  async requestCancel(
    id: string,
    by: string,
    note: (msg: string) => Promise<void>,
  ): Promise<{ outcome: 'cancelling' }> {
    await this.jobs.coordination.requestCancel(id, by);
    await note(`cancel requested by ${by}: the server running the job ends it`);
    this.leader?.poke();
    return { outcome: 'cancelling' };
  }

  /** Claims every job nobody holds and schedules them together. */
  private async pickUp(): Promise<void> {
    const claimed: JobRecord[] = [];
    while (this.leader?.leading && !this.runner.closing()) {
      const c = await this.jobs.claimNext(this.owner, Date.now(), this.leaseMs);
      if (!c) break;
      const j = await this.runner.prepareResume(c.job.id, 'taken over from a server that stopped');
      if (j) claimed.push(j);
    }
    for (const j of claimed) if (!this.sched.holds(j.id)) this.sched.schedule(j);
  }
}
