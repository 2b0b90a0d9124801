/**
 * The host-level half of the planner (engine/plan): VMkernel addresses (static, pools), and the
 * steps that make one host's networking (vSwitches, port groups, VMkernel NICs and their services),
 * NTP, DNS and advanced options equal to the cluster file. Pure, like engine/plan; split out of it
 * to keep each file to one concern. Also the helpers both halves share ({@link PlanError}, step
 * construction, JSON comparison).
 */
import type { AddressPool, DesiredCluster, MemberHost, VmkNicSpec, VSwitchSpec } from '../clusters/types.js';
import { VMK_SERVICES } from '../clusters/types.js';
import type { HostState } from './state.js';
import type { PoolAddressFn } from './pools.js';
import type { PortgroupSpecArgs, Step, StepArgsMap, StepName, VnicSpecArgs, VSwitchSpecArgs } from './plan.js';
import { prunePlan, removeNicAndPortgroupSteps, removeVswitchSteps } from './prune.js';

/** The desired state cannot be reached by planning (a fact the file or vCenter must change). */
export class PlanError extends Error {
  override name = 'PlanError';
}

export function mk<N extends StepName>(
  name: N,
  target: string,
  args: StepArgsMap[N],
  before: unknown,
  after: unknown,
  hostUuid?: string,
): Step {
  return { name, target, args, before, after, ...(hostUuid ? { hostUuid } : {}) } as Step;
}

/** Members of `want` that differ from `have` (deep JSON compare), as [before, after] partials. */
export function diffObject<T extends object>(
  have: T,
  want: T,
  skip: (k: keyof T) => boolean = () => false,
): [Partial<T>, Partial<T>] {
  const b: Partial<T> = {};
  const a: Partial<T> = {};
  for (const k of Object.keys(want) as (keyof T)[]) {
    if (skip(k)) continue;
    if (!same(have[k], want[k])) {
      b[k] = have[k];
      a[k] = want[k];
    }
  }
  return [b, a];
}

export function same(x: unknown, y: unknown): boolean {
  return JSON.stringify(x) === JSON.stringify(y);
}

// ---------------------------------------------------------------- addresses

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/**
 * The address a member gets from a pool without an allocator: `start + memberIndex` — stable only
 * while the member order in the file is. The job runner plans with {@link PlanContext.poolAddress}
 * (engine/pools, persistent per host) instead. @throws PlanError when the pool is exhausted or missing.
 */
export function poolAddress(
  pools: AddressPool[],
  poolName: string,
  memberIndex: number,
): { ip: string; netmask: string } {
  const pool = pools.find((p) => p.name === poolName);
  if (!pool) throw new PlanError(`address pool ${poolName} is not declared`);
  const n = ipToInt(pool.start) + memberIndex;
  if (n > ipToInt(pool.end))
    throw new PlanError(
      `address pool ${poolName} (${pool.start}–${pool.end}) has no address for member #${memberIndex + 1}`,
    );
  return { ip: intToIp(n), netmask: pool.netmask };
}

/** The HostVirtualNicSpec a VMkernel NIC must have on this host. @throws PlanError for a missing static address. */
export function vnicSpecFor(
  desired: DesiredCluster,
  host: MemberHost,
  nic: VmkNicSpec,
  memberIndex: number,
  alloc?: PoolAddressFn,
): VnicSpecArgs {
  const a = nic.addressing;
  if (a.mode === 'dhcp') return { dhcp: true, mtu: nic.mtu };
  if (a.mode === 'static') {
    const ip = host.addresses[nic.device];
    if (!ip) throw new PlanError(`host ${host.fqdn} has no address for ${nic.device} (port group ${nic.portgroup})`);
    return { dhcp: false, ipAddress: ip, subnetMask: a.netmask, mtu: nic.mtu };
  }
  if (alloc) {
    const pool = desired.pools.find((p) => p.name === a.pool);
    if (!pool) throw new PlanError(`address pool ${a.pool} is not declared`);
    const ip = alloc(host, nic, pool);
    if (!ip)
      throw new PlanError(
        `address pool ${a.pool} (${pool.start}–${pool.end}) has no free address for ${host.fqdn} (port group ${nic.portgroup})`,
      );
    return { dhcp: false, ipAddress: ip, subnetMask: pool.netmask, mtu: nic.mtu, ...gatewayOf(pool) };
  }
  const { ip, netmask } = poolAddress(desired.pools, a.pool, memberIndex);
  const pool = desired.pools.find((p) => p.name === a.pool);
  return { dhcp: false, ipAddress: ip, subnetMask: netmask, mtu: nic.mtu, ...(pool ? gatewayOf(pool) : {}) };
}

/** `{ gateway }` when the pool names one (HostVirtualNicIpRouteSpec), else nothing (not managed). */
function gatewayOf(pool: AddressPool): { gateway?: string } {
  return pool.gateway ? { gateway: pool.gateway } : {};
}

// ---------------------------------------------------------------- host networking

function vswitchArgs(v: VSwitchSpec): VSwitchSpecArgs {
  return { numPorts: v.numPorts, uplinks: v.uplinks, mtu: v.mtu, teaming: v.teaming, security: v.security };
}

/** Only the members `want` sets (undefined = not managed) are compared. */
function policyDiffers<T extends object>(have: T | undefined, want: T | undefined): boolean {
  if (!want) return false;
  const h = (have ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(want)) {
    if (v === undefined) continue;
    if (!same(h[k], v)) return true;
  }
  return false;
}

/**
 * A member's network steps, in the order vSphere needs them: with prune, the removals of VMkernel
 * NICs and port groups and of the vSwitches nothing declared is on (engine/prune); its standard
 * vSwitches, their port groups, with prune the vSwitches a declared port group was moved off, its
 * VMkernel NICs, then the services (vMotion, vSAN, …) selected on those NICs.
 */
export function planNetwork(
  desired: DesiredCluster,
  host: MemberHost,
  cur: HostState,
  memberIndex: number,
  target: string,
  alloc?: PoolAddressFn,
): Step[] {
  const nics = planVmknics(desired, host, cur, memberIndex, target, alloc);
  const prune = prunePlan(desired, cur);
  return [
    ...removeNicAndPortgroupSteps(prune, target, host.uuid),
    ...removeVswitchSteps(prune.vswitchesEarly, cur, target, host.uuid),
    ...planVswitches(desired, cur, target, host.uuid),
    ...planPortgroups(desired, cur, target, host.uuid),
    ...removeVswitchSteps(prune.vswitchesLate, cur, target, host.uuid),
    ...nics.steps,
    ...nics.services,
  ];
}

/** AddVirtualSwitch / UpdateVirtualSwitch for each vSwitch of the cluster file. */
function planVswitches(desired: DesiredCluster, cur: HostState, target: string, uuid: string): Step[] {
  const steps: Step[] = [];
  for (const v of desired.vswitches) {
    const have = cur.vswitches.find((s) => s.name === v.name);
    const spec = vswitchArgs(v);
    if (!have) {
      steps.push(
        mk('AddVirtualSwitch', `${target} vswitch:${v.name}`, { vswitchName: v.name, spec }, null, spec, uuid),
      );
      continue;
    }
    const haveSpec: VSwitchSpecArgs = {
      numPorts: have.numPorts,
      uplinks: have.uplinks,
      mtu: have.mtu,
      teaming: have.teaming,
      security: have.security,
    };
    const [b, a] = diffObject(haveSpec, spec, (k) => k === 'teaming' || k === 'security');
    if (policyDiffers(have.teaming, v.teaming)) {
      b.teaming = have.teaming;
      a.teaming = v.teaming;
    }
    if (policyDiffers(have.security, v.security)) {
      b.security = have.security;
      a.security = v.security;
    }
    if (Object.keys(a).length)
      steps.push(mk('UpdateVirtualSwitch', `${target} vswitch:${v.name}`, { vswitchName: v.name, spec }, b, a, uuid));
  }
  return steps;
}

/** AddPortGroup / UpdatePortGroup for each port group of the cluster file. */
function planPortgroups(desired: DesiredCluster, cur: HostState, target: string, uuid: string): Step[] {
  const steps: Step[] = [];
  for (const p of desired.portgroups) {
    const have = cur.portgroups.find((g) => g.name === p.name);
    const portgrp: PortgroupSpecArgs = {
      name: p.name,
      vlanId: p.vlanId,
      vswitchName: p.vswitch,
      teaming: p.teaming,
      security: p.security,
    };
    if (!have) {
      steps.push(mk('AddPortGroup', `${target} portgroup:${p.name}`, { portgrp }, null, portgrp, uuid));
      continue;
    }
    const b: Record<string, unknown> = {};
    const a: Record<string, unknown> = {};
    if (have.vlanId !== p.vlanId) [b['vlanId'], a['vlanId']] = [have.vlanId, p.vlanId];
    if (have.vswitch !== p.vswitch) [b['vswitchName'], a['vswitchName']] = [have.vswitch, p.vswitch];
    if (policyDiffers(have.teaming, p.teaming)) [b['teaming'], a['teaming']] = [have.teaming ?? null, p.teaming];
    if (policyDiffers(have.security, p.security)) [b['security'], a['security']] = [have.security ?? null, p.security];
    if (Object.keys(a).length)
      steps.push(mk('UpdatePortGroup', `${target} portgroup:${p.name}`, { pgName: p.name, portgrp }, b, a, uuid));
  }
  return steps;
}

/**
 * AddVirtualNic / UpdateVirtualNic for each VMkernel NIC of the cluster file (`steps`), and the
 * Select/DeselectVnicForNicType of its services (`services`, planned after every NIC exists).
 */
function planVmknics(
  desired: DesiredCluster,
  host: MemberHost,
  cur: HostState,
  memberIndex: number,
  target: string,
  alloc?: PoolAddressFn,
): { steps: Step[]; services: Step[] } {
  const steps: Step[] = [];
  const uuid = host.uuid;
  const services: Step[] = [];
  for (const nic of desired.vmknics) {
    const want = vnicSpecFor(desired, host, nic, memberIndex, alloc);
    const have = cur.vmknics.find((n) => n.portgroup === nic.portgroup);
    const t = `${target} vmknic:${nic.portgroup}`;
    if (!have) {
      steps.push(mk('AddVirtualNic', t, { portgroup: nic.portgroup, nic: want }, null, want, uuid));
    } else {
      const haveSpec: VnicSpecArgs = have.dhcp
        ? { dhcp: true, mtu: have.mtu }
        : { dhcp: false, ipAddress: have.ipAddress, subnetMask: have.subnetMask, mtu: have.mtu };
      if (want.gateway !== undefined) haveSpec.gateway = have.gateway;
      const [b, a] = diffObject(haveSpec, want);
      // an unset gateway is shown as null rather than dropped from the plan's JSON
      if ('gateway' in a) (b as Record<string, unknown>)['gateway'] = have.gateway ?? null;
      if (Object.keys(a).length)
        steps.push(
          mk(
            'UpdateVirtualNic',
            `${t} (${have.device})`,
            { device: have.device, portgroup: nic.portgroup, nic: want },
            b,
            a,
            uuid,
          ),
        );
    }
    const device = have?.device;
    for (const s of VMK_SERVICES) {
      const selected = device !== undefined && (cur.services[s] ?? []).includes(device);
      const wanted = nic.services.includes(s);
      if (wanted && !selected) {
        services.push(
          mk(
            'SelectVnicForNicType',
            `${t} service:${s}`,
            { nicType: s, portgroup: nic.portgroup, device },
            false,
            true,
            uuid,
          ),
        );
      } else if (!wanted && selected && device) {
        services.push(
          mk(
            'DeselectVnicForNicType',
            `${t} service:${s}`,
            { nicType: s, portgroup: nic.portgroup, device },
            true,
            false,
            uuid,
          ),
        );
      }
    }
  }
  return { steps, services };
}

export function planTimeDnsOptions(
  desired: DesiredCluster,
  host: MemberHost,
  cur: HostState,
  target: string,
  uuid: string,
): Step[] {
  const steps: Step[] = [];
  if (!same(cur.ntpServers, desired.ntpServers)) {
    steps.push(
      mk(
        'UpdateDateTimeConfig',
        `${target} ntp`,
        { ntpServers: desired.ntpServers },
        cur.ntpServers,
        desired.ntpServers,
        uuid,
      ),
    );
  }
  if (desired.ntpServers.length && cur.ntpd) {
    if (cur.ntpd.policy !== 'on')
      steps.push(
        mk('UpdateServicePolicy', `${target} service:ntpd`, { id: 'ntpd', policy: 'on' }, cur.ntpd.policy, 'on', uuid),
      );
    if (!cur.ntpd.running) steps.push(mk('StartService', `${target} service:ntpd`, { id: 'ntpd' }, false, true, uuid));
  }
  // HostDnsConfig.hostName/domainName: the member's FQDN as the file declares it (the name vCenter
  // adds the host by); a stateless host may come up as `localhost` when DHCP names nothing. A
  // member named by a single label (not an FQDN: inventory names in tests) keeps the host's own.
  const dot = host.fqdn.indexOf('.');
  const hostName = dot > 0 ? host.fqdn.slice(0, dot) : cur.dns.hostName;
  const domainName = dot > 0 ? host.fqdn.slice(dot + 1) : cur.dns.domainName;
  const dnsHave = {
    hostName: cur.dns.hostName,
    domainName: cur.dns.domainName,
    servers: cur.dns.servers,
    searchDomains: cur.dns.searchDomains,
    dhcp: cur.dns.dhcp,
  };
  const dnsWant = {
    hostName,
    domainName,
    servers: desired.dns.servers,
    searchDomains: desired.dns.searchDomains,
    dhcp: false,
  };
  if (!same(dnsHave, dnsWant)) {
    const [b, a] = diffObject(dnsHave, dnsWant);
    steps.push(
      mk(
        'UpdateDnsConfig',
        `${target} dns`,
        {
          dhcp: false,
          hostName,
          domainName,
          servers: desired.dns.servers,
          searchDomains: desired.dns.searchDomains,
        },
        b,
        a,
        uuid,
      ),
    );
  }
  const changed = desired.advanced.filter((o) => String(cur.advanced[o.key]) !== String(o.value));
  if (changed.length) {
    const before = Object.fromEntries(changed.map((o) => [o.key, cur.advanced[o.key] ?? null]));
    const after = Object.fromEntries(changed.map((o) => [o.key, o.value]));
    steps.push(
      mk(
        'UpdateOptions',
        `${target} advanced`,
        { changedValue: changed.map((o) => ({ key: o.key, value: o.value, type: o.type })) },
        before,
        after,
        uuid,
      ),
    );
  }
  return steps;
}
