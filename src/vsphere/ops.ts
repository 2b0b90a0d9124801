/**
 * One thin typed function per vSphere Web Services method, named exactly as the API names it.
 * Each takes a {@link Caller} (a client, or one pinned session) and the method's parameters in
 * the API's terms; `_this` is the managed object the method belongs to (its type is in the
 * docstring). Task methods (`*_Task`) return the Task reference; await it with
 * tasks.ts `waitForTask`. Faults are thrown as faults.ts errors.
 * Longer than 400 lines on purpose: a catalogue of independent few-line functions, one per SOAP
 * method, read by method name; nothing in it shares state.
 */
import type { CallOptions, SoapResult } from './soap.js';
import type {
  ClusterConfigSpecEx,
  HostConnectSpec,
  HostDateTimeConfig,
  HostAccountSpec,
  HostDnsConfig,
  HostSystemReconnectSpec,
  HostPortGroupSpec,
  HostVirtualNicSpec,
  HostVirtualSwitchSpec,
  ObjectContent,
  OptionValue,
  PropertyFilterSpec,
  RetrieveResult,
  ServiceContent,
  UserSession,
  VirtualNicManagerNetConfig,
} from './types.js';
import { faultFromLocalized } from './faults.js';
import { child, decode, first, list, moref, text, type MoRef, type XmlNode } from './xml.js';

/** What ops need: a way to invoke methods, and the ServiceInstance's content. */
export interface Caller {
  readonly serviceContent: ServiceContent;
  /** Sends one call (params in the API's names; see schema.ts METHODS). */
  invoke(method: string, thisRef: MoRef, params?: Record<string, unknown>, opts?: CallOptions): Promise<SoapResult>;
  /**
   * Runs `fn` with all calls on one session: PropertyCollector filters and collectors created
   * with CreateFilter/CreatePropertyCollector belong to the session that created them.
   */
  withSession<T>(fn: (c: Caller) => Promise<T>): Promise<T>;
}

/** Only `invoke` (for the calls made before the ServiceContent is known). */
export type Invoker = Pick<Caller, 'invoke'>;

const SERVICE_INSTANCE: MoRef = { type: 'ServiceInstance', value: 'ServiceInstance' };

function ref(r: SoapResult): MoRef {
  return moref(r.returnval[0]);
}
function refOrNull(r: SoapResult): MoRef | null {
  const n = r.returnval[0];
  return n === undefined || text(n) === '' ? null : moref(n);
}

// --- ServiceInstance / SessionManager -------------------------------------------------------------

/** ServiceInstance.RetrieveServiceContent → the root references and `about` (apiVersion). */
export async function RetrieveServiceContent(c: Invoker): Promise<ServiceContent> {
  const r = await c.invoke('RetrieveServiceContent', SERVICE_INSTANCE);
  return decode(r.returnval[0], 'ServiceContent') as ServiceContent;
}

/** SessionManager.Login. Throws InvalidLogin on a wrong user name or password. */
export async function Login(c: Caller, userName: string, password: string, locale?: string): Promise<UserSession> {
  const r = await c.invoke('Login', c.serviceContent.sessionManager, { userName, password, locale });
  return decode(r.returnval[0], 'UserSession') as UserSession;
}

/** SessionManager.Logout. */
export async function Logout(c: Caller): Promise<void> {
  await c.invoke('Logout', c.serviceContent.sessionManager);
}

// --- PropertyCollector ----------------------------------------------------------------------------

/** Decodes a vim RetrieveResult element (raw `val` nodes are decoded by their xsi:type). */
export function decodeRetrieveResult(node: XmlNode | undefined): RetrieveResult {
  if (node === undefined) return { objects: [] };
  const token = text(first(node, 'token'));
  const objects: ObjectContent[] = list(child(node, 'objects')).map((o) => {
    const props: Record<string, unknown> = {};
    for (const p of list(child(o, 'propSet'))) props[text(first(p, 'name'))] = decode(first(p, 'val'), 'anyType');
    const missing = list(child(o, 'missingSet')).map((m) => ({
      path: text(first(m, 'path')),
      fault: faultFromLocalized(first(m, 'fault') ?? '').faultName,
    }));
    return { obj: moref(first(o, 'obj')), props, missing };
  });
  return token ? { token, objects } : { objects };
}

/**
 * PropertyCollector.RetrievePropertiesEx. `maxObjects` bounds one page; follow `token` with
 * {@link ContinueRetrievePropertiesEx} (or use {@link retrieveAll}).
 */
export async function RetrievePropertiesEx(
  c: Caller,
  specSet: PropertyFilterSpec[],
  maxObjects?: number,
  collector: MoRef = c.serviceContent.propertyCollector,
): Promise<RetrieveResult> {
  const r = await c.invoke('RetrievePropertiesEx', collector, { specSet, options: maxObjects ? { maxObjects } : {} });
  return decodeRetrieveResult(r.returnval[0]);
}

/** PropertyCollector.ContinueRetrievePropertiesEx: the next page for a token. */
export async function ContinueRetrievePropertiesEx(
  c: Caller,
  token: string,
  collector: MoRef = c.serviceContent.propertyCollector,
): Promise<RetrieveResult> {
  const r = await c.invoke('ContinueRetrievePropertiesEx', collector, { token });
  return decodeRetrieveResult(r.returnval[0]);
}

/** RetrievePropertiesEx followed through all pages (bounded to 10 000 pages). */
export async function retrieveAll(
  c: Caller,
  specSet: PropertyFilterSpec[],
  maxObjects?: number,
): Promise<ObjectContent[]> {
  let page = await RetrievePropertiesEx(c, specSet, maxObjects);
  const out = [...page.objects];
  for (let i = 0; page.token && i < 10_000; i++) {
    page = await ContinueRetrievePropertiesEx(c, page.token);
    out.push(...page.objects);
  }
  return out;
}

/** PropertyCollector.CreatePropertyCollector: a private collector of this session. */
export async function CreatePropertyCollector(c: Caller): Promise<MoRef> {
  return ref(await c.invoke('CreatePropertyCollector', c.serviceContent.propertyCollector));
}

/** PropertyCollector.DestroyPropertyCollector (its filters go with it). */
export async function DestroyPropertyCollector(c: Caller, collector: MoRef): Promise<void> {
  await c.invoke('DestroyPropertyCollector', collector);
}

/** PropertyCollector.CreateFilter → the PropertyFilter. */
export async function CreateFilter(
  c: Caller,
  collector: MoRef,
  spec: PropertyFilterSpec,
  partialUpdates: boolean,
): Promise<MoRef> {
  return ref(await c.invoke('CreateFilter', collector, { spec, partialUpdates }));
}

/** PropertyFilter.DestroyPropertyFilter. */
export async function DestroyPropertyFilter(c: Caller, filter: MoRef): Promise<void> {
  await c.invoke('DestroyPropertyFilter', filter);
}

/**
 * PropertyCollector.WaitForUpdatesEx. Returns the raw UpdateSet element, or undefined when
 * `maxWaitSeconds` passed without changes. The HTTP deadline is maxWaitSeconds + `graceMs`.
 */
export async function WaitForUpdatesEx(
  c: Caller,
  collector: MoRef,
  version: string,
  options: { maxWaitSeconds?: number; maxObjectUpdates?: number } = {},
  graceMs = 30_000,
): Promise<XmlNode | undefined> {
  const opts = options.maxWaitSeconds !== undefined ? { timeoutMs: options.maxWaitSeconds * 1000 + graceMs } : {};
  // an empty version (the first call: the full current state) is omitted, as govmomi does
  const r = await c.invoke('WaitForUpdatesEx', collector, { version: version || undefined, options }, opts);
  return r.returnval[0];
}

/** PropertyCollector.CancelWaitForUpdates. */
export async function CancelWaitForUpdates(c: Caller, collector: MoRef): Promise<void> {
  await c.invoke('CancelWaitForUpdates', collector);
}

// --- SearchIndex -----------------------------------------------------------------------------------

/**
 * SearchIndex.FindByUuid with vmSearch=false: the HostSystem whose `hardware.systemInfo.uuid` is
 * `uuid`, or null.
 */
export async function FindByUuid(c: Caller, uuid: string, datacenter?: MoRef): Promise<MoRef | null> {
  return refOrNull(await c.invoke('FindByUuid', c.serviceContent.searchIndex, { datacenter, uuid, vmSearch: false }));
}

/** SearchIndex.FindByInventoryPath (`DC0/host/Cluster1`), or null. */
export async function FindByInventoryPath(c: Caller, inventoryPath: string): Promise<MoRef | null> {
  return refOrNull(await c.invoke('FindByInventoryPath', c.serviceContent.searchIndex, { inventoryPath }));
}

// --- Folder / Datacenter / Cluster ---------------------------------------------------------------------

/** Folder.CreateDatacenter (`folder` is usually the root folder). Throws DuplicateName. */
export async function CreateDatacenter(c: Caller, folder: MoRef, name: string): Promise<MoRef> {
  return ref(await c.invoke('CreateDatacenter', folder, { name }));
}

/** Folder.CreateClusterEx in a datacenter's hostFolder. Throws DuplicateName, InvalidArgument. */
export async function CreateClusterEx(
  c: Caller,
  hostFolder: MoRef,
  name: string,
  spec: ClusterConfigSpecEx,
): Promise<MoRef> {
  return ref(await c.invoke('CreateClusterEx', hostFolder, { name, spec }));
}

/**
 * ComputeResource.ReconfigureComputeResource_Task with a ClusterConfigSpecEx (`xsi:type` set on
 * `spec`). `modify=true` changes only the members set in `spec`.
 */
export async function ReconfigureComputeResource_Task(
  c: Caller,
  cluster: MoRef,
  spec: ClusterConfigSpecEx,
  modify = true,
): Promise<MoRef> {
  return ref(
    await c.invoke('ReconfigureComputeResource_Task', cluster, {
      spec: { _type: 'ClusterConfigSpecEx', ...spec },
      modify,
    }),
  );
}

/**
 * ClusterComputeResource.AddHost_Task. Task errors: SSLVerifyFault{thumbprint} (retry with
 * `sslThumbprint`), InvalidLogin, AlreadyConnected, NoHost, AlreadyBeingManaged.
 */
export async function AddHost_Task(
  c: Caller,
  cluster: MoRef,
  spec: HostConnectSpec,
  asConnected = true,
  opts?: CallOptions,
): Promise<MoRef> {
  return ref(await c.invoke('AddHost_Task', cluster, { spec, asConnected }, opts));
}

/**
 * HostSystem.ReconnectHost_Task: reconnects a disconnected or not-responding host, with a new
 * `cnxSpec` (credentials and the host's current `sslThumbprint`, SHA-1 or SHA-256 colon hex) when
 * the host changed (a stateless reboot: new certificate, password). Task errors as
 * {@link AddHost_Task}: SSLVerifyFault{thumbprint}, InvalidLogin, HostConnectFault, InvalidState.
 */
export async function ReconnectHost_Task(
  c: Caller,
  host: MoRef,
  cnxSpec?: HostConnectSpec,
  reconnectSpec?: HostSystemReconnectSpec,
  opts?: CallOptions,
): Promise<MoRef> {
  return ref(await c.invoke('ReconnectHost_Task', host, { cnxSpec, reconnectSpec }, opts));
}

/** HostSystem.DisconnectHost_Task: vCenter stops managing the host; it stays in the inventory. */
export async function DisconnectHost_Task(c: Caller, host: MoRef): Promise<MoRef> {
  return ref(await c.invoke('DisconnectHost_Task', host));
}

/** HostSystem.EnterMaintenanceMode_Task (`timeout` in seconds, 0 = no timeout). */
export async function EnterMaintenanceMode_Task(
  c: Caller,
  host: MoRef,
  timeout = 0,
  evacuatePoweredOffVms?: boolean,
): Promise<MoRef> {
  return ref(await c.invoke('EnterMaintenanceMode_Task', host, { timeout, evacuatePoweredOffVms }));
}

/** HostSystem.ExitMaintenanceMode_Task (`timeout` in seconds, 0 = no timeout). */
export async function ExitMaintenanceMode_Task(c: Caller, host: MoRef, timeout = 0): Promise<MoRef> {
  return ref(await c.invoke('ExitMaintenanceMode_Task', host, { timeout }));
}

/** ManagedEntity.Destroy_Task. */
export async function Destroy_Task(c: Caller, entity: MoRef): Promise<MoRef> {
  return ref(await c.invoke('Destroy_Task', entity));
}

// --- HostLocalAccountManager (an ESXi host's own SDK) -----------------------------------------------

/**
 * HostLocalAccountManager.UpdateUser: changes a local account (the root password of a freshly
 * booted stateless host). Faults: UserNotFound, AlreadyExists, InvalidArgument (password policy).
 * `accountManager` defaults to ServiceContent.accountManager (`ha-localacctmgr`).
 */
export async function UpdateUser(c: Caller, user: HostAccountSpec, accountManager?: MoRef): Promise<void> {
  const mgr = accountManager ?? c.serviceContent.accountManager;
  if (!mgr) throw new Error('ServiceContent has no accountManager: not an ESXi host SDK');
  await c.invoke('UpdateUser', mgr, { user: { _type: 'HostAccountSpec', ...user } });
}

// --- HostNetworkSystem -------------------------------------------------------------------------------------

/** HostNetworkSystem.AddVirtualSwitch. Faults: AlreadyExists, ResourceInUse (uplink), InvalidArgument. */
export async function AddVirtualSwitch(
  c: Caller,
  networkSystem: MoRef,
  vswitchName: string,
  spec?: HostVirtualSwitchSpec,
): Promise<void> {
  await c.invoke('AddVirtualSwitch', networkSystem, { vswitchName, spec: bridged(spec) });
}

/** HostNetworkSystem.UpdateVirtualSwitch. Faults: NotFound, ResourceInUse, InvalidArgument. */
export async function UpdateVirtualSwitch(
  c: Caller,
  networkSystem: MoRef,
  vswitchName: string,
  spec: HostVirtualSwitchSpec,
): Promise<void> {
  await c.invoke('UpdateVirtualSwitch', networkSystem, { vswitchName, spec: bridged(spec) });
}

function bridged(spec: HostVirtualSwitchSpec | undefined): HostVirtualSwitchSpec | undefined {
  if (!spec?.bridge) return spec;
  return { ...spec, bridge: { _type: 'HostVirtualSwitchBondBridge', ...spec.bridge } };
}

/** HostNetworkSystem.RemoveVirtualSwitch. Faults: NotFound, ResourceInUse. */
export async function RemoveVirtualSwitch(c: Caller, networkSystem: MoRef, vswitchName: string): Promise<void> {
  await c.invoke('RemoveVirtualSwitch', networkSystem, { vswitchName });
}

/** HostNetworkSystem.AddPortGroup. Faults: AlreadyExists, NotFound (vSwitch), InvalidArgument (VLAN). */
export async function AddPortGroup(c: Caller, networkSystem: MoRef, portgrp: HostPortGroupSpec): Promise<void> {
  await c.invoke('AddPortGroup', networkSystem, { portgrp });
}

/** HostNetworkSystem.UpdatePortGroup (rename, move, VLAN, policy). */
export async function UpdatePortGroup(
  c: Caller,
  networkSystem: MoRef,
  pgName: string,
  portgrp: HostPortGroupSpec,
): Promise<void> {
  await c.invoke('UpdatePortGroup', networkSystem, { pgName, portgrp });
}

/** HostNetworkSystem.RemovePortGroup. Faults: NotFound, ResourceInUse (a VMkernel NIC uses it). */
export async function RemovePortGroup(c: Caller, networkSystem: MoRef, pgName: string): Promise<void> {
  await c.invoke('RemovePortGroup', networkSystem, { pgName });
}

/** HostNetworkSystem.AddVirtualNic → the new device name (`vmk1`). */
export async function AddVirtualNic(
  c: Caller,
  networkSystem: MoRef,
  portgroup: string,
  nic: HostVirtualNicSpec,
): Promise<string> {
  const r = await c.invoke('AddVirtualNic', networkSystem, { portgroup, nic });
  return text(r.returnval[0]);
}

/** HostNetworkSystem.UpdateVirtualNic. */
export async function UpdateVirtualNic(
  c: Caller,
  networkSystem: MoRef,
  device: string,
  nic: HostVirtualNicSpec,
): Promise<void> {
  await c.invoke('UpdateVirtualNic', networkSystem, { device, nic });
}

/** HostNetworkSystem.RemoveVirtualNic. */
export async function RemoveVirtualNic(c: Caller, networkSystem: MoRef, device: string): Promise<void> {
  await c.invoke('RemoveVirtualNic', networkSystem, { device });
}

/** HostNetworkSystem.UpdateDnsConfig (`config` sent with xsi:type="HostDnsConfig"). */
export async function UpdateDnsConfig(c: Caller, networkSystem: MoRef, config: HostDnsConfig): Promise<void> {
  await c.invoke('UpdateDnsConfig', networkSystem, { config });
}

/** HostNetworkSystem.UpdateIpRouteConfig (default gateway). */
export async function UpdateIpRouteConfig(
  c: Caller,
  networkSystem: MoRef,
  config: { defaultGateway?: string; gatewayDevice?: string },
): Promise<void> {
  await c.invoke('UpdateIpRouteConfig', networkSystem, { config });
}

// --- HostVirtualNicManager -----------------------------------------------------------------------------------

/** HostVirtualNicManager.SelectVnicForNicType (nicType: management, vmotion, vsan, ...). */
export async function SelectVnicForNicType(
  c: Caller,
  vnicManager: MoRef,
  nicType: string,
  device: string,
): Promise<void> {
  await c.invoke('SelectVnicForNicType', vnicManager, { nicType, device });
}

/** HostVirtualNicManager.DeselectVnicForNicType. InvalidArgument{device} when not selected. */
export async function DeselectVnicForNicType(
  c: Caller,
  vnicManager: MoRef,
  nicType: string,
  device: string,
): Promise<void> {
  await c.invoke('DeselectVnicForNicType', vnicManager, { nicType, device });
}

/** HostVirtualNicManager.QueryNetConfig → candidates and selected NIC keys for a nicType. */
export async function QueryNetConfig(
  c: Caller,
  vnicManager: MoRef,
  nicType: string,
): Promise<VirtualNicManagerNetConfig | null> {
  const r = await c.invoke('QueryNetConfig', vnicManager, { nicType });
  return r.returnval[0] === undefined
    ? null
    : (decode(r.returnval[0], 'VirtualNicManagerNetConfig') as VirtualNicManagerNetConfig);
}

// --- HostDateTimeSystem / HostServiceSystem / OptionManager -----------------------------------------------------

/** HostDateTimeSystem.UpdateDateTimeConfig (NTP servers). */
export async function UpdateDateTimeConfig(
  c: Caller,
  dateTimeSystem: MoRef,
  config: HostDateTimeConfig,
): Promise<void> {
  await c.invoke('UpdateDateTimeConfig', dateTimeSystem, { config });
}

/** HostServiceSystem.UpdateServicePolicy (`policy`: on | off | automatic). */
export async function UpdateServicePolicy(
  c: Caller,
  serviceSystem: MoRef,
  id: string,
  policy: 'on' | 'off' | 'automatic',
): Promise<void> {
  await c.invoke('UpdateServicePolicy', serviceSystem, { id, policy });
}

/** HostServiceSystem.StartService (e.g. `ntpd`). */
export async function StartService(c: Caller, serviceSystem: MoRef, id: string): Promise<void> {
  await c.invoke('StartService', serviceSystem, { id });
}

/** HostServiceSystem.RestartService. */
export async function RestartService(c: Caller, serviceSystem: MoRef, id: string): Promise<void> {
  await c.invoke('RestartService', serviceSystem, { id });
}

/** HostServiceSystem.StopService. */
export async function StopService(c: Caller, serviceSystem: MoRef, id: string): Promise<void> {
  await c.invoke('StopService', serviceSystem, { id });
}

/** OptionManager.QueryOptions (`name` a key, or a prefix ending in `.`). Throws InvalidName. */
export async function QueryOptions(
  c: Caller,
  optionManager: MoRef,
  name?: string,
): Promise<Array<{ key: string; value: unknown }>> {
  const r = await c.invoke('QueryOptions', optionManager, { name });
  return r.returnval.map((n) => ({ key: text(first(n, 'key')), value: decode(first(n, 'value'), 'anyType') }));
}

/** OptionManager.UpdateOptions (host advanced settings: `configManager.advancedOption`). */
export async function UpdateOptions(c: Caller, optionManager: MoRef, changedValue: OptionValue[]): Promise<void> {
  await c.invoke('UpdateOptions', optionManager, { changedValue });
}
