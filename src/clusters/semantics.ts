/**
 * Semantic checks of cluster files: what the XSD cannot express. Within one file: names
 * unique, references resolve (portgroup → vSwitch, VMkernel NIC → portgroup and pool, teaming
 * NICs → the vSwitch's uplinks), uplinks not shared between vSwitches, addresses valid, inside
 * their subnet and unique, pools big enough, member UUIDs/FQDNs/MACs unique, every static
 * VMkernel NIC addressed on every host, advanced values of their declared type, referenced
 * vCenter, credentials and images exist. Across files: a UUID (either byte order), FQDN or
 * cluster name in at most one file. Every problem is reported (not only the first), each with
 * file, line, column and element path.
 */
import { swapUuidByteOrder } from '../hosts/identity.js';
import type { ClusterDiagnostic, SourceIndex } from './diagnostics.js';
import { ipv4ToNumber, isNetworkOrBroadcast, netmaskToPrefix, networkOf, numberToIpv4 } from './ipv4.js';
import type { DesiredCluster, TeamingPolicy } from './types.js';

/** What the checks need from outside the file. Leave a field undefined to skip that check. */
export interface SemanticContext {
  /** Names of the `vcenters:` entries in statelesx.yaml. */
  vcenters?: readonly string[];
  /** Names of the `credentials:` entries in statelesx.yaml. */
  credentials?: readonly string[];
  /** True when an image of that name exists (images-dir/<name>). */
  imageExists?: (name: string) => boolean;
}

/** A loaded file as the cross-file check needs it. */
export interface CheckedFile {
  cluster: DesiredCluster;
  index: SourceIndex;
}

const NET = '/cluster/network';

/**
 * All semantic problems of one cluster.
 * @param index positions of the file the cluster came from
 */
export function checkCluster(c: DesiredCluster, index: SourceIndex, ctx: SemanticContext = {}): ClusterDiagnostic[] {
  const out: ClusterDiagnostic[] = [];
  const err = (path: string, message: string) => out.push(index.error(path, message));

  // --- References into statelesx.yaml and the image store --------------------------------
  if (ctx.vcenters && !ctx.vcenters.includes(c.vcenter)) {
    err(
      '/cluster/vcenter',
      `vCenter "${c.vcenter}" is not declared under vcenters: in the server configuration` + known(ctx.vcenters),
    );
  }
  if (ctx.credentials && !ctx.credentials.includes(c.credentials)) {
    err(
      '/cluster/credentials',
      `credentials "${c.credentials}" are not declared under credentials: in the server configuration` +
        known(ctx.credentials),
    );
  }
  if (ctx.imageExists) {
    if (c.image && !ctx.imageExists(c.image)) err('/cluster/defaultImage', `image "${c.image}" does not exist`);
    c.hosts.forEach((h, i) => {
      if (h.image && !ctx.imageExists!(h.image))
        err(`/cluster/members/host[${i + 1}]/@image`, `image "${h.image}" pinned for ${h.fqdn} does not exist`);
    });
  }

  // --- Cluster services ----------------------------------------------------------------------
  if (c.dpm.enabled && !c.drs.enabled) err('/cluster/dpm/@enabled', 'DPM needs DRS: enable DRS or disable DPM');

  // --- vSwitches -----------------------------------------------------------------------------
  const vswitchByName = new Map<string, number>();
  const uplinkOwner = new Map<string, string>();
  c.vswitches.forEach((vs, i) => {
    const p = `${NET}/vswitch[${i + 1}]`;
    if (vswitchByName.has(vs.name))
      err(
        `${p}/@name`,
        `vSwitch "${vs.name}" is declared twice (first at vswitch[${vswitchByName.get(vs.name)! + 1}])`,
      );
    else vswitchByName.set(vs.name, i);
    const seen = new Set<string>();
    vs.uplinks.forEach((u, j) => {
      const up = `${p}/uplink[${j + 1}]`;
      if (seen.has(u)) err(up, `uplink ${u} is listed twice on ${vs.name}`);
      else if (uplinkOwner.has(u) && uplinkOwner.get(u) !== vs.name)
        err(
          up,
          `uplink ${u} is already an uplink of ${uplinkOwner.get(u)}; a physical NIC can bridge only one vSwitch`,
        );
      seen.add(u);
      if (!uplinkOwner.has(u)) uplinkOwner.set(u, vs.name);
    });
    checkTeaming(vs.teaming, vs.uplinks, vs.name, `${p}/teaming`, err);
  });

  // --- Portgroups ----------------------------------------------------------------------------
  const portgroupByName = new Map<string, number>();
  c.portgroups.forEach((pg, i) => {
    const p = `${NET}/portgroup[${i + 1}]`;
    if (portgroupByName.has(pg.name)) {
      err(
        `${p}/@name`,
        `portgroup "${pg.name}" is declared twice (first at portgroup[${portgroupByName.get(pg.name)! + 1}]); portgroup names are unique per host`,
      );
    } else portgroupByName.set(pg.name, i);
    const vsIdx = vswitchByName.get(pg.vswitch);
    if (vsIdx === undefined) {
      err(
        `${p}/@vswitch`,
        `portgroup "${pg.name}" is on vSwitch "${pg.vswitch}", which is not declared` +
          known([...vswitchByName.keys()]),
      );
    } else if (pg.teaming) {
      checkTeaming(pg.teaming, c.vswitches[vsIdx]!.uplinks, pg.vswitch, `${p}/teaming`, err);
    }
  });

  // --- Address pools -------------------------------------------------------------------------
  interface PoolRange {
    name: string;
    lo: number;
    hi: number;
    prefix: number;
    path: string;
  }
  const pools = new Map<string, PoolRange>();
  c.pools.forEach((pool, i) => {
    const p = `${NET}/addressPool[${i + 1}]`;
    if (pools.has(pool.name)) {
      err(`${p}/@name`, `address pool "${pool.name}" is declared twice`);
      return;
    }
    const prefix = netmaskToPrefix(pool.netmask);
    const lo = ipv4ToNumber(pool.start);
    const hi = ipv4ToNumber(pool.end);
    if (prefix === null) {
      err(`${p}/@netmask`, `netmask ${pool.netmask} is not contiguous`);
      return;
    }
    if (lo === null || hi === null) return;
    if (lo > hi) {
      err(`${p}/@end`, `pool end ${pool.end} is before its start ${pool.start}`);
      return;
    }
    if (networkOf(lo, prefix) !== networkOf(hi, prefix)) {
      err(
        `${p}/@end`,
        `pool ${pool.start}–${pool.end} crosses subnet boundaries of /${prefix} (${subnet(lo, prefix)})`,
      );
      return;
    }
    if (isNetworkOrBroadcast(lo, prefix) || isNetworkOrBroadcast(hi, prefix)) {
      err(
        `${p}/@start`,
        `pool ${pool.start}–${pool.end} includes the network or broadcast address of ${subnet(lo, prefix)}`,
      );
    }
    if (pool.gateway !== undefined) {
      const gw = ipv4ToNumber(pool.gateway);
      if (gw !== null && networkOf(gw, prefix) !== networkOf(lo, prefix))
        err(`${p}/@gateway`, `gateway ${pool.gateway} is outside the pool's subnet ${subnet(lo, prefix)}`);
      else if (gw !== null && gw >= lo && gw <= hi)
        err(`${p}/@gateway`, `gateway ${pool.gateway} is inside the pool range ${pool.start}–${pool.end}`);
    }
    for (const other of pools.values()) {
      if (lo <= other.hi && other.lo <= hi) err(`${p}/@start`, `pool "${pool.name}" overlaps pool "${other.name}"`);
    }
    pools.set(pool.name, { name: pool.name, lo, hi, prefix, path: p });
  });

  // --- VMkernel NICs -------------------------------------------------------------------------
  const vmkByDevice = new Map<string, number>();
  const vmkOnPortgroup = new Map<string, string>();
  const poolUse = new Map<string, string[]>();
  c.vmknics.forEach((v, i) => {
    const p = `${NET}/vmknic[${i + 1}]`;
    if (vmkByDevice.has(v.device)) err(`${p}/@device`, `VMkernel NIC ${v.device} is declared twice`);
    else vmkByDevice.set(v.device, i);
    const pgIdx = portgroupByName.get(v.portgroup);
    if (pgIdx === undefined) {
      err(
        `${p}/@portgroup`,
        `${v.device} is on portgroup "${v.portgroup}", which is not declared` + known([...portgroupByName.keys()]),
      );
    } else {
      if (vmkOnPortgroup.has(v.portgroup))
        err(
          `${p}/@portgroup`,
          `portgroup "${v.portgroup}" already carries ${vmkOnPortgroup.get(v.portgroup)}; a standard portgroup holds one VMkernel NIC`,
        );
      else vmkOnPortgroup.set(v.portgroup, v.device);
      const vsIdx = vswitchByName.get(c.portgroups[pgIdx]!.vswitch);
      const vs = vsIdx === undefined ? undefined : c.vswitches[vsIdx];
      if (vs && v.mtu > vs.mtu)
        err(`${p}/@mtu`, `${v.device} MTU ${v.mtu} is larger than the MTU ${vs.mtu} of ${vs.name}`);
    }
    const seen = new Set<string>();
    v.services.forEach((s, j) => {
      if (seen.has(s)) err(`${p}/service[${j + 1}]`, `service ${s} is listed twice on ${v.device}`);
      seen.add(s);
    });
    if (v.addressing.mode === 'static' && netmaskToPrefix(v.addressing.netmask) === null) {
      err(`${p}/static/@netmask`, `netmask ${v.addressing.netmask} is not contiguous`);
    }
    if (v.addressing.mode === 'pool') {
      const poolName = v.addressing.pool;
      if (!c.pools.some((x) => x.name === poolName)) {
        err(
          `${p}/pool/@name`,
          `${v.device} uses address pool "${poolName}", which is not declared` + known(c.pools.map((x) => x.name)),
        );
      } else {
        const users = poolUse.get(poolName) ?? [];
        // The engine allocates start + member index (src/engine/plan.ts poolAddress), so a pool
        // serves one VMkernel NIC; a second one would get the same addresses.
        if (users.length)
          err(
            `${p}/pool/@name`,
            `address pool "${poolName}" already serves ${users[0]}; give ${v.device} its own pool`,
          );
        poolUse.set(poolName, [...users, v.device]);
      }
    }
  });
  for (const [name, devices] of poolUse) {
    const pool = pools.get(name);
    if (!pool) continue;
    const need = devices.length * c.hosts.length;
    const size = pool.hi - pool.lo + 1;
    if (need > size) {
      err(
        `${pool.path}/@end`,
        `pool "${name}" has ${size} addresses but ${c.hosts.length} hosts × ${devices.length} VMkernel NIC(s) (${devices.join(', ')}) need ${need}`,
      );
    }
  }

  // --- Member hosts --------------------------------------------------------------------------
  const uuids = new Map<string, string>();
  const fqdns = new Map<string, string>();
  const macs = new Map<string, string>();
  const addrOwner = new Map<number, string>();
  const staticSubnet = new Map<string, { net: number; prefix: number; first: string }>();
  c.hosts.forEach((h, i) => {
    const p = `/cluster/members/host[${i + 1}]`;
    const dupUuid = uuids.get(h.uuid) ?? uuids.get(swapUuidByteOrder(h.uuid));
    if (dupUuid)
      err(
        `${p}/@uuid`,
        `UUID ${h.uuid} is already used by ${dupUuid}` + (uuids.has(h.uuid) ? '' : ' (in the other byte order)'),
      );
    else uuids.set(h.uuid, h.fqdn);
    if (fqdns.has(h.fqdn)) err(`${p}/@fqdn`, `FQDN ${h.fqdn} is listed twice`);
    else fqdns.set(h.fqdn, h.fqdn);
    if (h.mac) {
      if (macs.has(h.mac)) err(`${p}/@mac`, `MAC ${h.mac} is already used by ${macs.get(h.mac)}`);
      else macs.set(h.mac, h.fqdn);
    }
    for (const v of c.vmknics) {
      if (v.addressing.mode === 'static' && !(v.device in h.addresses)) {
        err(p, `${h.fqdn} has no address for ${v.device} (static): add <address vmk="${v.device}">…</address>`);
      }
    }
    Object.entries(h.addresses).forEach(([vmk, addr], j) => {
      const ap = `${p}/address[${j + 1}]`;
      const vIdx = vmkByDevice.get(vmk);
      const v = vIdx === undefined ? undefined : c.vmknics[vIdx];
      if (!v) {
        err(`${ap}/@vmk`, `${vmk} is not a VMkernel NIC of this cluster`);
        return;
      }
      if (v.addressing.mode !== 'static') {
        err(ap, `${vmk} uses ${v.addressing.mode} addressing; a per-host address is only for static VMkernel NICs`);
        return;
      }
      const n = ipv4ToNumber(addr);
      const prefix = netmaskToPrefix(v.addressing.netmask);
      if (n === null || prefix === null) return;
      const owner = addrOwner.get(n);
      if (owner) err(ap, `address ${addr} is already used by ${owner}`);
      else addrOwner.set(n, `${h.fqdn} ${vmk}`);
      if (isNetworkOrBroadcast(n, prefix))
        err(ap, `address ${addr} is the network or broadcast address of ${subnet(n, prefix)}`);
      const sn = staticSubnet.get(vmk);
      if (!sn) staticSubnet.set(vmk, { net: networkOf(n, prefix), prefix, first: h.fqdn });
      else if (networkOf(n, prefix) !== sn.net) {
        err(ap, `address ${addr} of ${vmk} is outside ${subnet(sn.net, prefix)}, the subnet of ${vmk} on ${sn.first}`);
      }
      for (const pool of pools.values()) {
        if (n >= pool.lo && n <= pool.hi)
          err(
            ap,
            `address ${addr} lies in address pool "${pool.name}" (${numberToIpv4(pool.lo)}–${numberToIpv4(pool.hi)})`,
          );
      }
    });
  });

  // --- Time, name services, advanced settings --------------------------------------------------
  dupes(
    c.ntpServers.map((s) => s.toLowerCase()),
    (j, s) => err(`/cluster/ntp/server[${j + 1}]`, `NTP server ${s} is listed twice`),
  );
  dupes(c.dns.servers, (j, s) => err(`/cluster/dns/server[${j + 1}]`, `DNS server ${s} is listed twice`));
  dupes(
    c.dns.searchDomains.map((s) => s.toLowerCase()),
    (j, s) => err(`/cluster/dns/searchDomain[${j + 1}]`, `search domain ${s} is listed twice`),
  );
  const keys = new Map<string, number>();
  c.advanced.forEach((s, i) => {
    const p = `/cluster/advanced/setting[${i + 1}]`;
    if (keys.has(s.key))
      err(`${p}/@key`, `advanced setting ${s.key} is set twice (first at setting[${keys.get(s.key)! + 1}])`);
    else keys.set(s.key, i);
    if (s.type === 'int' && !(typeof s.value === 'number' && s.value >= -(2 ** 31) && s.value < 2 ** 31)) {
      err(`${p}/@value`, `value "${String(s.value)}" of ${s.key} is not a 32-bit integer (type="int")`);
    } else if (s.type === 'long' && !(typeof s.value === 'number' && Number.isSafeInteger(s.value))) {
      err(`${p}/@value`, `value "${String(s.value)}" of ${s.key} is not an integer (type="long")`);
    } else if (s.type === 'boolean' && typeof s.value !== 'boolean') {
      err(`${p}/@value`, `value "${String(s.value)}" of ${s.key} is not true or false (type="boolean")`);
    }
  });
  return out;
}

/**
 * Problems between files: a host UUID (in either byte order), FQDN or MAC in two clusters, or
 * two files declaring the same cluster name. Each conflict is reported in both files.
 */
export function checkAcrossFiles(files: readonly CheckedFile[]): ClusterDiagnostic[] {
  const out: ClusterDiagnostic[] = [];
  const names = new Map<string, CheckedFile>();
  const uuids = new Map<string, { f: CheckedFile; fqdn: string; path: string }>();
  const fqdns = new Map<string, { f: CheckedFile; path: string }>();
  for (const f of files) {
    const other = names.get(f.cluster.name);
    if (other) {
      out.push(
        f.index.error('/cluster/@name', `cluster "${f.cluster.name}" is also declared in ${other.cluster.file}`),
      );
      out.push(
        other.index.error('/cluster/@name', `cluster "${f.cluster.name}" is also declared in ${f.cluster.file}`),
      );
    } else names.set(f.cluster.name, f);
    f.cluster.hosts.forEach((h, i) => {
      const path = `/cluster/members/host[${i + 1}]`;
      const prev = uuids.get(h.uuid) ?? uuids.get(swapUuidByteOrder(h.uuid));
      if (prev && prev.f !== f) {
        out.push(
          f.index.error(
            `${path}/@uuid`,
            `UUID ${h.uuid} is also a member of cluster "${prev.f.cluster.name}" (${prev.f.cluster.file}, ${prev.fqdn}); a host belongs to one cluster`,
          ),
        );
        out.push(
          prev.f.index.error(
            `${prev.path}/@uuid`,
            `UUID ${h.uuid} is also a member of cluster "${f.cluster.name}" (${f.cluster.file}, ${h.fqdn}); a host belongs to one cluster`,
          ),
        );
      } else if (!prev) uuids.set(h.uuid, { f, fqdn: h.fqdn, path });
      const prevName = fqdns.get(h.fqdn);
      if (prevName && prevName.f !== f) {
        out.push(
          f.index.error(
            `${path}/@fqdn`,
            `FQDN ${h.fqdn} is also a member of cluster "${prevName.f.cluster.name}" (${prevName.f.cluster.file})`,
          ),
        );
        out.push(
          prevName.f.index.error(
            `${prevName.path}/@fqdn`,
            `FQDN ${h.fqdn} is also a member of cluster "${f.cluster.name}" (${f.cluster.file})`,
          ),
        );
      } else if (!prevName) fqdns.set(h.fqdn, { f, path });
    });
  }
  return out;
}

function checkTeaming(
  t: TeamingPolicy,
  uplinks: readonly string[],
  vswitch: string,
  path: string,
  err: (path: string, message: string) => void,
): void {
  const active = t.activeNics ?? [];
  const standby = t.standbyNics ?? [];
  const seen = new Set<string>();
  const check = (list: readonly string[], kind: 'activeNic' | 'standbyNic') =>
    list.forEach((nic, j) => {
      const p = `${path}/${kind}[${j + 1}]`;
      if (!uplinks.includes(nic))
        err(
          p,
          `${kind === 'activeNic' ? 'active' : 'standby'} NIC ${nic} is not an uplink of ${vswitch}` +
            known([...uplinks]),
        );
      if (seen.has(nic)) err(p, `${nic} is listed more than once in the failover order`);
      seen.add(nic);
    });
  check(active, 'activeNic');
  check(standby, 'standbyNic');
  if (t.loadBalancing === 'failover_explicit' && active.length === 0 && standby.length > 0) {
    err(path, 'explicit failover order has standby NICs but no active NIC');
  }
}

function dupes(list: readonly string[], report: (index: number, value: string) => void): void {
  const seen = new Set<string>();
  list.forEach((v, i) => {
    if (seen.has(v)) report(i, v);
    seen.add(v);
  });
}

function subnet(ip: number, prefix: number): string {
  return `${numberToIpv4(networkOf(ip, prefix))}/${prefix}`;
}

function known(names: readonly string[]): string {
  return names.length ? ` (known: ${names.join(', ')})` : '';
}
