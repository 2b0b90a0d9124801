/* eslint-disable max-lines -- one data table, one entry per vSphere type, kept whole for the WSDL order */
/**
 * The vSphere Web Services (vim25) data types and method signatures this client sends or reads,
 * as a small table: for every type its base type and its members **in WSDL sequence order**
 * (vpxd parses DataObjects with a forward cursor and rejects out-of-order elements; the
 * simulator's strict mode checks the same order against govmomi `vim25/types`).
 * Longer than 400 lines on purpose: it is one data table, one entry per vSphere type, and
 * splitting it would only scatter the WSDL order it exists to keep in one place.
 *
 * Member notation: `name:Type` with
 *   - `!` after the name: required (non-optional in the WSDL; the serializer refuses to omit it),
 *   - `[]` after the type: repeated element (xsd maxOccurs=unbounded),
 *   - `@` before the type: polymorphic; the element always carries `xsi:type`.
 * Primitive types: string, int, long, short, byte, boolean, double, dateTime, base64Binary,
 * anyType (a value carrying its own `xsd:` type, see {@link XsdValue}), and
 * ManagedObjectReference (`<el type="HostSystem">host-12</el>`). Enums are strings.
 *
 * Source of the orders: vSphere Web Services API reference (Data Object Types), cross-checked
 * with govmomi `vim25/types/types.go` (which follows the WSDL sequence, base members first).
 */

export interface MemberDef {
  name: string;
  type: string;
  required: boolean;
  array: boolean;
  polymorphic: boolean;
}

export interface DataTypeDef {
  name: string;
  base?: string;
  members: MemberDef[];
}

/** A value for an `anyType` member (e.g. OptionValue.value): its xsd type and value. */
export interface XsdValue {
  /** `xsd:string`, `xsd:int`, `xsd:long`, `xsd:boolean`, ... or a vim data type name. */
  xsdType: string;
  value: string | number | boolean;
}

export const PRIMITIVES = new Set([
  'string',
  'int',
  'long',
  'short',
  'byte',
  'boolean',
  'double',
  'float',
  'dateTime',
  'base64Binary',
  'anyType',
  'ManagedObjectReference',
]);

function parseMember(spec: string): MemberDef {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(!?):(@?)([A-Za-z0-9_]+)(\[\])?$/.exec(spec);
  if (!m) throw new Error(`bad member spec ${spec}`);
  return { name: m[1]!, required: m[2] === '!', polymorphic: m[3] === '@', type: m[4]!, array: m[5] === '[]' };
}

const table = new Map<string, DataTypeDef>();
function def(name: string, base: string | undefined, members: string[]): void {
  table.set(name, { name, ...(base ? { base } : {}), members: members.map(parseMember) });
}

// --- base -------------------------------------------------------------------------------------
def('DynamicData', undefined, []);

// --- PropertyCollector (vmodl.query.PropertyCollector) -----------------------------------------
def('SelectionSpec', 'DynamicData', ['name:string']);
def('TraversalSpec', 'SelectionSpec', ['type!:string', 'path!:string', 'skip:boolean', 'selectSet:@SelectionSpec[]']);
def('PropertySpec', 'DynamicData', ['type!:string', 'all:boolean', 'pathSet:string[]']);
def('ObjectSpec', 'DynamicData', ['obj!:ManagedObjectReference', 'skip:boolean', 'selectSet:@SelectionSpec[]']);
def('PropertyFilterSpec', 'DynamicData', [
  'propSet:PropertySpec[]',
  'objectSet:ObjectSpec[]',
  'reportMissingObjectsInResults:boolean',
]);
def('RetrieveOptions', 'DynamicData', ['maxObjects:int']);
def('WaitOptions', 'DynamicData', ['maxWaitSeconds:int', 'maxObjectUpdates:int']);
def('RetrieveResult', 'DynamicData', ['token:string', 'objects:ObjectContent[]']);
def('ObjectContent', 'DynamicData', [
  'obj:ManagedObjectReference',
  'propSet:DynamicProperty[]',
  'missingSet:MissingProperty[]',
]);
def('DynamicProperty', undefined, ['name:string', 'val:anyType']);
def('MissingProperty', 'DynamicData', ['path:string', 'fault:LocalizedMethodFault']);
def('LocalizedMethodFault', 'DynamicData', ['fault:@MethodFault', 'localizedMessage:string']);
def('MethodFault', undefined, ['faultCause:LocalizedMethodFault', 'faultMessage:LocalizableMessage[]']);
def('LocalizableMessage', 'DynamicData', ['key:string', 'arg:KeyAnyValue[]', 'message:string']);
def('KeyAnyValue', 'DynamicData', ['key:string', 'value:anyType']);
def('UpdateSet', 'DynamicData', ['version:string', 'filterSet:PropertyFilterUpdate[]', 'truncated:boolean']);
def('PropertyFilterUpdate', 'DynamicData', [
  'filter:ManagedObjectReference',
  'objectSet:ObjectUpdate[]',
  'missingSet:MissingObject[]',
]);
def('MissingObject', 'DynamicData', ['obj:ManagedObjectReference', 'fault:LocalizedMethodFault']);
def('ObjectUpdate', 'DynamicData', [
  'kind:string',
  'obj:ManagedObjectReference',
  'changeSet:PropertyChange[]',
  'missingSet:MissingProperty[]',
]);
def('PropertyChange', 'DynamicData', ['name:string', 'op:string', 'val:anyType']);

// --- ServiceInstance / SessionManager ----------------------------------------------------------
def('AboutInfo', 'DynamicData', [
  'name:string',
  'fullName:string',
  'vendor:string',
  'version:string',
  'build:string',
  'localeVersion:string',
  'localeBuild:string',
  'osType:string',
  'productLineId:string',
  'apiType:string',
  'apiVersion:string',
  'instanceUuid:string',
  'licenseProductName:string',
  'licenseProductVersion:string',
]);
def('ServiceContent', 'DynamicData', [
  'rootFolder:ManagedObjectReference',
  'propertyCollector:ManagedObjectReference',
  'viewManager:ManagedObjectReference',
  'about:AboutInfo',
  'setting:ManagedObjectReference',
  'userDirectory:ManagedObjectReference',
  'sessionManager:ManagedObjectReference',
  'authorizationManager:ManagedObjectReference',
  'serviceManager:ManagedObjectReference',
  'perfManager:ManagedObjectReference',
  'scheduledTaskManager:ManagedObjectReference',
  'alarmManager:ManagedObjectReference',
  'eventManager:ManagedObjectReference',
  'taskManager:ManagedObjectReference',
  'extensionManager:ManagedObjectReference',
  'customizationSpecManager:ManagedObjectReference',
  'guestCustomizationManager:ManagedObjectReference',
  'customFieldsManager:ManagedObjectReference',
  'accountManager:ManagedObjectReference',
  'diagnosticManager:ManagedObjectReference',
  'licenseManager:ManagedObjectReference',
  'searchIndex:ManagedObjectReference',
  'fileManager:ManagedObjectReference',
]);
def('UserSession', 'DynamicData', [
  'key:string',
  'userName:string',
  'fullName:string',
  'loginTime:dateTime',
  'lastActiveTime:dateTime',
  'locale:string',
  'messageLocale:string',
  'extensionSession:boolean',
  'ipAddress:string',
  'userAgent:string',
  'callCount:long',
]);

// --- Tasks --------------------------------------------------------------------------------------
def('TaskInfo', 'DynamicData', [
  'key:string',
  'task:ManagedObjectReference',
  'description:LocalizableMessage',
  'name:string',
  'descriptionId:string',
  'entity:ManagedObjectReference',
  'entityName:string',
  'locked:ManagedObjectReference[]',
  'state:string',
  'cancelled:boolean',
  'cancelable:boolean',
  'error:LocalizedMethodFault',
  'result:anyType',
  'progress:int',
  'reason:@TaskReason',
  'queueTime:dateTime',
  'startTime:dateTime',
  'completeTime:dateTime',
  'eventChainId:int',
  'changeTag:string',
  'parentTaskKey:string',
  'rootTaskKey:string',
  'activationId:string',
]);
def('TaskReason', 'DynamicData', []);

// --- Options --------------------------------------------------------------------------------------
def('OptionValue', 'DynamicData', ['key!:string', 'value!:anyType']);

// --- Cluster configuration (vim.cluster.*) -----------------------------------------------------
def('ComputeResourceConfigSpec', 'DynamicData', [
  'vmSwapPlacement:string',
  'spbmEnabled:boolean',
  'defaultHardwareVersionKey:string',
  'desiredSoftwareSpec:DesiredSoftwareSpec',
]);
def('DesiredSoftwareSpec', 'DynamicData', []);
def('ClusterConfigSpecEx', 'ComputeResourceConfigSpec', [
  'dasConfig:ClusterDasConfigInfo',
  'dasVmConfigSpec:ClusterDasVmConfigSpec[]',
  'drsConfig:ClusterDrsConfigInfo',
  'drsVmConfigSpec:ClusterDrsVmConfigSpec[]',
  'rulesSpec:ClusterRuleSpec[]',
  'orchestration:ClusterOrchestrationInfo',
  'vmOrchestrationSpec:ClusterVmOrchestrationSpec[]',
  'dpmConfig:ClusterDpmConfigInfo',
  'dpmHostConfigSpec:ClusterDpmHostConfigSpec[]',
  'vsanConfig:VsanClusterConfigInfo',
  'vsanHostConfigSpec:VsanHostConfigInfo[]',
  'groupSpec:ClusterGroupSpec[]',
]);
for (const t of [
  'ClusterDasVmConfigSpec',
  'ClusterDrsVmConfigSpec',
  'ClusterRuleSpec',
  'ClusterOrchestrationInfo',
  'ClusterVmOrchestrationSpec',
  'ClusterDpmHostConfigSpec',
  'VsanClusterConfigInfo',
  'VsanHostConfigInfo',
  'ClusterGroupSpec',
  'ClusterVmComponentProtectionSettings',
])
  def(t, 'DynamicData', []);
def('ClusterDasConfigInfo', 'DynamicData', [
  'enabled:boolean',
  'vmMonitoring:string',
  'hostMonitoring:string',
  'vmComponentProtecting:string',
  'failoverLevel:int',
  'admissionControlPolicy:@ClusterDasAdmissionControlPolicy',
  'admissionControlEnabled:boolean',
  'defaultVmSettings:ClusterDasVmSettings',
  'option:@OptionValue[]',
  'heartbeatDatastore:ManagedObjectReference[]',
  'hBDatastoreCandidatePolicy:string',
]);
def('ClusterDasAdmissionControlPolicy', 'DynamicData', ['resourceReductionToToleratePercent:int']);
def('ClusterFailoverLevelAdmissionControlPolicy', 'ClusterDasAdmissionControlPolicy', [
  'failoverLevel!:int',
  'slotPolicy:@ClusterSlotPolicy',
]);
def('ClusterSlotPolicy', 'DynamicData', []);
def('ClusterFailoverResourcesAdmissionControlPolicy', 'ClusterDasAdmissionControlPolicy', [
  'cpuFailoverResourcesPercent!:int',
  'memoryFailoverResourcesPercent!:int',
  'failoverLevel:int',
  'autoComputePercentages:boolean',
]);
def('ClusterFailoverHostAdmissionControlPolicy', 'ClusterDasAdmissionControlPolicy', [
  'failoverHosts:ManagedObjectReference[]',
  'failoverLevel:int',
]);
def('ClusterDasVmSettings', 'DynamicData', [
  'restartPriority:string',
  'restartPriorityTimeout:int',
  'isolationResponse:string',
  'vmToolsMonitoringSettings:ClusterVmToolsMonitoringSettings',
  'vmComponentProtectionSettings:ClusterVmComponentProtectionSettings',
]);
def('ClusterVmToolsMonitoringSettings', 'DynamicData', [
  'enabled:boolean',
  'vmMonitoring:string',
  'clusterSettings:boolean',
  'failureInterval:int',
  'minUpTime:int',
  'maxFailures:int',
  'maxFailureWindow:int',
]);
def('ClusterDrsConfigInfo', 'DynamicData', [
  'enabled:boolean',
  'enableVmBehaviorOverrides:boolean',
  'defaultVmBehavior:string',
  'vmotionRate:int',
  'scaleDescendantsShares:string',
  'option:@OptionValue[]',
]);
def('ClusterDpmConfigInfo', 'DynamicData', [
  'enabled:boolean',
  'defaultDpmBehavior:string',
  'hostPowerActionRate:int',
  'option:@OptionValue[]',
]);
def('ComputeResourceConfigInfo', 'DynamicData', [
  'vmSwapPlacement:string',
  'spbmEnabled:boolean',
  'defaultHardwareVersionKey:string',
]);
def('ClusterConfigInfoEx', 'ComputeResourceConfigInfo', [
  'dasConfig:ClusterDasConfigInfo',
  'dasVmConfig:DynamicData[]',
  'drsConfig:ClusterDrsConfigInfo',
  'drsVmConfig:DynamicData[]',
  'rule:@DynamicData[]',
  'orchestration:DynamicData',
  'vmOrchestration:DynamicData[]',
  'dpmConfigInfo:ClusterDpmConfigInfo',
  'dpmHostConfig:DynamicData[]',
  'vsanConfigInfo:DynamicData',
  'vsanHostConfig:DynamicData[]',
  'group:@DynamicData[]',
]);

// --- Host connection ----------------------------------------------------------------------------
def('HostConnectSpec', 'DynamicData', [
  'hostName:string',
  'port:int',
  'sslThumbprint:string',
  'userName:string',
  'password:string',
  'vmFolder:ManagedObjectReference',
  'force!:boolean',
  'vimAccountName:string',
  'vimAccountPassword:string',
  'managementIp:string',
  'lockdownMode:string',
]);

def('HostSystemReconnectSpec', 'DynamicData', ['syncState:boolean']);
// vim.host.LocalAccountManager.AccountSpecification / PosixAccountSpecification
def('HostAccountSpec', 'DynamicData', ['id!:string', 'password:string', 'description:string']);
def('HostPosixAccountSpec', 'HostAccountSpec', ['posixId:int', 'shellAccess:boolean']);

// --- Host networking (vim.host.*) ----------------------------------------------------------------
def('HostVirtualSwitchBridge', 'DynamicData', []);
def('HostVirtualSwitchBondBridge', 'HostVirtualSwitchBridge', [
  'nicDevice:string[]',
  'beacon:HostVirtualSwitchBeaconConfig',
  'linkDiscoveryProtocolConfig:LinkDiscoveryProtocolConfig',
]);
def('HostVirtualSwitchBeaconConfig', 'DynamicData', ['interval!:int']);
def('LinkDiscoveryProtocolConfig', 'DynamicData', ['protocol!:string', 'operation!:string']);
def('HostNetworkSecurityPolicy', 'DynamicData', [
  'allowPromiscuous:boolean',
  'macChanges:boolean',
  'forgedTransmits:boolean',
]);
def('HostNicFailureCriteria', 'DynamicData', [
  'checkSpeed:string',
  'speed:int',
  'checkDuplex:boolean',
  'fullDuplex:boolean',
  'checkErrorPercent:boolean',
  'percentage:int',
  'checkBeacon:boolean',
]);
def('HostNicOrderPolicy', 'DynamicData', ['activeNic:string[]', 'standbyNic:string[]']);
def('HostNicTeamingPolicy', 'DynamicData', [
  'policy:string',
  'reversePolicy:boolean',
  'notifySwitches:boolean',
  'rollingOrder:boolean',
  'failureCriteria:HostNicFailureCriteria',
  'nicOrder:HostNicOrderPolicy',
]);
def('HostNetOffloadCapabilities', 'DynamicData', [
  'csumOffload:boolean',
  'tcpSegmentation:boolean',
  'zeroCopyXmit:boolean',
]);
def('HostNetworkTrafficShapingPolicy', 'DynamicData', [
  'enabled:boolean',
  'averageBandwidth:long',
  'peakBandwidth:long',
  'burstSize:long',
]);
def('HostNetworkPolicy', 'DynamicData', [
  'security:HostNetworkSecurityPolicy',
  'nicTeaming:HostNicTeamingPolicy',
  'offloadPolicy:HostNetOffloadCapabilities',
  'shapingPolicy:HostNetworkTrafficShapingPolicy',
]);
def('HostVirtualSwitchSpec', 'DynamicData', [
  'numPorts!:int',
  'bridge:@HostVirtualSwitchBridge',
  'policy:HostNetworkPolicy',
  'mtu:int',
]);
def('HostPortGroupSpec', 'DynamicData', [
  'name!:string',
  'vlanId!:int',
  'vswitchName!:string',
  'policy!:HostNetworkPolicy',
]);
def('HostIpConfig', 'DynamicData', ['dhcp!:boolean', 'ipAddress:string', 'subnetMask:string']);
def('HostVirtualNicSpec', 'DynamicData', [
  'ip:HostIpConfig',
  'mac:string',
  'distributedVirtualPort:DistributedVirtualSwitchPortConnection',
  'portgroup:string',
  'mtu:int',
  'tsoEnabled:boolean',
  'netStackInstanceKey:string',
  // opaqueNetwork, externalId, pinnedPnic (not used) come here in the WSDL sequence
  'ipRouteSpec:HostVirtualNicIpRouteSpec',
]);
def('HostVirtualNicIpRouteSpec', 'DynamicData', ['ipRouteConfig:@HostIpRouteConfig']);
def('DistributedVirtualSwitchPortConnection', 'DynamicData', [
  'switchUuid!:string',
  'portgroupKey:string',
  'portKey:string',
  'connectionCookie:int',
]);
def('HostDnsConfig', 'DynamicData', [
  'dhcp!:boolean',
  'virtualNicDevice:string',
  'ipv6VirtualNicDevice:string',
  'hostName!:string',
  'domainName!:string',
  'address:string[]',
  'searchDomain:string[]',
]);
def('HostIpRouteConfig', 'DynamicData', [
  'defaultGateway:string',
  'gatewayDevice:string',
  'ipV6DefaultGateway:string',
  'ipV6GatewayDevice:string',
]);
def('HostVirtualSwitch', 'DynamicData', [
  'name:string',
  'key:string',
  'numPorts:int',
  'numPortsAvailable:int',
  'mtu:int',
  'portgroup:string[]',
  'pnic:string[]',
  'spec:HostVirtualSwitchSpec',
]);
def('HostPortGroupPort', 'DynamicData', ['key:string', 'mac:string[]', 'type:string']);
def('HostPortGroup', 'DynamicData', [
  'key:string',
  'port:HostPortGroupPort[]',
  'vswitch:string',
  'computedPolicy:HostNetworkPolicy',
  'spec:HostPortGroupSpec',
]);
def('HostVirtualNic', 'DynamicData', [
  'device:string',
  'key:string',
  'portgroup:string',
  'spec:HostVirtualNicSpec',
  'port:string',
]);
def('HostNetworkInfo', 'DynamicData', [
  'vswitch:HostVirtualSwitch[]',
  'proxySwitch:DynamicData[]',
  'portgroup:HostPortGroup[]',
  'pnic:PhysicalNic[]',
  'rdmaDevice:DynamicData[]',
  'vnic:HostVirtualNic[]',
  'consoleVnic:HostVirtualNic[]',
  'dnsConfig:@HostDnsConfig',
  'ipRouteConfig:@HostIpRouteConfig',
  'consoleIpRouteConfig:@HostIpRouteConfig',
]);
def('PhysicalNic', 'DynamicData', ['key:string', 'device:string', 'pci:string', 'driver:string', 'mac:string']);
def('VirtualNicManagerNetConfig', 'DynamicData', [
  'nicType:string',
  'multiSelectAllowed:boolean',
  'candidateVnic:HostVirtualNic[]',
  'selectedVnic:string[]',
]);
def('HostVirtualNicManagerInfo', 'DynamicData', ['netConfig:VirtualNicManagerNetConfig[]']);

// --- Date/time, services ---------------------------------------------------------------------------
def('HostNtpConfig', 'DynamicData', ['server:string[]', 'configFile:string[]']);
def('HostDateTimeConfig', 'DynamicData', ['timeZone:string', 'ntpConfig:HostNtpConfig']);
def('HostDateTimeSystemTimeZone', 'DynamicData', ['key:string', 'name:string', 'description:string', 'gmtOffset:int']);
def('HostDateTimeInfo', 'DynamicData', [
  'timeZone:HostDateTimeSystemTimeZone',
  'systemClockProtocol:string',
  'ntpConfig:HostNtpConfig',
]);
def('HostService', 'DynamicData', [
  'key:string',
  'label:string',
  'required:boolean',
  'uninstallable:boolean',
  'running:boolean',
  'ruleset:string[]',
  'policy:string',
]);
def('HostServiceInfo', 'DynamicData', ['service:HostService[]']);

// --- HostSystem properties read by read.ts -----------------------------------------------------------
def('HostConfigManager', 'DynamicData', [
  'cpuScheduler:ManagedObjectReference',
  'datastoreSystem:ManagedObjectReference',
  'memoryManager:ManagedObjectReference',
  'storageSystem:ManagedObjectReference',
  'networkSystem:ManagedObjectReference',
  'vmotionSystem:ManagedObjectReference',
  'virtualNicManager:ManagedObjectReference',
  'serviceSystem:ManagedObjectReference',
  'firewallSystem:ManagedObjectReference',
  'advancedOption:ManagedObjectReference',
  'diagnosticSystem:ManagedObjectReference',
  'autoStartManager:ManagedObjectReference',
  'snmpSystem:ManagedObjectReference',
  'dateTimeSystem:ManagedObjectReference',
]);

export const DATA_TYPES: ReadonlyMap<string, DataTypeDef> = table;

/**
 * Method parameters after `_this`, in WSDL order (vpxd checks parameter order too:
 * "it is parameter 2 of the method Login sequence (_this, userName, password, locale)").
 * Keyed by the wire name of the method (`AddHost_Task`, not `AddHost`).
 */
export const METHODS: ReadonlyMap<string, MemberDef[]> = new Map(
  Object.entries({
    RetrieveServiceContent: [],
    Login: ['userName!:string', 'password!:string', 'locale:string'],
    Logout: [],
    SessionIsActive: ['sessionID!:string', 'userName!:string'],
    RetrievePropertiesEx: ['specSet:PropertyFilterSpec[]', 'options!:RetrieveOptions'],
    ContinueRetrievePropertiesEx: ['token!:string'],
    CancelRetrievePropertiesEx: ['token!:string'],
    CreatePropertyCollector: [],
    DestroyPropertyCollector: [],
    CreateFilter: ['spec!:PropertyFilterSpec', 'partialUpdates!:boolean'],
    DestroyPropertyFilter: [],
    WaitForUpdatesEx: ['version:string', 'options:WaitOptions'],
    CancelWaitForUpdates: [],
    FindByUuid: ['datacenter:ManagedObjectReference', 'uuid!:string', 'vmSearch!:boolean', 'instanceUuid:boolean'],
    FindByInventoryPath: ['inventoryPath!:string'],
    CreateDatacenter: ['name!:string'],
    CreateFolder: ['name!:string'],
    CreateClusterEx: ['name!:string', 'spec!:ClusterConfigSpecEx'],
    ReconfigureComputeResource_Task: ['spec!:@ComputeResourceConfigSpec', 'modify!:boolean'],
    AddHost_Task: [
      'spec!:HostConnectSpec',
      'asConnected!:boolean',
      'resourcePool:ManagedObjectReference',
      'license:string',
    ],
    ReconnectHost_Task: ['cnxSpec:HostConnectSpec', 'reconnectSpec:HostSystemReconnectSpec'],
    DisconnectHost_Task: [],
    UpdateUser: ['user!:@HostAccountSpec'],
    EnterMaintenanceMode_Task: ['timeout!:int', 'evacuatePoweredOffVms:boolean'],
    ExitMaintenanceMode_Task: ['timeout!:int'],
    Destroy_Task: [],
    AddVirtualSwitch: ['vswitchName!:string', 'spec:HostVirtualSwitchSpec'],
    UpdateVirtualSwitch: ['vswitchName!:string', 'spec!:HostVirtualSwitchSpec'],
    RemoveVirtualSwitch: ['vswitchName!:string'],
    AddPortGroup: ['portgrp!:HostPortGroupSpec'],
    UpdatePortGroup: ['pgName!:string', 'portgrp!:HostPortGroupSpec'],
    RemovePortGroup: ['pgName!:string'],
    AddVirtualNic: ['portgroup!:string', 'nic!:HostVirtualNicSpec'],
    UpdateVirtualNic: ['device!:string', 'nic!:HostVirtualNicSpec'],
    RemoveVirtualNic: ['device!:string'],
    UpdateDnsConfig: ['config!:@HostDnsConfig'],
    UpdateIpRouteConfig: ['config!:@HostIpRouteConfig'],
    SelectVnicForNicType: ['nicType!:string', 'device!:string'],
    DeselectVnicForNicType: ['nicType!:string', 'device!:string'],
    QueryNetConfig: ['nicType!:string'],
    UpdateDateTimeConfig: ['config!:HostDateTimeConfig'],
    UpdateServicePolicy: ['id!:string', 'policy!:string'],
    StartService: ['id!:string'],
    StopService: ['id!:string'],
    RestartService: ['id!:string'],
    QueryOptions: ['name:string'],
    UpdateOptions: ['changedValue:@OptionValue[]'],
  }).map(([k, v]) => [k, v.map(parseMember)]),
);

/** True when `type` is `ancestor` or derives from it (walking the base chain of the table). */
export function isSubtype(type: string, ancestor: string): boolean {
  for (let t: string | undefined = type; t; t = DATA_TYPES.get(t)?.base) {
    if (t === ancestor) return true;
  }
  return false;
}

/** All members of `type`, base type members first (the WSDL's extension order). */
export function allMembers(type: string): MemberDef[] {
  const chain: DataTypeDef[] = [];
  for (let t: string | undefined = type; t; t = DATA_TYPES.get(t)?.base) {
    const d = DATA_TYPES.get(t);
    if (!d) throw new Error(`vSphere type ${t} is not in the schema table (src/vsphere/schema.ts)`);
    chain.unshift(d);
  }
  return chain.flatMap((d) => d.members);
}
