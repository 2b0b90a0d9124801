/**
 * Executes planned {@link Step}s against one vCenter through {@link VcenterApi}, and reads the
 * {@link CurrentState} the planner needs. It decides nothing about *what* to change (that is
 * engine/plan) and records nothing (that is engine/jobs); it resolves MoRefs and secrets at run
 * time and applies the AddHost_Task thumbprint policy.
 *
 * AddHost_Task / ReconnectHost_Task thumbprint policy (HostConnectSpec.sslThumbprint; on
 * SSLVerifyFault vCenter reports the host's thumbprint):
 * - the member pins a thumbprint in the cluster file → it is sent; SSLVerifyFault means the host
 *   presents another certificate → refused ({@link ThumbprintRefused}), never retried with the reported one;
 * - no pin, `phone-home` (default) and the host reported its thumbprint in its phone-home on this
 *   boot → that one is sent (a stateless host has a new certificate at every boot); SSLVerifyFault
 *   → refused (the host vCenter reached is not the one that phoned home);
 * - no pin, `trust-on-first-use` (or `phone-home` without a reported thumbprint: an old initiator, a
 *   CLI apply) → the thumbprint recorded in the store for the FQDN is sent; on SSLVerifyFault with
 *   none recorded, the reported one is recorded and the call retried once with it; a reported
 *   thumbprint that differs from the recorded one is refused;
 * - no pin, `pinned` → sent without a thumbprint; if vCenter asks (SSLVerifyFault) it is refused,
 *   the message names the reported thumbprint so the operator can pin it.
 *
 * Fresh-boot password: InvalidLogin from AddHost_Task/ReconnectHost_Task for a host that phoned
 * home with a valid token on this boot → the configured password is set on the host itself
 * (its SDK, blank root password; `setRootPassword`) and the call is made once more. A host whose
 * password is not blank, or that did not phone home with a token, fails the job at once with a
 * reason naming the credentials entry (InvalidLogin is permanent: no retry storm).
 */
import type { DesiredCluster } from '../clusters/types.js';
import {
  AlreadyConnected,
  DuplicateName,
  InvalidLogin,
  NotFound,
  ResourceInUse,
  SSLVerifyFault,
} from '../vsphere/faults.js';
import { phonedHomeThisBoot, type HostBoot } from './lifecycle.js';
import type { Step } from './plan.js';
import type { CurrentState, HostState } from './state.js';
import type { EsxiConnector, HostConnectArgs, VcenterApi } from './vcenter.js';

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
  /** Recorded trust-on-first-use thumbprint for a host FQDN (store `host_thumbprints`). */
  trustedThumbprint(host: string): Promise<string | undefined>;
  /** Records one (first wins); resolves to the recorded value. */
  trustThumbprint(host: string, thumbprint: string): Promise<string>;
  /** A line for the job log (resolves once recorded). */
  note(level: 'info' | 'warn', msg: string): Promise<void> | void;
  /** The member's current boot (engine/lifecycle), for the phone-home thumbprint and the fresh-boot password. */
  boot?: (uuid: string) => Promise<HostBoot | undefined>;
  /** Records the thumbprint vCenter accepted for a member (AddHost_Task / ReconnectHost_Task succeeded). */
  joined?: (uuid: string, thumbprint: string) => Promise<void>;
  /** Opens a session on an ESXi host's own SDK (fresh-boot password); without it the password is never set. */
  esxi?: EsxiConnector | undefined;
  /** `engine.esxi-sdk-url` (`{fqdn}` is replaced). */
  esxiSdkUrl: string;
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

type JoinStep = Extract<Step, { name: 'AddHost_Task' | 'ReconnectHost_Task' }>;

/** The thumbprint to send first, by the policy (see the module docstring). */
async function firstThumbprint(
  ctx: ApplyContext,
  step: JoinStep,
): Promise<{ thumb?: string | undefined; source: string }> {
  const pin = step.args.sslThumbprint;
  if (pin) return { thumb: normThumbprint(pin), source: 'pin' };
  const reported = step.args.phoneHomeThumbprint;
  if (ctx.thumbprintPolicy === 'phone-home' && reported)
    return { thumb: normThumbprint(reported), source: 'phone-home' };
  if (ctx.thumbprintPolicy === 'pinned') return { source: 'none' };
  return { thumb: await ctx.trustedThumbprint(step.args.hostName), source: 'tofu' };
}

/**
 * AddHost_Task / ReconnectHost_Task with the thumbprint policy, and the fresh-boot password:
 * when vCenter answers InvalidLogin for a host that phoned home with a valid token on this boot,
 * the configured password is set on the host itself ({@link setRootPassword}) and the call is
 * made once more.
 */
async function joinHost(
  ctx: ApplyContext,
  step: JoinStep,
  call: (spec: HostConnectArgs) => Promise<string | undefined>,
) {
  const fqdn = step.args.hostName;
  const cred = ctx.credentials(step.args.credentials);
  let { thumb, source } = await firstThumbprint(ctx, step);
  let passwordSet = false;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const ref = await call({
        hostName: fqdn,
        userName: cred.username,
        password: cred.password,
        sslThumbprint: thumb,
      });
      if (thumb && step.hostUuid) await ctx.joined?.(step.hostUuid, thumb);
      return { ...(ref ? { host: ref } : {}), sslThumbprint: thumb ?? null };
    } catch (e) {
      if (e instanceof InvalidLogin && !passwordSet) {
        await setRootPassword(ctx, step, cred, e);
        passwordSet = true;
        continue;
      }
      if (e instanceof InvalidLogin)
        throw new PermanentStepError(
          `${step.name} ${fqdn}: the host refused credentials "${step.args.credentials}" (user ${cred.username}) even after the password was set on it`,
        );
      if (!(e instanceof SSLVerifyFault)) throw e;
      const reported = normThumbprint(e.thumbprint);
      if (source === 'pin')
        throw new ThumbprintRefused(
          `host ${fqdn} presents SSL thumbprint ${reported}, but the cluster file pins ${thumb!}; refusing to ${step.name === 'AddHost_Task' ? 'add' : 'reconnect'} it`,
        );
      if (source === 'phone-home')
        throw new ThumbprintRefused(
          `host ${fqdn} presents SSL thumbprint ${reported}, but it reported ${thumb!} in its phone-home on this boot; refusing (is ${fqdn} resolving to another machine?)`,
        );
      if (ctx.thumbprintPolicy === 'pinned') {
        throw new ThumbprintRefused(
          `host ${fqdn} has no thumbprint pinned in ${ctx.desired.file} and engine.thumbprint-policy is "pinned"; it reports ${reported} — pin it (after checking it on the host console) to add the host`,
        );
      }
      const known = await ctx.trustedThumbprint(fqdn);
      if (known && normThumbprint(known) !== reported) {
        throw new ThumbprintRefused(
          `host ${fqdn} now presents SSL thumbprint ${reported}, but ${normThumbprint(known)} was trusted on first use; refusing (statelesx host reset-thumbprint ${fqdn} if the certificate was replaced on purpose)`,
        );
      }
      if (source === 'tofu-recorded') throw e;
      thumb = normThumbprint(await ctx.trustThumbprint(fqdn, reported));
      source = 'tofu-recorded';
      await ctx.note('warn', `trusting SSL thumbprint ${thumb} of ${fqdn} on first use`);
    }
  }
  throw new PermanentStepError(`${step.name} ${fqdn}: no attempt left`);
}

/**
 * The fresh-boot root password (issue 21 item 4): vCenter refused the configured ESXi password;
 * when the host phoned home with a valid token on this boot and accepts a blank root password (a
 * stateless boot without host profile), the configured password is set on the host itself through
 * its own SDK (certificate pinned to the phone-home thumbprint). The password is never logged.
 * @throws PermanentStepError when the host is not eligible or its password is not blank
 */
async function setRootPassword(
  ctx: ApplyContext,
  step: JoinStep,
  cred: { username: string; password: string },
  refused: InvalidLogin,
): Promise<void> {
  const fqdn = step.args.hostName;
  const boot = step.hostUuid ? await ctx.boot?.(step.hostUuid) : undefined;
  const wrong = `${step.name} ${fqdn}: vCenter could not log in to the host with credentials "${step.args.credentials}" (user ${cred.username}): ${refused.message}`;
  const thumb = boot?.thumbprint ?? boot?.thumbprintSha1;
  if (!ctx.esxi || !phonedHomeThisBoot(boot) || boot?.verifiedBy !== 'token' || !thumb)
    throw new PermanentStepError(
      `${wrong} — the password is not set on the host by statelesx because the host did not phone home with a valid token and its thumbprint on this boot; set credentials[${step.args.credentials}] to the host's root password`,
    );
  const url = ctx.esxiSdkUrl.replaceAll('{fqdn}', fqdn);
  await ctx.note('info', `setting the root password of ${fqdn} on the host itself (${url}; fresh stateless boot)`);
  const s = await ctx.esxi({ url, fqdn, thumbprint: thumb });
  try {
    try {
      await s.login(cred.username, '');
    } catch (e) {
      if (e instanceof InvalidLogin)
        throw new PermanentStepError(
          `${wrong} — and the host's ${cred.username} password is not blank (not a fresh boot), so statelesx cannot set it: set credentials[${step.args.credentials}] to the host's password`,
        );
      throw e;
    }
    await s.updateUser(cred.username, cred.password);
  } finally {
    await s.close();
  }
  await ctx.note('info', `root password of ${fqdn} set (HostLocalAccountManager.UpdateUser); ${step.name} again`);
}

/**
 * Executes one step. Returns a JSON-safe result (new MoRef, device …).
 * Idempotence: CreateDatacenter/CreateClusterEx answering DuplicateName and AddHost_Task answering
 * AlreadyConnected mean a concurrent job (or a timed-out earlier attempt) already did it: the
 * result says so and the caller re-reads.
 * @throws PermanentStepError / ThumbprintRefused, or the client's errors (VsphereFault, VsphereTimeoutError, …)
 */
export async function executeStep(ctx: ApplyContext, step: Step): Promise<unknown> {
  switch (step.name) {
    case 'CreateDatacenter':
    case 'CreateClusterEx':
    case 'ReconfigureComputeResource_Task':
    case 'AddHost_Task':
    case 'ReconnectHost_Task':
      return executeInventoryStep(ctx, step);
    default:
      return executeHostConfigStep(ctx, step);
  }
}

/** Steps that create or change inventory: the datacenter, the cluster, a host's membership. */
type InventoryStep = Extract<
  Step,
  {
    name:
      | 'CreateDatacenter'
      | 'CreateClusterEx'
      | 'ReconfigureComputeResource_Task'
      | 'AddHost_Task'
      | 'ReconnectHost_Task';
  }
>;

/** {@link executeStep} for the datacenter, the cluster and joins (DuplicateName / AlreadyConnected: done already). */
async function executeInventoryStep(ctx: ApplyContext, step: InventoryStep): Promise<unknown> {
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
    case 'AddHost_Task': {
      const clusterRef = need(cluster.clusterRef, `cluster ${ctx.desired.name}`);
      try {
        return await joinHost(ctx, step, (spec) => ctx.vc.addHost(clusterRef, spec, true));
      } catch (e) {
        if (e instanceof AlreadyConnected) return { existing: true };
        throw e;
      }
    }
    case 'ReconnectHost_Task': {
      const ref = hostOf(ctx, step).refs.host;
      return joinHost(ctx, step, async (spec) => {
        await ctx.vc.reconnectHost(ref, spec);
        return ref;
      });
    }
    default: {
      const never: never = step;
      throw new PermanentStepError(`unknown step ${(never as Step).name}`);
    }
  }
}

/** {@link executeStep} for a member host's configuration (its managers from the read state). */
async function executeHostConfigStep(ctx: ApplyContext, step: Exclude<Step, InventoryStep>): Promise<unknown> {
  const { vc } = ctx;
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
    case 'AddVirtualNic':
      return addVirtualNic(ctx, h, step);
    case 'RemoveVirtualNic':
    case 'RemovePortGroup':
    case 'RemoveVirtualSwitch':
      return removeNetworkObject(ctx, h, step);
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

/** AddVirtualNic; the new NIC joins the read state (later service steps find its device by port group). */
async function addVirtualNic(
  ctx: ApplyContext,
  h: HostState,
  step: Extract<Step, { name: 'AddVirtualNic' }>,
): Promise<{ device: string }> {
  const ns = need(h.refs.networkSystem, `configManager.networkSystem of ${h.name}`);
  const { nic, portgroup } = step.args;
  const device = await ctx.vc.addVirtualNic(ns, portgroup, nic);
  h.vmknics.push({ device, portgroup, ...nic });
  return { device };
}

type RemoveStep = Extract<Step, { name: 'RemoveVirtualNic' | 'RemovePortGroup' | 'RemoveVirtualSwitch' }>;

/**
 * A prune removal (engine/prune). NotFound = already gone (an earlier attempt that timed out, or
 * someone else): done. ResourceInUse (ESXi: a virtual machine or VMkernel NIC still uses the port
 * group or vSwitch) fails the job without retry, naming the object and what to do.
 * @throws PermanentStepError for ResourceInUse, the client's errors otherwise
 */
async function removeNetworkObject(ctx: ApplyContext, h: HostState, step: RemoveStep): Promise<unknown> {
  const ns = need(h.refs.networkSystem, `configManager.networkSystem of ${h.name}`);
  const what =
    step.name === 'RemoveVirtualNic'
      ? `VMkernel NIC ${step.args.device} (port group ${step.args.portgroup})`
      : step.name === 'RemovePortGroup'
        ? `port group ${step.args.pgName} (vSwitch ${step.args.vswitchName})`
        : `vSwitch ${step.args.vswitchName}`;
  try {
    if (step.name === 'RemoveVirtualNic') await ctx.vc.removeVirtualNic(ns, step.args.device);
    else if (step.name === 'RemovePortGroup') await ctx.vc.removePortGroup(ns, step.args.pgName);
    else await ctx.vc.removeVirtualSwitch(ns, step.args.vswitchName);
    return null;
  } catch (e) {
    if (e instanceof NotFound) return { alreadyGone: true };
    if (e instanceof ResourceInUse)
      throw new PermanentStepError(
        `${step.name} on ${h.name}: ESXi refuses to remove ${what}: it is still in use (${e.message}). ` +
          `It is not declared in ${ctx.desired.file} and <network prune="true"> removes it: move the virtual machines ` +
          `or VMkernel NICs off it, declare it in the file, or turn prune off`,
      );
    throw e;
  }
}

/** Steps after which the rest of the plan is re-planned from freshly read state (they create inventory). */
export const REPLAN_AFTER: ReadonlySet<Step['name']> = new Set([
  'CreateDatacenter',
  'CreateClusterEx',
  'AddHost_Task',
  'ReconnectHost_Task',
]);
