/**
 * Removing a host from vCenter, the `remove-host` job (issue 19 item 3: forget a host and remove
 * it from vCenter): plan ({@link planRemoveHost}, pure) and rounds ({@link RemoveHostRounds}).
 *
 * What vCenter requires (vSphere API reference and vSphere documentation, cited in
 * test/peers/vcsim/README.md, "Removing hosts"):
 * - a connected member of a cluster must be in maintenance mode before ManagedEntity.Destroy_Task
 *   on its HostSystem (else InvalidState); a host vCenter has lost (`disconnected`,
 *   `notResponding`) may be removed as it is — maintenance mode cannot be entered on it;
 * - a standalone host is removed by Destroy_Task on its ComputeResource (Destroy_Task on the
 *   HostSystem itself is NotSupported);
 * - HostSystem.EnterMaintenanceMode_Task completes only once no powered-on VM is left on the host;
 *   it migrates nothing itself — DRS, when enabled and fully automated, evacuates them. So a
 *   host with powered-on VMs and no such DRS is refused before anything is sent, with a clear
 *   message, and with DRS the task's `timeout` (`engine.maintenance-timeout-s`) bounds the wait.
 *   `evacuatePoweredOffVms` is false: powered-off VMs leave the inventory with the host.
 *
 * Steps: EnterMaintenanceMode_Task (connected and not in maintenance mode) → Destroy_Task, then
 * the store forget (`ForgetHost`, see src/store/host-forget.ts) once vCenter no longer has the
 * host. Each round reads the host afresh (FindByUuid) and plans from what it finds, so a job
 * resumed after a crash (engine/jobs: re-plan, not replay), or retried, does only what is left: a
 * host already gone plans no vCenter step and goes straight to the store forget. After a round
 * that executed its steps, the next read must plan none (verification). The engine's maintenance
 * record (store `engine_maintenance`) is written before EnterMaintenanceMode_Task, as for
 * configure jobs, so a host left in maintenance mode by a removal that failed later is taken out
 * of it by the next configure job.
 */
import type { JobRecord } from '../store/jobs.js';
import { InvalidLogin, VsphereFault } from '../vsphere/faults.js';
import { PermanentStepError } from './apply.js';
import { describe, isTransient } from './job-faults.js';
import type { RoundHost } from './job-round.js';
import type { VcenterApi } from './vcenter.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A host as removal sees it (read by {@link VcenterApi.readHostRemoval}); MoRefs as their values. */
export interface HostRemovalFacts {
  /** HostSystem MoRef value. */
  hostRef: string;
  /** HostSystem.name (the FQDN it was added with). */
  name: string;
  /** runtime.connectionState: connected | disconnected | notResponding. */
  connectionState: string;
  inMaintenanceMode: boolean;
  /** The host's parent: a ClusterComputeResource (member) or a ComputeResource (standalone). */
  parent: { type: string; value: string };
  /** The cluster's ClusterDrsConfigInfo; undefined for a standalone host. */
  drs?: { enabled: boolean; defaultVmBehavior: string } | undefined;
  /** Names of the host's powered-on VMs. */
  poweredOnVms: string[];
  /** VMs registered on the host (HostSystem.vm). */
  vmCount: number;
}

/** One planned call of a removal: arguments as sent (plain JSON, persisted with the job). */
export type RemovalStep =
  | {
      name: 'EnterMaintenanceMode_Task';
      target: string;
      hostUuid: string;
      /** `host`: the HostSystem MoRef value the method is called on. */
      args: { host: string; timeout: number; evacuatePoweredOffVms: false };
      before: unknown;
      after: unknown;
    }
  | {
      name: 'Destroy_Task';
      target: string;
      hostUuid: string;
      args: { entity: { type: 'HostSystem' | 'ComputeResource'; value: string } };
      before: unknown;
      after: unknown;
    };

/**
 * The vCenter steps that remove host `uuid` (see the module docstring); [] when vCenter does not
 * have it. @param timeoutS EnterMaintenanceMode_Task timeout, seconds
 * @throws PermanentStepError when the host runs powered-on VMs that nothing would migrate (a
 *   standalone host, or a cluster without fully automated DRS): nothing may be removed
 */
export function planRemoveHost(facts: HostRemovalFacts | undefined, uuid: string, timeoutS: number): RemovalStep[] {
  if (!facts) return [];
  const target = `host:${facts.name}`;
  const hostUuid = uuid.toLowerCase();
  const clustered = facts.parent.type === 'ClusterComputeResource';
  const steps: RemovalStep[] = [];
  if (facts.connectionState === 'connected' && !facts.inMaintenanceMode) {
    const drsEvacuates = clustered && facts.drs?.enabled === true && facts.drs.defaultVmBehavior === 'fullyAutomated';
    if (facts.poweredOnVms.length > 0 && !drsEvacuates) {
      const vms = facts.poweredOnVms.slice(0, 5).join(', ') + (facts.poweredOnVms.length > 5 ? ', …' : '');
      const why = !clustered
        ? 'it is a standalone host'
        : !facts.drs?.enabled
          ? "its cluster's DRS is off"
          : `its cluster's DRS is ${facts.drs.defaultVmBehavior}, not fullyAutomated`;
      throw new PermanentStepError(
        `host ${facts.name} runs ${facts.poweredOnVms.length} powered-on VM(s) (${vms}) and ${why}: nothing would migrate them, ` +
          `so it cannot enter maintenance mode — migrate or power off its VMs, then retry the job; nothing was removed from vCenter or the store`,
      );
    }
    steps.push({
      name: 'EnterMaintenanceMode_Task',
      target,
      hostUuid,
      args: { host: facts.hostRef, timeout: timeoutS, evacuatePoweredOffVms: false },
      before: { inMaintenanceMode: false },
      after: { inMaintenanceMode: true },
    });
  }
  steps.push({
    name: 'Destroy_Task',
    target,
    hostUuid,
    args: {
      entity: clustered
        ? { type: 'HostSystem', value: facts.hostRef }
        : { type: 'ComputeResource', value: facts.parent.value },
    },
    before: { inVcenter: true, connectionState: facts.connectionState, vmCount: facts.vmCount },
    after: { inVcenter: false },
  });
  return steps;
}

/** What the removal rounds need besides the runner's {@link RoundHost}. */
export interface RemovalHost extends RoundHost {
  /** Forgets the host in the store (its record, pin, sightings, tokens); returns (or resolves to) what was removed. */
  forgetHost?: ((uuid: string, jobId: string) => unknown) | undefined;
}

type Outcome = 'done' | 'stopped' | { transient: unknown; what: string };

/** Runs `remove-host` jobs round by round (see the module docstring). Never throws for vCenter problems. */
export class RemoveHostRounds {
  constructor(private readonly r: RemovalHost) {}

  async run(id: string): Promise<void> {
    const { o } = this.r;
    const job0 = await o.jobs.get(id);
    if (!job0 || !['queued', 'running'].includes(job0.state)) return;
    const job = (await o.jobs.markRunning(id, Date.now()))!;
    this.r.jobChanged(job);
    const vcName = job.vcenter ?? '';
    if (!o.config.vcenters.some((v) => v.name === vcName))
      return this.r.finish(id, 'failed', `vCenter "${vcName}" is not configured (vcenters: in statelesx.yaml)`);
    const maxAttempts = o.config.engine['max-attempts'];
    const timeoutS = o.config.engine['maintenance-timeout-s'];
    let transient = 0;
    let executed = false;
    for (let round = 0; round < 4 + maxAttempts; round++) {
      if (this.r.closing() || (await this.cancelled(id))) return;
      let steps: RemovalStep[];
      let vc: VcenterApi;
      try {
        vc = await this.r.connection(vcName);
        const facts = await vc.readHostRemoval(job.target);
        steps = planRemoveHost(facts, job.target, timeoutS);
        if (!facts) await this.r.note(id, 'info', `vCenter "${vcName}" has no host with hardware UUID ${job.target}`);
        else if (facts.connectionState !== 'connected' && !facts.inMaintenanceMode)
          await this.r.note(
            id,
            'info',
            `${facts.name} is ${facts.connectionState}: removed without maintenance mode (vCenter allows it; its ${facts.vmCount} VM(s) leave the inventory with it)`,
          );
      } catch (e) {
        if (!isTransient(e) || e instanceof InvalidLogin) {
          return this.r.finish(
            id,
            'failed',
            e instanceof PermanentStepError ? e.message : `vCenter "${vcName}": ${describe(e)}`,
          );
        }
        if (await this.backoff(id, ++transient, maxAttempts, e, `vCenter "${vcName}" not reachable`)) continue;
        return;
      }
      await o.jobs.skipUnfinished(id, 'replanned from fresh state', Date.now());
      if (steps.length === 0) return await this.forget(id, job, round > 0);
      if (executed)
        return this.r.finish(
          id,
          'failed',
          `verification failed: after removing, vCenter still has the host (${steps.map((s) => `${s.name} ${s.target}`).join('; ')})`,
        );
      await this.r.note(id, 'info', `round ${round + 1}: ${steps.length} step(s) planned`);
      const out = await this.execute(id, vc, steps, timeoutS);
      if (out === 'stopped') return;
      if (out !== 'done') {
        if (await this.backoff(id, ++transient, maxAttempts, out.transient, out.what)) continue;
        return;
      }
      executed = true;
    }
    await this.r.finish(id, 'failed', `host still in vCenter after ${4 + maxAttempts} rounds`);
  }

  /** After a transient fault: waits the backoff and @returns true, or fails the job after the last attempt. */
  private async backoff(id: string, n: number, max: number, e: unknown, what: string): Promise<boolean> {
    if (n >= max) {
      await this.r.finish(id, 'failed', `${what}: ${describe(e)} (gave up after ${n} attempt(s))`);
      return false;
    }
    const delay = Math.min(30_000, (this.r.o.retryBaseMs ?? 1000) * 2 ** (n - 1));
    await this.r.note(id, 'warn', `${what}: ${describe(e)}; retrying in ${delay} ms (attempt ${n + 1} of ${max})`);
    await sleep(delay);
    return true;
  }

  /** A cancel was requested: the job ends `cancelled` before its next step. @returns whether it did */
  private async cancelled(id: string): Promise<boolean> {
    const by = this.r.cancelRequested(id);
    if (by === undefined) return false;
    await this.r.o.jobs.skipUnfinished(id, `cancelled by ${by}`, Date.now());
    await this.r.finish(id, 'cancelled', `cancelled by ${by} (between steps)`);
    return true;
  }

  /** Executes the vCenter steps in order; a permanent fault fails the job ('stopped'). */
  private async execute(id: string, vc: VcenterApi, steps: RemovalStep[], timeoutS: number): Promise<Outcome> {
    const { o } = this.r;
    const seqs = await o.jobs.appendSteps(id, steps);
    for (const [i, step] of steps.entries()) {
      if (this.r.closing()) return 'stopped';
      if (await this.cancelled(id)) return 'stopped';
      const seq = seqs[i]!;
      await o.jobs.stepStarted(id, seq, Date.now());
      await this.r.emitStep(id, seq);
      // Recorded before the call, as for configure jobs (engine/jobs "Maintenance mode").
      if (step.name === 'EnterMaintenanceMode_Task') await o.jobs.markMaintenance(step.hostUuid, id, Date.now());
      try {
        if (step.name === 'EnterMaintenanceMode_Task')
          await vc.enterMaintenanceMode(step.args.host, step.args.timeout, false);
        else await vc.destroyEntity(step.args.entity.type, step.args.entity.value, step.hostUuid);
        if (step.name === 'Destroy_Task') await o.jobs.clearMaintenance(step.hostUuid);
      } catch (e) {
        if (step.name === 'EnterMaintenanceMode_Task' && e instanceof VsphereFault)
          await o.jobs.clearMaintenance(step.hostUuid);
        const name = e instanceof VsphereFault ? e.faultName : ((e as Error).name ?? 'Error');
        await o.jobs.stepFault(id, seq, Date.now(), `${name}: ${describe(e)}`, true);
        await this.r.emitStep(id, seq);
        const what = `${step.name} ${step.target}`;
        if (isTransient(e)) return { transient: e, what };
        await o.jobs.skipUnfinished(id, `not run: ${step.name} failed`, Date.now());
        const timedOut = e instanceof VsphereFault && e.faultName === 'Timedout';
        await this.r.finish(
          id,
          'failed',
          timedOut
            ? `${what}: the host still ran powered-on VMs after ${timeoutS} s (engine.maintenance-timeout-s): DRS did not evacuate them — migrate or power them off, then retry; nothing was removed`
            : `${what}: ${describe(e)}`,
        );
        return 'stopped';
      }
      await o.jobs.stepDone(id, seq, Date.now(), null);
      await this.r.emitStep(id, seq);
    }
    return 'done';
  }

  /** vCenter no longer has the host: the store forget, as a recorded step, then success. */
  private async forget(id: string, job: JobRecord, verified: boolean): Promise<void> {
    const { o } = this.r;
    await this.r.note(
      id,
      'info',
      verified ? 'verified: vCenter no longer has the host' : 'nothing to remove from vCenter',
    );
    if (!this.r.forgetHost) return this.r.finish(id, 'failed', 'this job runner has no store to forget the host in');
    const [seq] = await o.jobs.appendSteps(id, [
      {
        name: 'ForgetHost',
        target: `store:host ${job.target}`,
        hostUuid: job.target,
        args: {},
        before: null,
        after: null,
      },
    ]);
    await o.jobs.stepStarted(id, seq!, Date.now());
    await this.r.emitStep(id, seq!);
    let result: unknown;
    try {
      result = await this.r.forgetHost(job.target, id);
    } catch (e) {
      await o.jobs.stepFault(id, seq!, Date.now(), `${(e as Error).name}: ${describe(e)}`, true);
      await this.r.emitStep(id, seq!);
      return this.r.finish(
        id,
        'failed',
        `the host left vCenter, but the store could not forget it: ${describe(e)} (retry the job)`,
      );
    }
    await o.jobs.stepDone(id, seq!, Date.now(), result);
    await this.r.emitStep(id, seq!);
    await this.r.finish(id, 'succeeded');
  }
}
