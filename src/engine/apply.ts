/**
 * Executes planned {@link Step}s against one vCenter through {@link VcenterApi}, and reads the
 * {@link CurrentState} the planner needs. It decides nothing about *what* to change (that is
 * engine/plan) and records nothing (that is engine/jobs); it resolves MoRefs and secrets at run
 * time and applies the AddHost_Task thumbprint policy.
 *
 * AddHost_Task thumbprint policy (HostConnectSpec.sslThumbprint; on SSLVerifyFault vCenter reports
 * the host's SHA-1 thumbprint):
 * - the member pins a thumbprint in the cluster file → it is sent; SSLVerifyFault means the host
 *   presents another certificate → refused ({@link ThumbprintRefused}), never retried with the reported one;
 * - no pin, `trust-on-first-use` → the thumbprint recorded in the store for the FQDN is sent; on
 *   SSLVerifyFault with none recorded, the reported one is recorded and the call retried once with
 *   it; a reported thumbprint that differs from the recorded one is refused;
 * - no pin, `pinned` → sent without a thumbprint; if vCenter asks (SSLVerifyFault) it is refused,
 *   the message names the reported thumbprint so the operator can pin it.
 */
import type { DesiredCluster } from '../clusters/types.js';
import { AlreadyConnected, DuplicateName, SSLVerifyFault } from '../vsphere/faults.js';
import type { Step } from './plan.js';
import type { ClusterState, CurrentState, HostState } from './state.js';
import type { VcenterApi } from './vcenter.js';

/** The job must fail without retry: the reason is a fact an operator has to change. */
export class PermanentStepError extends Error {
  override name = 'PermanentStepError';
}

/** AddHost_Task refused by the thumbprint policy. */
export class ThumbprintRefused extends PermanentStepError {
  override name = 'ThumbprintRefused';
}

/** Normalises a thumbprint for comparison (upper-case hex with colons). */
export function normThumbprint(t: string): string {
  return t.trim().toUpperCase();
}

/** What {@link executeStep} needs besides the step. */
export interface ApplyContext {
  vc: VcenterApi;
  desired: DesiredCluster;
  /** Latest state read (refs are resolved from it; AddHost_Task/AddVirtualNic results update it). */
  state: CurrentState;
  /** ESXi credentials by `credentials:` name. @throws Error naming the entry when missing. */
  credentials(name: string): { username: string; password: string };
  thumbprintPolicy: 'phone-home' | 'pinned' | 'trust-on-first-use';
  /** Recorded trust-on-first-use thumbprint for a host FQDN. */
  trustedThumbprint(host: string): string | undefined;
  /** Records one (first wins); returns the recorded value. */
  trustThumbprint(host: string, thumbprint: string): string;
  /** A line for the job log. */
  note(level: 'info' | 'warn', msg: string): void;
}

/**
 * Reads the state for a cluster and the given member UUIDs in one read pass
 * ({@link VcenterApi.readState}: the adapter batches the reads; nothing is read twice).
 */
export async function readCurrent(vc: VcenterApi, desired: DesiredCluster, uuids: string[]): Promise<CurrentState> {
  return vc.readState(
    desired.datacenter,
    desired.name,
    uuids,
    desired.advanced.map((a) => a.key),
  );
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined || v === '') throw new PermanentStepError(`${what} is not known (state changed under the job?)`);
  return v;
}

function hostOf(ctx: ApplyContext, step: Step): HostState {
  return need(
    step.hostUuid ? ctx.state.hosts[step.hostUuid] : undefined,
    `host ${step.hostUuid ?? '?'} for ${step.name}`,
  );
}

function deviceFor(h: HostState, portgroup: string, given?: string): string {
  return need(
    given ?? h.vmknics.find((n) => n.portgroup === portgroup)?.device,
    `VMkernel NIC on port group ${portgroup} of ${h.name}`,
  );
}

async function addHost(
  ctx: ApplyContext,
  step: Extract<Step, { name: 'AddHost_Task' }>,
  cluster: ClusterState,
): Promise<unknown> {
  const { vc } = ctx;
  const clusterRef = need(cluster.clusterRef, `cluster ${ctx.desired.name}`);
  const fqdn = step.args.hostName;
  const pin = step.args.sslThumbprint ? normThumbprint(step.args.sslThumbprint) : undefined;
  const cred = ctx.credentials(step.args.credentials);
  const recorded = pin ? undefined : ctx.trustedThumbprint(fqdn);
  let thumb = pin ?? (ctx.thumbprintPolicy === 'trust-on-first-use' ? recorded : undefined);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const ref = await vc.addHost(
        clusterRef,
        { hostName: fqdn, userName: cred.username, password: cred.password, sslThumbprint: thumb },
        true,
      );
      return { host: ref, sslThumbprint: thumb ?? null };
    } catch (e) {
      if (!(e instanceof SSLVerifyFault)) throw e;
      const reported = normThumbprint(e.thumbprint);
      if (pin)
        throw new ThumbprintRefused(
          `host ${fqdn} presents SSL thumbprint ${reported}, but the cluster file pins ${pin}; refusing to add it`,
        );
      if (ctx.thumbprintPolicy === 'pinned') {
        throw new ThumbprintRefused(
          `host ${fqdn} has no thumbprint pinned in ${ctx.desired.file} and engine.thumbprint-policy is "pinned"; it reports ${reported} — pin it (after checking it on the host console) to add the host`,
        );
      }
      const known = recorded ?? ctx.trustedThumbprint(fqdn);
      if (known && normThumbprint(known) !== reported) {
        throw new ThumbprintRefused(
          `host ${fqdn} now presents SSL thumbprint ${reported}, but ${normThumbprint(known)} was trusted on first use; refusing (remove the recorded thumbprint if the certificate was replaced on purpose)`,
        );
      }
      if (attempt > 0) throw e;
      thumb = normThumbprint(ctx.trustThumbprint(fqdn, reported));
      ctx.note('warn', `trusting SSL thumbprint ${thumb} of ${fqdn} on first use`);
    }
  }
  throw new PermanentStepError(`AddHost_Task ${fqdn}: no attempt left`);
}

/**
 * Executes one step. Returns a JSON-safe result (new MoRef, device …).
 * Idempotence: CreateDatacenter/CreateClusterEx answering DuplicateName and AddHost_Task answering
 * AlreadyConnected mean a concurrent job (or a timed-out earlier attempt) already did it: the
 * result says so and the caller re-reads.
 * @throws PermanentStepError / ThumbprintRefused, or the client's errors (VsphereFault, VsphereTimeoutError, …)
 */
export async function executeStep(ctx: ApplyContext, step: Step): Promise<unknown> {
  const { vc, state } = ctx;
  const cluster = state.cluster;
  switch (step.name) {
    case 'CreateDatacenter':
      try {
        return { datacenter: await vc.createDatacenter(step.args.parentPath, step.args.name) };
      } catch (e) {
        if (e instanceof DuplicateName) return { existing: true };
        throw e;
      }
    case 'CreateClusterEx':
      try {
        return {
          cluster: await vc.createClusterEx(
            need(cluster.hostFolderRef, `hostFolder of ${ctx.desired.datacenter}`),
            step.args.name,
            step.args.spec,
          ),
        };
      } catch (e) {
        if (e instanceof DuplicateName) return { existing: true };
        throw e;
      }
    case 'ReconfigureComputeResource_Task':
      await vc.reconfigureComputeResource(
        need(cluster.clusterRef, `cluster ${ctx.desired.name}`),
        step.args.spec,
        true,
      );
      return null;
    case 'AddHost_Task':
      try {
        return await addHost(ctx, step, cluster);
      } catch (e) {
        if (e instanceof AlreadyConnected) return { existing: true };
        throw e;
      }
    default:
      break;
  }
  const h = hostOf(ctx, step);
  const ns = () => need(h.refs.networkSystem, `configManager.networkSystem of ${h.name}`);
  switch (step.name) {
    case 'EnterMaintenanceMode_Task':
      await vc.enterMaintenanceMode(h.refs.host, step.args.timeout);
      return null;
    case 'ExitMaintenanceMode_Task':
      await vc.exitMaintenanceMode(h.refs.host, step.args.timeout);
      return null;
    case 'AddVirtualSwitch':
      await vc.addVirtualSwitch(ns(), step.args.vswitchName, step.args.spec);
      return null;
    case 'UpdateVirtualSwitch':
      await vc.updateVirtualSwitch(ns(), step.args.vswitchName, step.args.spec);
      return null;
    case 'AddPortGroup':
      await vc.addPortGroup(ns(), step.args.portgrp);
      return null;
    case 'UpdatePortGroup':
      await vc.updatePortGroup(ns(), step.args.pgName, step.args.portgrp);
      return null;
    case 'AddVirtualNic': {
      const device = await vc.addVirtualNic(ns(), step.args.portgroup, step.args.nic);
      h.vmknics.push({
        device,
        portgroup: step.args.portgroup,
        dhcp: step.args.nic.dhcp,
        ipAddress: step.args.nic.ipAddress,
        subnetMask: step.args.nic.subnetMask,
        mtu: step.args.nic.mtu,
      });
      return { device };
    }
    case 'UpdateVirtualNic':
      await vc.updateVirtualNic(ns(), step.args.device, step.args.nic);
      return null;
    case 'SelectVnicForNicType': {
      const device = deviceFor(h, step.args.portgroup, step.args.device);
      await vc.selectVnicForNicType(
        need(h.refs.virtualNicManager, `virtualNicManager of ${h.name}`),
        step.args.nicType,
        device,
      );
      return { device };
    }
    case 'DeselectVnicForNicType':
      await vc.deselectVnicForNicType(
        need(h.refs.virtualNicManager, `virtualNicManager of ${h.name}`),
        step.args.nicType,
        step.args.device,
      );
      return null;
    case 'UpdateDateTimeConfig':
      await vc.updateDateTimeConfig(need(h.refs.dateTimeSystem, `dateTimeSystem of ${h.name}`), step.args.ntpServers);
      return null;
    case 'UpdateServicePolicy':
      await vc.updateServicePolicy(
        need(h.refs.serviceSystem, `serviceSystem of ${h.name}`),
        step.args.id,
        step.args.policy,
      );
      return null;
    case 'StartService':
      await vc.startService(need(h.refs.serviceSystem, `serviceSystem of ${h.name}`), step.args.id);
      return null;
    case 'UpdateDnsConfig':
      await vc.updateDnsConfig(ns(), step.args);
      return null;
    case 'UpdateOptions':
      await vc.updateOptions(need(h.refs.advancedOption, `advancedOption of ${h.name}`), step.args.changedValue);
      return null;
    default: {
      const never: never = step;
      throw new PermanentStepError(`unknown step ${(never as Step).name}`);
    }
  }
}

/** Steps after which the rest of the plan is re-planned from freshly read state (they create inventory). */
export const REPLAN_AFTER: ReadonlySet<Step['name']> = new Set(['CreateDatacenter', 'CreateClusterEx', 'AddHost_Task']);
