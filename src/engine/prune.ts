/**
 * Opt-in removal (`<network prune="true">`, {@link DesiredCluster.prune}): which of a member's
 * standard vSwitches, port groups and VMkernel NICs the file does not declare are removed, and
 * the steps that remove them. Pure, like engine/plan (which calls it from planNetwork).
 *
 * Never removed, whatever the file says (the host must stay reachable by vCenter; removing the
 * management VMkernel NIC is a change vCenter's networking rollback reverts only when the host
 * disconnects — vSphere 6.5 Networking, "vSphere Networking Rollback" — which is no safety net):
 * - vmk0 and any VMkernel NIC selected for the `management` service (HostVirtualNicManager);
 * - the port groups those NICs are on (the management port group, "Management Network" out of the box);
 * - the vSwitches carrying those port groups;
 * - VMkernel NICs on a distributed switch (no standard port group: the file manages standard switches only).
 *
 * Removal order (HostNetworkSystem): RemoveVirtualNic first (a port group with a VMkernel NIC
 * cannot be removed: ResourceInUse), then RemovePortGroup, then RemoveVirtualSwitch. A vSwitch
 * that still holds a port group the file declares (on another vSwitch: UpdatePortGroup moves it)
 * is removed only after the port group steps ({@link PrunePlan.vswitchesLate}); the others
 * before the file's vSwitches are added ({@link PrunePlan.vswitchesEarly}), so their uplinks are
 * free for a new vSwitch that names them.
 */
import type { DesiredCluster } from '../clusters/types.js';
import { mk } from './plan-host.js';
import type { Step } from './plan.js';
import type { HostState, PortgroupState, VmkNicState } from './state.js';

/** What prune removes from one host, each list in removal order, and what it keeps on purpose. */
export interface PrunePlan {
  /** VMkernel NICs on a standard port group the file gives no VMkernel NIC (never vmk0 or a management NIC). */
  vmknics: VmkNicState[];
  /** Port groups the file does not declare (never a management port group). */
  portgroups: PortgroupState[];
  /** vSwitches the file does not declare that hold none of the file's port groups: removed first. */
  vswitchesEarly: string[];
  /** vSwitches the file does not declare that still hold a port group the file moves elsewhere: removed after the moves. */
  vswitchesLate: string[];
  /** Objects the file does not declare that are kept, and why (`vmknic:vmk0`, `portgroup:Management Network`, …). */
  kept: { object: string; reason: string }[];
}

/** An empty {@link PrunePlan} (prune off). */
export const NO_PRUNE: PrunePlan = { vmknics: [], portgroups: [], vswitchesEarly: [], vswitchesLate: [], kept: [] };

/**
 * The removals for one host ({@link PrunePlan}); nothing when `desired.prune` is not true.
 * @param cur the host's current state (HostNetworkInfo as engine/state reads it)
 */
export function prunePlan(desired: DesiredCluster, cur: HostState): PrunePlan {
  if (desired.prune !== true) return NO_PRUNE;
  const kept: PrunePlan['kept'] = [];
  const wantPg = new Set(desired.portgroups.map((p) => p.name));
  const wantVs = new Set(desired.vswitches.map((v) => v.name));
  const wantNicPg = new Set(desired.vmknics.map((n) => n.portgroup));
  const management = new Set(cur.services.management ?? []);
  const isMgmtNic = (n: VmkNicState) => n.device === 'vmk0' || management.has(n.device);
  const standardPg = new Map(cur.portgroups.map((p) => [p.name, p]));

  const mgmtPg = new Set<string>();
  for (const n of cur.vmknics) if (isMgmtNic(n) && n.portgroup) mgmtPg.add(n.portgroup);
  const mgmtVs = new Set<string>();
  for (const name of mgmtPg) {
    const vs = standardPg.get(name)?.vswitch;
    if (vs) mgmtVs.add(vs);
  }

  const vmknics: VmkNicState[] = [];
  for (const n of cur.vmknics) {
    if (!n.portgroup || !standardPg.has(n.portgroup) || wantNicPg.has(n.portgroup)) continue;
    if (isMgmtNic(n)) {
      kept.push({
        object: `vmknic:${n.device}`,
        reason: n.device === 'vmk0' ? 'vmk0 is never removed' : 'selected for management',
      });
      continue;
    }
    vmknics.push(n);
  }
  const portgroups: PortgroupState[] = [];
  for (const p of cur.portgroups) {
    if (wantPg.has(p.name)) continue;
    if (mgmtPg.has(p.name)) {
      kept.push({
        object: `portgroup:${p.name}`,
        reason: 'the management port group (a management VMkernel NIC is on it)',
      });
      continue;
    }
    portgroups.push(p);
  }
  const vswitchesEarly: string[] = [];
  const vswitchesLate: string[] = [];
  for (const v of cur.vswitches) {
    if (wantVs.has(v.name)) continue;
    if (mgmtVs.has(v.name)) {
      kept.push({ object: `vswitch:${v.name}`, reason: 'carries the management port group' });
      continue;
    }
    const movesOff = cur.portgroups.some((p) => p.vswitch === v.name && wantPg.has(p.name));
    (movesOff ? vswitchesLate : vswitchesEarly).push(v.name);
  }
  return { vmknics, portgroups, vswitchesEarly, vswitchesLate, kept };
}

/** RemoveVirtualNic steps, then RemovePortGroup steps, of a {@link PrunePlan}. */
export function removeNicAndPortgroupSteps(p: PrunePlan, target: string, uuid: string): Step[] {
  return [
    ...p.vmknics.map((n) =>
      mk(
        'RemoveVirtualNic',
        `${target} vmknic:${n.portgroup} (${n.device})`,
        { device: n.device, portgroup: n.portgroup },
        n,
        null,
        uuid,
      ),
    ),
    ...p.portgroups.map((g) =>
      mk('RemovePortGroup', `${target} portgroup:${g.name}`, { pgName: g.name, vswitchName: g.vswitch }, g, null, uuid),
    ),
  ];
}

/** RemoveVirtualSwitch steps for the named vSwitches (before: the vSwitch as read). */
export function removeVswitchSteps(names: string[], cur: HostState, target: string, uuid: string): Step[] {
  return names.map((name) =>
    mk(
      'RemoveVirtualSwitch',
      `${target} vswitch:${name}`,
      { vswitchName: name },
      cur.vswitches.find((v) => v.name === name) ?? { name },
      null,
      uuid,
    ),
  );
}
