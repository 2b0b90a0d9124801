/**
 * Opt-in removal (engine/prune through the planner): what `<network prune="true">` removes from a
 * member, in which order (VMkernel NICs → port groups → vSwitches, a vSwitch a declared port group
 * moves off only after the move), what it never removes (vmk0, a management NIC, its port group and
 * vSwitch, a NIC on a distributed switch), that without prune nothing is removed, and the pool
 * gateway planned as the NIC's default gateway.
 */
import { describe, it, expect } from 'vitest';
import { planHostSteps, type Step } from '../../src/engine/plan.js';
import { prunePlan } from '../../src/engine/prune.js';
import { defaultHostState, type HostState } from '../../src/engine/state.js';
import { desiredCluster, vmotionNetworking } from '../helpers/desired-cluster.js';
import type { DesiredCluster, MemberHost } from '../../src/clusters/types.js';

const HOST: MemberHost = {
  fqdn: 'esx1.lab.local',
  uuid: '4c4c4544-0050-3510-8052-b3c04f4e3201',
  addresses: { vmk1: '10.20.0.11' },
};

/** The file: vSwitch1 / vMotion / vmk1 (static), nothing else. */
function file(prune: boolean | undefined, over: Partial<DesiredCluster> = {}): DesiredCluster {
  return desiredCluster({
    name: 'prod',
    hosts: [HOST],
    ...vmotionNetworking(),
    ...(prune === undefined ? {} : { prune }),
    ...over,
  });
}

/**
 * A host that already has the file's networking plus leftovers: vSwitch2 (old-storage port group,
 * vmk2 on it), "VM Network" on vSwitch0, vmk3 selected for management on vSwitch3/"Mgmt2", and
 * vmk9 on a distributed switch.
 */
function hostWithLeftovers(): HostState {
  const h = defaultHostState(HOST.fqdn, HOST.uuid);
  h.refs = { host: 'host-1', networkSystem: 'ns-1' };
  h.ntpd = undefined;
  h.vswitches.push(
    (({ pos: _pos, ...v }) => v)(vmotionNetworking().vswitches[0]!), // vSwitch1 exactly as the file has it
    { ...h.vswitches[0]!, name: 'vSwitch2', uplinks: ['vmnic4'] },
    { ...h.vswitches[0]!, name: 'vSwitch3', uplinks: ['vmnic5'] },
  );
  h.portgroups.push(
    { name: 'vMotion', vswitch: 'vSwitch1', vlanId: 20 },
    { name: 'old-storage', vswitch: 'vSwitch2', vlanId: 40 },
    { name: 'Mgmt2', vswitch: 'vSwitch3', vlanId: 0 },
  );
  h.vmknics.push(
    {
      device: 'vmk1',
      portgroup: 'vMotion',
      dhcp: false,
      ipAddress: '10.20.0.11',
      subnetMask: '255.255.255.0',
      mtu: 9000,
    },
    { device: 'vmk2', portgroup: 'old-storage', dhcp: true, mtu: 1500 },
    { device: 'vmk3', portgroup: 'Mgmt2', dhcp: true, mtu: 1500 },
    { device: 'vmk9', portgroup: '', dhcp: true, mtu: 1500 },
  );
  h.services = { management: ['vmk0', 'vmk3'], vmotion: ['vmk1'] };
  return h;
}

const removals = (steps: Step[]) =>
  steps.filter((s) => s.name.startsWith('Remove')).map((s) => `${s.name} ${s.target.split(' ').slice(1).join(' ')}`);

describe('prune: what is removed, in which order', () => {
  it('removes undeclared VMkernel NICs, then port groups, then vSwitches; keeps vmk0, management NICs, their port groups and vSwitches', () => {
    const steps = planHostSteps(file(true), HOST, hostWithLeftovers(), 'domain-c1');
    expect(removals(steps)).toEqual([
      'RemoveVirtualNic vmknic:old-storage (vmk2)',
      'RemovePortGroup portgroup:VM Network',
      'RemovePortGroup portgroup:old-storage',
      'RemoveVirtualSwitch vswitch:vSwitch2',
    ]);
    const p = prunePlan(file(true), hostWithLeftovers());
    expect(p.kept.map((k) => `${k.object}: ${k.reason}`)).toEqual([
      'vmknic:vmk0: vmk0 is never removed',
      'vmknic:vmk3: selected for management',
      'portgroup:Management Network: the management port group (a management VMkernel NIC is on it)',
      'portgroup:Mgmt2: the management port group (a management VMkernel NIC is on it)',
      'vswitch:vSwitch0: carries the management port group',
      'vswitch:vSwitch3: carries the management port group',
    ]);
    // vmk9 (distributed switch, no standard port group) is neither removed nor reported
    expect(JSON.stringify(p)).not.toContain('vmk9');
  });

  it('each removal carries what it removes as `before` and the arguments apply needs', () => {
    const steps = planHostSteps(file(true), HOST, hostWithLeftovers(), 'domain-c1');
    const nic = steps.find((s) => s.name === 'RemoveVirtualNic')!;
    expect(nic.args).toEqual({ device: 'vmk2', portgroup: 'old-storage' });
    expect(nic.before).toMatchObject({ device: 'vmk2', portgroup: 'old-storage' });
    expect(nic.after).toBeNull();
    expect(nic.hostUuid).toBe(HOST.uuid);
    expect(steps.find((s) => s.name === 'RemovePortGroup')!.args).toEqual({
      pgName: 'VM Network',
      vswitchName: 'vSwitch0',
    });
    expect(steps.find((s) => s.name === 'RemoveVirtualSwitch')!.args).toEqual({ vswitchName: 'vSwitch2' });
  });

  it('without prune (absent or false) nothing is removed: the additive behaviour', () => {
    for (const prune of [undefined, false]) {
      const steps = planHostSteps(file(prune), HOST, hostWithLeftovers(), 'domain-c1');
      expect(removals(steps)).toEqual([]);
      expect(prunePlan(file(prune), hostWithLeftovers()).kept).toEqual([]);
    }
  });

  it('a host already equal to the file plans nothing, prune or not', () => {
    const h = hostWithLeftovers();
    h.vswitches = h.vswitches.filter((v) => ['vSwitch0', 'vSwitch1', 'vSwitch3'].includes(v.name));
    h.portgroups = h.portgroups.filter((p) => ['Management Network', 'vMotion', 'Mgmt2'].includes(p.name));
    h.vmknics = h.vmknics.filter((n) => n.device !== 'vmk2');
    const steps = planHostSteps(file(true), HOST, h, 'domain-c1');
    expect(removals(steps)).toEqual([]);
  });

  it('a vSwitch a declared port group moves off is removed after the move; one holding nothing declared before the adds (frees its uplinks)', () => {
    // the file now puts vMotion on vSwitch9 (vmnic4, today vSwitch2's uplink)
    const d = file(true);
    d.vswitches = [{ ...d.vswitches[0]!, name: 'vSwitch9', uplinks: ['vmnic4'], teaming: {} }];
    d.portgroups = [{ name: 'vMotion', vswitch: 'vSwitch9', vlanId: 20 }];
    const steps = planHostSteps(d, HOST, hostWithLeftovers(), 'domain-c1');
    const order = steps
      .filter((s) => /VirtualSwitch|PortGroup|VirtualNic/.test(s.name))
      .map((s) => `${s.name} ${s.target.split(' ').slice(1).join(' ')}`);
    expect(order).toEqual([
      'RemoveVirtualNic vmknic:old-storage (vmk2)',
      'RemovePortGroup portgroup:VM Network',
      'RemovePortGroup portgroup:old-storage',
      'RemoveVirtualSwitch vswitch:vSwitch2', // frees vmnic4 before vSwitch9 is added with it
      'AddVirtualSwitch vswitch:vSwitch9',
      'UpdatePortGroup portgroup:vMotion',
      'RemoveVirtualSwitch vswitch:vSwitch1', // only after vMotion left it
    ]);
  });

  it('removing a VMkernel NIC on a host running VMs is wrapped in maintenance mode; removing only a port group is not', () => {
    const busy = { ...hostWithLeftovers(), vmCount: 2 };
    const names = planHostSteps(file(true), HOST, busy, 'domain-c1').map((s) => s.name);
    expect(names[0]).toBe('EnterMaintenanceMode_Task');
    expect(names.at(-1)).toBe('ExitMaintenanceMode_Task');
    const onlyPg = { ...busy, vmknics: busy.vmknics.filter((n) => n.device !== 'vmk2') };
    onlyPg.portgroups = onlyPg.portgroups.filter((p) => p.name !== 'old-storage');
    onlyPg.vswitches = onlyPg.vswitches.filter((v) => v.name !== 'vSwitch2');
    const pgNames = planHostSteps(file(true), HOST, onlyPg, 'domain-c1').map((s) => s.name);
    expect(pgNames).toContain('RemovePortGroup');
    expect(pgNames).not.toContain('EnterMaintenanceMode_Task');
  });
});

describe('pool gateway', () => {
  const pooled = (gateway?: string) => {
    const d = file(false);
    d.vmknics = [{ ...d.vmknics[0]!, addressing: { mode: 'pool', pool: 'vmotion' } }];
    d.pools = [
      {
        name: 'vmotion',
        start: '10.20.0.11',
        end: '10.20.0.20',
        netmask: '255.255.255.0',
        ...(gateway ? { gateway } : {}),
      },
    ];
    return d;
  };

  it('is planned as the NIC default gateway; a NIC without it gets UpdateVirtualNic showing none → the gateway', () => {
    const steps = planHostSteps(pooled('10.20.0.1'), HOST, hostWithLeftovers(), 'domain-c1');
    const upd = steps.find((s) => s.name === 'UpdateVirtualNic')!;
    expect(upd.args).toMatchObject({ device: 'vmk1', nic: { ipAddress: '10.20.0.11', gateway: '10.20.0.1' } });
    expect(upd.before).toEqual({ gateway: null });
    expect(upd.after).toEqual({ gateway: '10.20.0.1' });
  });

  it('a NIC that has it plans nothing; a pool without a gateway leaves the NIC gateway alone', () => {
    const h = hostWithLeftovers();
    h.vmknics.find((n) => n.device === 'vmk1')!.gateway = '10.20.0.1';
    expect(
      planHostSteps(pooled('10.20.0.1'), HOST, h, 'domain-c1').filter((s) => s.name === 'UpdateVirtualNic'),
    ).toEqual([]);
    expect(planHostSteps(pooled(), HOST, h, 'domain-c1').filter((s) => s.name === 'UpdateVirtualNic')).toEqual([]);
  });

  it('a new NIC from the pool is added with the gateway', () => {
    const h = hostWithLeftovers();
    h.vmknics = h.vmknics.filter((n) => n.device !== 'vmk1');
    const add = planHostSteps(pooled('10.20.0.1'), HOST, h, 'domain-c1').find((s) => s.name === 'AddVirtualNic')!;
    expect(add.args).toMatchObject({ portgroup: 'vMotion', nic: { gateway: '10.20.0.1', ipAddress: '10.20.0.11' } });
  });
});
