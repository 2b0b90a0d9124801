/**
 * Builds a {@link DesiredCluster} from the positioned tree of a schema-valid cluster file, with
 * the defaults the schema documents, and the {@link SourceIndex} that maps every element and
 * attribute path back to its line and column. Input is assumed XSD-valid: this module converts,
 * it does not re-check types (except for the few co-occurrence rules XSD 1.0 cannot express,
 * reported as diagnostics).
 */
import { normalizeMac, normalizeUuid } from '../hosts/identity.js';
import { SourceIndex, type ClusterDiagnostic } from './diagnostics.js';
import type {
  AddressPool,
  AdvancedSetting,
  BootMode,
  InstallDiskType,
  DesiredCluster,
  HaConfig,
  MemberHost,
  PortgroupSpec,
  SecurityPolicy,
  SourcePos,
  TeamingPolicy,
  VmkAddressing,
  VmkNicSpec,
  VmkService,
  VSwitchSpec,
} from './types.js';
import { DEFAULT_CLUSTER_PRIORITY } from './types.js';
import { childNamed, childrenNamed, walkElements, type XmlElement } from './xml-tree.js';

/** Result of {@link buildCluster}. */
export interface BuiltCluster {
  cluster: DesiredCluster;
  index: SourceIndex;
  diagnostics: ClusterDiagnostic[];
}

const attr = (el: XmlElement | undefined, name: string): string | undefined => el?.attrs.get(name)?.value.trim();
const bool = (v: string | undefined, dflt: boolean): boolean => (v === undefined ? dflt : v === 'true' || v === '1');
const int = (v: string | undefined, dflt: number): number => (v === undefined ? dflt : Number.parseInt(v, 10));
const text = (el: XmlElement | undefined): string => (el ? el.text.trim() : '');
/** `root/parent/child*`, or none when `parent` is absent. */
const grandchildren = (root: XmlElement, parent: string, child: string): XmlElement[] => {
  const p = childNamed(root, parent);
  return p ? childrenNamed(p, child) : [];
};

/**
 * Converts a schema-valid tree.
 * @param root the `cluster` element
 * @param file absolute path stored in {@link DesiredCluster.file} and in positions
 */
export function buildCluster(root: XmlElement, file: string): BuiltCluster {
  const byPath = new Map<string, SourcePos>();
  for (const el of walkElements(root)) {
    byPath.set(el.pos.path, el.pos);
    for (const a of el.attrs.values()) byPath.set(a.pos.path, a.pos);
  }
  const index = new SourceIndex(file, byPath);
  const diagnostics: ClusterDiagnostic[] = [];

  const network = childNamed(root, 'network');
  const dnsEl = childNamed(root, 'dns');
  const cluster: DesiredCluster = {
    name: attr(root, 'name') ?? '',
    datacenter: text(childNamed(root, 'datacenter')),
    vcenter: text(childNamed(root, 'vcenter')),
    credentials: text(childNamed(root, 'credentials')),
    ha: buildHa(childNamed(root, 'ha'), index, diagnostics),
    drs: (() => {
      const el = childNamed(root, 'drs');
      return {
        enabled: bool(attr(el, 'enabled'), false),
        automationLevel: (attr(el, 'automationLevel') ?? 'fullyAutomated') as DesiredCluster['drs']['automationLevel'],
        migrationThreshold: int(attr(el, 'migrationThreshold'), 3),
      };
    })(),
    dpm: (() => {
      const el = childNamed(root, 'dpm');
      return {
        enabled: bool(attr(el, 'enabled'), false),
        automationLevel: (attr(el, 'automationLevel') ?? 'manual') as DesiredCluster['dpm']['automationLevel'],
        threshold: int(attr(el, 'threshold'), 3),
      };
    })(),
    vswitches: network ? childrenNamed(network, 'vswitch').map(buildVSwitch) : [],
    portgroups: network ? childrenNamed(network, 'portgroup').map(buildPortgroup) : [],
    vmknics: network ? childrenNamed(network, 'vmknic').map(buildVmkNic) : [],
    pools: network ? childrenNamed(network, 'addressPool').map(buildPool) : [],
    ntpServers: grandchildren(root, 'ntp', 'server').map(text),
    dns: {
      servers: dnsEl ? childrenNamed(dnsEl, 'server').map(text) : [],
      searchDomains: dnsEl ? childrenNamed(dnsEl, 'searchDomain').map(text) : [],
    },
    advanced: grandchildren(root, 'advanced', 'setting').map(buildSetting),
    hosts: grandchildren(root, 'members', 'host').map((h) => buildHost(h, diagnostics, index)),
    file,
  };
  if (network && bool(attr(network, 'prune'), false)) cluster.prune = true;
  const image = text(childNamed(root, 'defaultImage'));
  if (image) cluster.image = image;
  const priority = attr(root, 'priority');
  if (priority !== undefined) cluster.priority = int(priority, DEFAULT_CLUSTER_PRIORITY); // 1–99 by the XSD
  const bootEl = childNamed(root, 'boot');
  if (bootEl) {
    cluster.boot = { mode: (attr(bootEl, 'mode') ?? 'stateless') as BootMode };
    const tpl = bootEl.attrs.get('kickstartTemplate')?.value;
    if (tpl !== undefined) cluster.boot.kickstartTemplate = tpl;
    const kopts = bootEl.attrs.get('kernelOptions')?.value;
    if (kopts !== undefined && kopts !== '') cluster.boot.kernelOptions = kopts; // raw: checked in checks/boot.ts
    const disks = attr(bootEl, 'firstDisk'); // the XSD pattern allows only local|remote|usb lists
    if (disks !== undefined) cluster.boot.firstDisk = disks.split(',').map((d) => d.trim() as InstallDiskType);
    const overwrite = attr(bootEl, 'overwriteVmfs');
    if (overwrite !== undefined) cluster.boot.overwriteVmfs = bool(overwrite, false);
  }
  return { cluster, index, diagnostics };
}

function buildHa(el: XmlElement | undefined, index: SourceIndex, diagnostics: ClusterDiagnostic[]): HaConfig {
  const ac = el ? childNamed(el, 'admissionControl') : undefined;
  let admissionControl: HaConfig['admissionControl'] = { enabled: false };
  if (ac && bool(attr(ac, 'enabled'), false)) {
    const level = childNamed(ac, 'hostFailuresTolerated');
    const pct = childNamed(ac, 'resourcePercentage');
    if (level) {
      admissionControl = { enabled: true, policy: 'hostFailuresTolerated', hostFailuresTolerated: int(text(level), 1) };
    } else if (pct) {
      admissionControl = {
        enabled: true,
        policy: 'percentage',
        cpuPercent: int(attr(pct, 'cpu'), 0),
        memoryPercent: int(attr(pct, 'memory'), 0),
      };
    } else {
      diagnostics.push(
        index.error(
          ac.pos.path,
          'admission control is enabled but names no policy: add <hostFailuresTolerated> or <resourcePercentage>',
        ),
      );
    }
  } else if (ac && ac.children.length > 0) {
    diagnostics.push(
      index.error(
        ac.children[0]!.pos.path,
        'admission control is disabled (enabled="false"): remove the policy or enable it',
      ),
    );
  }
  return {
    enabled: bool(attr(el, 'enabled'), false),
    hostMonitoring: (attr(el, 'hostMonitoring') ?? 'enabled') === 'enabled',
    vmMonitoring: (attr(el, 'vmMonitoring') ?? 'vmMonitoringDisabled') as HaConfig['vmMonitoring'],
    admissionControl,
    isolationResponse: (attr(el, 'isolationResponse') ?? 'none') as HaConfig['isolationResponse'],
    restartPriority: (attr(el, 'restartPriority') ?? 'medium') as HaConfig['restartPriority'],
  };
}

function buildTeaming(el: XmlElement): TeamingPolicy {
  const t: TeamingPolicy = {};
  const lb = attr(el, 'loadBalancing');
  if (lb) t.loadBalancing = lb as NonNullable<TeamingPolicy['loadBalancing']>;
  const fd = attr(el, 'failureDetection');
  if (fd) t.beaconProbing = fd === 'beaconProbing';
  const ns = attr(el, 'notifySwitches');
  if (ns !== undefined) t.notifySwitches = bool(ns, true);
  const fb = attr(el, 'failback');
  if (fb !== undefined) t.rollingOrder = !bool(fb, true);
  const active = childrenNamed(el, 'activeNic').map(text);
  const standby = childrenNamed(el, 'standbyNic').map(text);
  if (active.length) t.activeNics = active;
  if (standby.length) t.standbyNics = standby;
  return t;
}

function buildSecurity(el: XmlElement): SecurityPolicy {
  const s: SecurityPolicy = {};
  for (const k of ['allowPromiscuous', 'macChanges', 'forgedTransmits'] as const) {
    const v = attr(el, k);
    if (v !== undefined) s[k] = bool(v, false);
  }
  return s;
}

function buildVSwitch(el: XmlElement): VSwitchSpec {
  const teaming = childNamed(el, 'teaming');
  const security = childNamed(el, 'security');
  return {
    name: attr(el, 'name') ?? '',
    uplinks: childrenNamed(el, 'uplink').map(text),
    mtu: int(attr(el, 'mtu'), 1500),
    numPorts: int(attr(el, 'ports'), 128),
    teaming: teaming ? buildTeaming(teaming) : {},
    security: security ? buildSecurity(security) : {},
    pos: el.pos,
  };
}

function buildPortgroup(el: XmlElement): PortgroupSpec {
  const pg: PortgroupSpec = {
    name: attr(el, 'name') ?? '',
    vswitch: attr(el, 'vswitch') ?? '',
    vlanId: int(attr(el, 'vlan'), 0),
    pos: el.pos,
  };
  const teaming = childNamed(el, 'teaming');
  const security = childNamed(el, 'security');
  if (teaming) pg.teaming = buildTeaming(teaming);
  if (security) pg.security = buildSecurity(security);
  return pg;
}

function buildVmkNic(el: XmlElement): VmkNicSpec {
  let addressing: VmkAddressing = { mode: 'dhcp' };
  const st = childNamed(el, 'static');
  const pool = childNamed(el, 'pool');
  if (st) addressing = { mode: 'static', netmask: attr(st, 'netmask') ?? '' };
  else if (pool) addressing = { mode: 'pool', pool: attr(pool, 'name') ?? '' };
  return {
    device: attr(el, 'device') ?? '',
    portgroup: attr(el, 'portgroup') ?? '',
    addressing,
    mtu: int(attr(el, 'mtu'), 1500),
    services: childrenNamed(el, 'service').map((s) => text(s) as VmkService),
    pos: el.pos,
  };
}

function buildPool(el: XmlElement): AddressPool {
  const p: AddressPool = {
    name: attr(el, 'name') ?? '',
    start: attr(el, 'start') ?? '',
    end: attr(el, 'end') ?? '',
    netmask: attr(el, 'netmask') ?? '',
  };
  const gw = attr(el, 'gateway');
  if (gw) p.gateway = gw;
  return p;
}

/**
 * OptionValue from a `setting`: `int`/`long` values that are integers become numbers,
 * `boolean` values `true`/`false`/`1`/`0` become booleans; anything else stays a string
 * (semantics reports the mismatch).
 */
function buildSetting(el: XmlElement): AdvancedSetting {
  const type = (attr(el, 'type') ?? 'string') as AdvancedSetting['type'];
  const raw = el.attrs.get('value')?.value ?? '';
  let value: AdvancedSetting['value'] = raw;
  if ((type === 'int' || type === 'long') && /^[+-]?\d{1,19}$/.test(raw.trim())) value = Number(raw.trim());
  if (type === 'boolean' && /^(true|false|1|0)$/.test(raw.trim())) value = /^(true|1)$/.test(raw.trim());
  return { key: attr(el, 'key') ?? '', value, type };
}

function buildHost(el: XmlElement, diagnostics: ClusterDiagnostic[], index: SourceIndex): MemberHost {
  const rawUuid = attr(el, 'uuid') ?? '';
  const h: MemberHost = {
    fqdn: (attr(el, 'fqdn') ?? '').replace(/\.$/, '').toLowerCase(),
    uuid: normalizeUuid(rawUuid) ?? rawUuid.toLowerCase(),
    addresses: {},
    pos: el.pos,
  };
  const mac = attr(el, 'mac');
  if (mac) h.mac = normalizeMac(mac) ?? mac.toLowerCase();
  const image = attr(el, 'image');
  if (image) h.image = image;
  const bootMode = attr(el, 'bootMode');
  if (bootMode) h.bootMode = bootMode as BootMode;
  const kopts = el.attrs.get('kernelOptions')?.value;
  if (kopts !== undefined && kopts !== '') h.kernelOptions = kopts; // raw: checked in checks/boot.ts
  const tp = attr(el, 'thumbprint');
  if (tp) h.thumbprint = tp.toUpperCase();
  for (const a of childrenNamed(el, 'address')) {
    const vmk = attr(a, 'vmk') ?? '';
    if (vmk in h.addresses) {
      diagnostics.push(index.error(a.pos.path, `${h.fqdn} gives an address for ${vmk} twice`));
      continue;
    }
    h.addresses[vmk] = text(a);
  }
  return h;
}
