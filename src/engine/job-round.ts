/**
 * One engine job's rounds (see src/engine/jobs.ts, "How a job runs"): read state → plan → execute,
 * with in-round re-planning after inventory steps, transient-fault retries with backoff and the
 * read-back verification. Records every step through the job store; decides nothing itself (plans
 * come from engine/plan, calls go through engine/apply).
 */
import { readSecret } from '../config/secrets.js';
import type { DesiredCluster } from '../clusters/types.js';
import type { JobRecord } from '../store/jobs.js';
import { InvalidLogin, VsphereFault } from '../vsphere/faults.js';
import { describe, isTransient, sameHardware } from './job-faults.js';
import { executeStep, PermanentStepError, readCurrent, REPLAN_AFTER, type ApplyContext } from './apply.js';
import { planWithPools } from './pools.js';
import { memberByUuid, planCluster, planClusterSteps, planHost, planHostSteps, PlanError, type Step } from './plan.js';
import type { CurrentState } from './state.js';
import type { VcenterApi } from './vcenter.js';
import { heldOutcome, liveBoot, readBoots } from './job-lifecycle.js';
import type { HostHold } from './lifecycle.js';
import { escapePathSegment } from '../vsphere/read.js';
import type { JobRunnerOptions } from './jobs.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What a job's rounds need from the runner. */
export interface RoundHost {
  readonly o: JobRunnerOptions;
  /** True once the runner is closing: stop before the next step. */
  closing(): boolean;
  /** Who asked to cancel the job, if someone did: it ends `cancelled` before its next step. */
  cancelRequested(jobId: string): string | undefined;
  /** The shared connection to a vCenter. */
  connection(name: string): Promise<VcenterApi>;
  /** Appends a line to the job's log (store and process log); resolves once recorded. */
  note(jobId: string, level: 'info' | 'warn' | 'error', msg: string): Promise<void>;
  /** Ends the job in a final state; resolves once recorded and announced. */
  finish(id: string, state: 'succeeded' | 'failed' | 'blocked' | 'cancelled', reason?: string): Promise<void>;
  /** Emits the step's record as it is now in the store. */
  emitStep(jobId: string, seq: number): Promise<void>;
  /** The job record changed (emitted as `job`). */
  jobChanged(job: JobRecord): void;
}

/** Runs jobs round by round (see the module docstring). */
export class JobRounds {
  private readonly o: JobRunnerOptions;

  constructor(private readonly r: RoundHost) {
    this.o = r.o;
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

  /** The job's plan from `state`; the members it holds back are appended to `holds`. */
  private async plan(job: JobRecord, desired: DesiredCluster, state: CurrentState, holds: HostHold[]): Promise<Step[]> {
    const engineMaintenance = await this.maintenanceRecord(state);
    const members = desired.hosts.map((h) => h.uuid);
    const boot = this.o.boots ? await readBoots(this.o.boots, members) : undefined;
    // planWithPools may plan more than once (pool addresses allocated between passes): holds of the last pass only.
    let held: HostHold[] = [];
    const steps = await planWithPools(this.o.jobs.pools, desired, state, (poolAddress) => {
      held = [];
      const ctx = { engineMaintenance, poolAddress, holds: held, ...(boot ? { boot } : {}) };
      if (job.kind === 'configure-host') {
        return planHost(
          desired,
          memberByUuid(desired, job.target),
          { cluster: state.cluster, host: state.hosts[job.target] },
          ctx,
        );
      }
      return planCluster(desired, state, { ...ctx, existingOnly: job.kind === 'drift' });
    });
    holds.push(...held);
    return steps;
  }

  /**
   * The hosts the engine put into maintenance mode (store record), after dropping the records of
   * hosts just read that are no longer in it (exited by hand, or a crash between the exit and
   * clearing the record). Safe because one job at a time acts on a host (see the module note).
   */
  private async maintenanceRecord(state: CurrentState): Promise<Set<string>> {
    const rec = await this.o.jobs.maintenanceHosts();
    for (const [uuid, h] of Object.entries(state.hosts)) {
      const key = uuid.toLowerCase();
      if (h && !h.inMaintenanceMode && rec.has(key)) {
        await this.o.jobs.clearMaintenance(key);
        rec.delete(key);
      }
    }
    return rec;
  }

  /** Runs a job to its end (or until the runner closes). Never throws for vCenter problems. */
  async run(id: string): Promise<void> {
    const job0 = await this.o.jobs.get(id);
    if (!job0 || !['queued', 'running'].includes(job0.state)) return;
    const job = (await this.o.jobs.markRunning(id, Date.now()))!;
    this.r.jobChanged(job);
    const desired = job.cluster ? this.o.clusters.get(job.cluster) : undefined;
    if (!desired)
      return this.r.finish(id, 'failed', `cluster ${job.cluster ?? '?'} is not defined by any cluster file`);
    const vcName = desired.vcenter;
    if (!this.o.config.vcenters.some((v) => v.name === vcName)) {
      return this.r.finish(
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
        await this.r.finish(id, 'failed', `${what}: ${describe(e)} (gave up after ${transient} attempt(s))`);
        return false;
      }
      const delay = Math.min(30_000, (this.o.retryBaseMs ?? 1000) * 2 ** (transient - 1));
      await this.r.note(
        id,
        'warn',
        `${what}: ${describe(e)}; retrying in ${delay} ms (attempt ${transient + 1} of ${maxAttempts})`,
      );
      await sleep(delay);
      return true;
    };

    for (let round = 0; round < maxRounds; round++) {
      if (this.r.closing()) return;
      if (await this.cancelled(id)) return;
      let vc: VcenterApi;
      let state: CurrentState;
      let steps: Step[];
      const holds: HostHold[] = [];
      try {
        vc = await this.r.connection(vcName);
        state = await readCurrent(vc, desired, uuids);
        steps = await this.plan(job, desired, state, holds);
      } catch (e) {
        if (await this.readFailed(id, vcName, e, failTransient)) continue;
        return;
      }
      await this.o.jobs.skipUnfinished(id, 'replanned from fresh state', Date.now());
      if (steps.length === 0) return this.converged(id, job, desired, uuids, holds, round);
      if (completedRound) {
        return this.r.finish(
          id,
          'failed',
          `verification failed: after applying, ${steps.length} difference(s) remain: ${steps.map((s) => `${s.name} ${s.target}`).join('; ')}`,
        );
      }
      await this.r.note(id, 'info', `round ${round + 1}: ${steps.length} step(s) planned`);
      const outcome = await this.execute(id, desired, vc, state, steps);
      if (outcome.kind === 'closed') return;
      if (outcome.kind === 'cancelled') return void (await this.cancelled(id));
      if (outcome.kind === 'permanent') {
        // A retry of this boot would fail the same way: no rejoin at the next start (a new boot is due again).
        if (outcome.hostUuid) await this.o.boots?.markFailed(outcome.hostUuid, Date.now(), id);
        return this.r.finish(id, 'failed', outcome.reason);
      }
      if (outcome.kind === 'transient') {
        if (await failTransient(outcome.error, outcome.what)) continue;
        return;
      }
      completedRound = true;
    }
    await this.r.finish(id, 'failed', `did not converge after ${maxRounds} rounds`);
  }

  /**
   * Ends the job `cancelled` when a cancel was requested (between steps: the step that was running
   * has finished; its unstarted steps are marked skipped). @returns whether it did
   */
  private async cancelled(id: string): Promise<boolean> {
    const by = this.r.cancelRequested(id);
    if (by === undefined) return false;
    await this.o.jobs.skipUnfinished(id, `cancelled by ${by}`, Date.now());
    await this.r.finish(id, 'cancelled', `cancelled by ${by} (between steps)`);
    return true;
  }

  /** Zero steps planned: the job's hosts match the file (held members aside); finishes the job. */
  private async converged(
    id: string,
    job: JobRecord,
    desired: DesiredCluster,
    uuids: string[],
    holds: HostHold[],
    round: number,
  ): Promise<void> {
    await this.r.note(
      id,
      'info',
      round === 0
        ? 'nothing to change: vCenter already matches the cluster file'
        : 'verified: read back, vCenter matches the cluster file',
    );
    const held = new Set(holds.map((h) => h.uuid.toLowerCase()));
    for (const u of uuids) if (!held.has(u.toLowerCase())) await this.o.boots?.markConverged(u, Date.now());
    // A refused phone-home stays refused until the host boots again: not re-queued at the next start.
    for (const h of holds)
      if (h.reason === 'thumbprint-mismatch') await this.o.boots?.markFailed(h.uuid, Date.now(), id);
    const outcome = heldOutcome(job.kind, holds);
    for (const h of holds)
      await this.r.note(id, h.reason === 'thumbprint-mismatch' ? 'error' : 'warn', `${h.fqdn}: ${h.detail}`);
    if (holds.length)
      await this.r.note(
        id,
        'info',
        `per-host outcome: ${desired.hosts
          .filter((h) => uuids.includes(h.uuid))
          .map((h) => `${h.fqdn} ${holds.find((x) => x.uuid === h.uuid)?.reason ?? 'converged'}`)
          .join(', ')}`,
      );
    await this.r.finish(id, outcome.state, outcome.reason);
  }

  /**
   * A failed read or plan: fails the job for a refused login or a permanent fault, else retries
   * after a backoff. @returns whether to run another round
   */
  private async readFailed(
    id: string,
    vcName: string,
    e: unknown,
    failTransient: (e: unknown, what: string) => Promise<boolean>,
  ): Promise<boolean> {
    if (e instanceof InvalidLogin) {
      await this.r.finish(
        id,
        'failed',
        `vCenter "${vcName}" refused the login: ${describe(e)} — check vcenters[${vcName}].username and its password source`,
      );
      return false;
    }
    if (!isTransient(e)) {
      await this.r.finish(
        id,
        'failed',
        `${e instanceof PlanError ? 'cannot plan' : `vCenter "${vcName}"`}: ${describe(e)}`,
      );
      return false;
    }
    return failTransient(e, `vCenter "${vcName}" not reachable`);
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
    | { kind: 'cancelled' }
    | { kind: 'permanent'; reason: string; hostUuid?: string | undefined }
    | { kind: 'transient'; error: unknown; what: string }
  > {
    let steps = planned;
    let seqs = await this.o.jobs.appendSteps(id, steps);
    const ctx: ApplyContext = {
      vc,
      desired,
      state,
      credentials: (n) => this.credentials(n),
      thumbprintPolicy: this.o.config.engine['thumbprint-policy'],
      trustedThumbprint: (h) => this.o.jobs.thumbprint(h),
      trustThumbprint: (h, t) => this.o.jobs.trustThumbprint(h, t, Date.now()),
      note: (level, msg) => this.r.note(id, level, msg),
      esxi: this.o.esxi,
      esxiSdkUrl: this.o.config.engine['esxi-sdk-url'],
      ...(this.o.boots
        ? { boot: liveBoot(this.o.boots), joined: this.o.boots.setJoinedThumbprint.bind(this.o.boots) }
        : {}),
    };
    for (let i = 0; i < steps.length; i++) {
      if (this.r.closing()) return { kind: 'closed' };
      if (this.r.cancelRequested(id) !== undefined) return { kind: 'cancelled' };
      const step = steps[i]!;
      const seq = seqs[i]!;
      await this.o.jobs.stepStarted(id, seq, Date.now());
      await this.r.emitStep(id, seq);
      let result: unknown;
      // Recorded before the call: if the process dies while it is in flight, the next job finds the
      // host in maintenance mode with our record and takes it out (or drops a record never used).
      if (step.name === 'EnterMaintenanceMode_Task' && step.hostUuid)
        await this.o.jobs.markMaintenance(step.hostUuid, id, Date.now());
      try {
        result = await executeStep(ctx, step);
        if (step.name === 'ExitMaintenanceMode_Task' && step.hostUuid)
          await this.o.jobs.clearMaintenance(step.hostUuid);
        if (REPLAN_AFTER.has(step.name)) {
          const rest = await this.replan(ctx, step, result, steps.slice(i + 1));
          await this.o.jobs.stepDone(id, seq, Date.now(), result);
          await this.r.emitStep(id, seq);
          await this.o.jobs.skipUnfinished(id, `replanned after ${step.name}`, Date.now());
          steps = rest;
          seqs = await this.o.jobs.appendSteps(id, rest);
          i = -1;
          continue;
        }
      } catch (e) {
        // vCenter answered "no" (a fault, not a timeout): the host did not enter maintenance mode.
        if (step.name === 'EnterMaintenanceMode_Task' && step.hostUuid && e instanceof VsphereFault)
          await this.o.jobs.clearMaintenance(step.hostUuid);
        const transient = isTransient(e);
        await this.o.jobs.stepFault(
          id,
          seq,
          Date.now(),
          `${e instanceof VsphereFault ? e.faultName : ((e as Error).name ?? 'Error')}: ${describe(e)}`,
          true,
        );
        await this.r.emitStep(id, seq);
        const what = `${step.name} ${step.target}`;
        if (transient) return { kind: 'transient', error: e, what };
        return { kind: 'permanent', reason: `${what}: ${describe(e)}`, hostUuid: step.hostUuid };
      }
      await this.o.jobs.stepDone(id, seq, Date.now(), result);
      await this.r.emitStep(id, seq);
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
      const engineMaintenance = new Set([...(await this.o.jobs.maintenanceHosts()), uuid.toLowerCase()]);
      const fresh = await planWithPools(this.o.jobs.pools, desired, state, (poolAddress) =>
        planHostSteps(desired, member, back, state.cluster.clusterRef, {
          memberIndex: desired.hosts.indexOf(member),
          engineMaintenance,
          poolAddress,
        }),
      );
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
      const engineMaintenance = await this.o.jobs.maintenanceHosts();
      const fresh = await planWithPools(this.o.jobs.pools, desired, state, (poolAddress) =>
        planHostSteps(desired, member, added, state.cluster.clusterRef, {
          memberIndex: index,
          engineMaintenance,
          poolAddress,
        }),
      );
      return [...fresh, ...rest.filter((s) => s.hostUuid !== uuid)];
    }
    state.cluster = await vc.readCluster(desired.datacenter, desired.name);
    const clusterSteps = planClusterSteps(desired, state.cluster);
    return [...clusterSteps, ...rest.filter((s) => s.hostUuid !== undefined)];
  }
}
