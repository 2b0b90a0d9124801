/**
 * Checks of the address pools: contiguous netmask, a range inside one subnet without its network or
 * broadcast address, the gateway in the subnet and outside the range, no overlaps, and room for every
 * VMkernel NIC that draws from the pool on every member.
 */
import { ipv4ToNumber, isNetworkOrBroadcast, netmaskToPrefix, networkOf } from '../ipv4.js';
import { NET, subnet, type SectionCheck } from './section.js';

/** Address pools: netmask, range, gateway, overlaps. */
export const checkPools: SectionCheck = ({ c, err, declared }) => {
  const pools = declared.pools;
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
};

/** Each pool has an address for every member × VMkernel NIC it serves (runs after the VMkernel NICs). */
export const checkPoolCapacity: SectionCheck = ({ c, err, declared }) => {
  const pools = declared.pools;
  const poolUse = declared.poolUsers;
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
};
