/**
 * Checks of the virtual switches and portgroups: unique names, uplinks owned by one vSwitch, portgroups
 * on a declared vSwitch, and teaming NICs among the vSwitch's uplinks.
 */
import type { TeamingPolicy } from '../types.js';
import { NET, known, type Report, type SectionCheck } from './section.js';

/** vSwitches: unique names, uplinks, teaming. */
export const checkVswitches: SectionCheck = ({ c, err, declared }) => {
  const vswitchByName = declared.vswitches;
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
};

/** Portgroups: unique names, on a declared vSwitch, teaming within its uplinks. */
export const checkPortgroups: SectionCheck = ({ c, err, declared }) => {
  const vswitchByName = declared.vswitches;
  const portgroupByName = declared.portgroups;
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
};

/** A teaming policy's failover order: NICs among the vSwitch's uplinks, each once, an active one if explicit. */
function checkTeaming(t: TeamingPolicy, uplinks: readonly string[], vswitch: string, path: string, err: Report): void {
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
