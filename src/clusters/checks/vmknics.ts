/**
 * Checks of the VMkernel NICs: unique devices, one per portgroup on a declared portgroup, MTU within
 * the vSwitch's, services listed once, static netmask contiguous, and one declared pool per NIC.
 */
import { netmaskToPrefix } from '../ipv4.js';
import { NET, known, type SectionCheck } from './section.js';

/** VMkernel NICs: devices, portgroups, MTU, services, addressing. */
export const checkVmknics: SectionCheck = ({ c, err, declared }) => {
  const vmkByDevice = declared.vmknics;
  const portgroupByName = declared.portgroups;
  const vswitchByName = declared.vswitches;
  const vmkOnPortgroup = new Map<string, string>();
  const poolUse = declared.poolUsers;
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
};
