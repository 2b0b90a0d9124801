/**
 * What the engine needs from one vCenter: the reads that build a {@link CurrentState} and one
 * typed function per vSphere method a {@link Step} names. Implemented over src/vsphere (client,
 * ops, read) by src/engine/vsphere-adapter.ts; the engine depends on this interface only, so the
 * planner/runner can be exercised against any vCenter the adapter speaks to.
 *
 * Errors: implementations throw src/vsphere/faults.ts errors (VsphereFault subclasses such as
 * SSLVerifyFault, InvalidLogin, DuplicateName; VsphereTimeoutError; VsphereNetworkError).
 * MoRefs are passed as their `value` strings with the type implied by the parameter.
 */
import type { ClusterSpec, PortgroupSpecArgs, VnicSpecArgs, VSwitchSpecArgs } from './plan.js';
import type { ClusterState, CurrentState, HostState } from './state.js';
import type { VmkService } from '../clusters/types.js';
import type { HostRemovalFacts } from './remove-host.js';

/** SOAP calls made so far on this connection, read from the client's call counter. */
export interface CallCounts {
  total: number;
  /** Calls of methods that change vCenter (everything but reads, session and property-collector calls). */
  mutating: number;
  byMethod: Record<string, number>;
}

/** HostConnectSpec members the engine sets (vim.host.ConnectSpec). */
export interface HostConnectArgs {
  hostName: string;
  userName: string;
  password: string;
  sslThumbprint?: string | undefined;
}

/** One logged-in vCenter. */
export interface VcenterApi {
  /**
   * One read pass for planning: the cluster (as {@link readCluster}) and the hosts with these
   * hardware UUIDs (undefined = not in vCenter), with the OptionManager `advancedKeys`, in as few
   * calls as the implementation can (no datum read twice).
   */
  readState(
    datacenterPath: string,
    clusterName: string,
    uuids: string[],
    advancedKeys: string[],
  ): Promise<CurrentState>;
  /** Datacenter (by inventory path), its hostFolder, the cluster (by name) and its configurationEx. */
  readCluster(datacenterPath: string, clusterName: string): Promise<ClusterState>;
  /** SearchIndex.FindByUuid (vmSearch=false): the HostSystem MoRef, or undefined. */
  findHostByUuid(datacenterRef: string | undefined, uuid: string): Promise<string | undefined>;
  /** SearchIndex.FindByInventoryPath (`DC0/host/prod/esx1.lab`, segments escaped): the MoRef value, or undefined. */
  findByInventoryPath(path: string): Promise<string | undefined>;
  /** The host's state; `advancedKeys` are the OptionManager keys to read. */
  readHost(hostRef: string, advancedKeys: string[]): Promise<HostState>;

  /** Folder.CreateDatacenter on the folder at `parentPath` ('' = rootFolder). Returns the Datacenter MoRef. */
  createDatacenter(parentPath: string, name: string): Promise<string>;
  /** Folder.CreateClusterEx. Returns the ClusterComputeResource MoRef. */
  createClusterEx(hostFolderRef: string, name: string, spec: ClusterSpec): Promise<string>;
  /** ClusterComputeResource.ReconfigureComputeResource_Task, awaited. */
  reconfigureComputeResource(clusterRef: string, spec: ClusterSpec, modify: boolean): Promise<void>;
  /** ClusterComputeResource.AddHost_Task, awaited. Returns the HostSystem MoRef. */
  addHost(clusterRef: string, spec: HostConnectArgs, asConnected: boolean): Promise<string>;
  /**
   * HostSystem.ReconnectHost_Task, awaited; `spec` = the HostConnectSpec of this boot (credentials,
   * thumbprint), undefined = reconnect with what vCenter has.
   */
  reconnectHost(hostRef: string, spec: HostConnectArgs | undefined): Promise<void>;
  /** HostSystem.DisconnectHost_Task, awaited. */
  disconnectHost(hostRef: string): Promise<void>;
  /**
   * HostSystem.EnterMaintenanceMode_Task, awaited (`timeoutS` seconds, 0 = none;
   * `evacuatePoweredOffVms` sent only when given). Faults: InvalidState (already in it), Timedout.
   */
  enterMaintenanceMode(hostRef: string, timeoutS: number, evacuatePoweredOffVms?: boolean): Promise<void>;
  exitMaintenanceMode(hostRef: string, timeoutS: number): Promise<void>;
  addVirtualSwitch(networkSystemRef: string, vswitchName: string, spec: VSwitchSpecArgs): Promise<void>;
  updateVirtualSwitch(networkSystemRef: string, vswitchName: string, spec: VSwitchSpecArgs): Promise<void>;
  addPortGroup(networkSystemRef: string, portgrp: PortgroupSpecArgs): Promise<void>;
  updatePortGroup(networkSystemRef: string, pgName: string, portgrp: PortgroupSpecArgs): Promise<void>;
  /** Returns the new device name (`vmkN`). */
  addVirtualNic(networkSystemRef: string, portgroup: string, nic: VnicSpecArgs): Promise<string>;
  updateVirtualNic(networkSystemRef: string, device: string, nic: VnicSpecArgs): Promise<void>;
  /** HostNetworkSystem.RemoveVirtualNic. @throws NotFound */
  removeVirtualNic(networkSystemRef: string, device: string): Promise<void>;
  /** HostNetworkSystem.RemovePortGroup. @throws NotFound, ResourceInUse (a VM or VMkernel NIC uses it) */
  removePortGroup(networkSystemRef: string, pgName: string): Promise<void>;
  /** HostNetworkSystem.RemoveVirtualSwitch. @throws NotFound, ResourceInUse (ports still in use) */
  removeVirtualSwitch(networkSystemRef: string, vswitchName: string): Promise<void>;
  selectVnicForNicType(virtualNicManagerRef: string, nicType: VmkService, device: string): Promise<void>;
  deselectVnicForNicType(virtualNicManagerRef: string, nicType: VmkService, device: string): Promise<void>;
  updateDateTimeConfig(dateTimeSystemRef: string, ntpServers: string[]): Promise<void>;
  updateServicePolicy(serviceSystemRef: string, id: string, policy: string): Promise<void>;
  startService(serviceSystemRef: string, id: string): Promise<void>;
  updateDnsConfig(
    networkSystemRef: string,
    dns: { dhcp: boolean; hostName: string; domainName: string; servers: string[]; searchDomains: string[] },
  ): Promise<void>;
  updateOptions(
    optionManagerRef: string,
    changed: { key: string; value: string | number | boolean; type: 'string' | 'int' | 'long' | 'boolean' }[],
  ): Promise<void>;

  /**
   * The host with this hardware UUID as removal needs it (engine/remove-host), or undefined when
   * vCenter has none (SearchIndex.FindByUuid, vmSearch=false).
   */
  readHostRemoval(uuid: string): Promise<HostRemovalFacts | undefined>;
  /**
   * ManagedEntity.Destroy_Task on a HostSystem (cluster member) or a ComputeResource (standalone
   * host), awaited. `hostUuid` = the removed host's hardware UUID (cached identities are dropped).
   * Faults: InvalidState (connected and not in maintenance mode), NotSupported (a standalone HostSystem).
   */
  destroyEntity(type: 'HostSystem' | 'ComputeResource', ref: string, hostUuid?: string): Promise<void>;

  calls(): CallCounts;
  /** Logs out; idempotent. */
  close(): Promise<void>;
}

/** A session on one ESXi host's own SDK (src/vsphere/host-session.ts). */
export interface EsxiSession {
  /** SessionManager.Login. @throws InvalidLogin */
  login(userName: string, password: string): Promise<void>;
  /** HostLocalAccountManager.UpdateUser({id, password}). */
  updateUser(id: string, password: string): Promise<void>;
  /** Logout and close; idempotent. */
  close(): Promise<void>;
}

/**
 * Connects to an ESXi host's SDK at `url`, TLS SNI `fqdn`, certificate pinned to `thumbprint`
 * (SHA-1 or SHA-256 colon hex). @throws ThumbprintMismatchError, VsphereNetworkError, …
 */
export type EsxiConnector = (o: { url: string; fqdn: string; thumbprint: string }) => Promise<EsxiSession>;

/** Opens a logged-in {@link VcenterApi} for a `vcenters:` entry. Throws InvalidLogin, VsphereNetworkError, … */
export type VcenterConnector = (vcenterName: string) => Promise<VcenterApi>;
