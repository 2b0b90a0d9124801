/**
 * The removal planner (src/engine/remove-host.ts, planRemoveHost): which vCenter calls remove a
 * host in each state it can be found in — connected or lost, in or out of maintenance mode, a
 * cluster member or standalone, with or without powered-on VMs and DRS to move them.
 */
import { describe, it, expect } from 'vitest';
import { planRemoveHost, type HostRemovalFacts } from '../../src/engine/remove-host.js';
import { PermanentStepError } from '../../src/engine/apply.js';

const UUID = '4C4C4544-0031-3510-8052-B1C04F313031';
const member = (over: Partial<HostRemovalFacts> = {}): HostRemovalFacts => ({
  hostRef: 'host-42',
  name: 'esx1.lab',
  connectionState: 'connected',
  inMaintenanceMode: false,
  parent: { type: 'ClusterComputeResource', value: 'domain-c7' },
  drs: { enabled: false, defaultVmBehavior: 'fullyAutomated' },
  poweredOnVms: [],
  vmCount: 0,
  ...over,
});
const names = (f: HostRemovalFacts | undefined) => planRemoveHost(f, UUID, 600).map((s) => s.name);

describe('planRemoveHost', () => {
  it('plans nothing for a host vCenter does not have (already removed: a resumed job only forgets it)', () => {
    expect(planRemoveHost(undefined, UUID, 600)).toEqual([]);
  });

  it('a connected member: maintenance mode with the timeout and without evacuating powered-off VMs, then Destroy_Task on the HostSystem', () => {
    const steps = planRemoveHost(member({ vmCount: 2 }), UUID, 600);
    expect(steps.map((s) => [s.name, s.target, s.hostUuid, s.args])).toEqual([
      [
        'EnterMaintenanceMode_Task',
        'host:esx1.lab',
        UUID.toLowerCase(),
        { host: 'host-42', timeout: 600, evacuatePoweredOffVms: false },
      ],
      ['Destroy_Task', 'host:esx1.lab', UUID.toLowerCase(), { entity: { type: 'HostSystem', value: 'host-42' } }],
    ]);
  });

  it('a member already in maintenance mode, or disconnected / not responding: Destroy_Task only (VMs or not)', () => {
    expect(names(member({ inMaintenanceMode: true }))).toEqual(['Destroy_Task']);
    for (const connectionState of ['disconnected', 'notResponding'])
      expect(names(member({ connectionState, poweredOnVms: ['db-01'], vmCount: 1 }))).toEqual(['Destroy_Task']);
  });

  it('a standalone host: Destroy_Task on its ComputeResource', () => {
    const steps = planRemoveHost(
      member({ parent: { type: 'ComputeResource', value: 'domain-s9' }, drs: undefined }),
      UUID,
      60,
    );
    expect(steps.map((s) => s.name)).toEqual(['EnterMaintenanceMode_Task', 'Destroy_Task']);
    expect(steps[1]!.args).toEqual({ entity: { type: 'ComputeResource', value: 'domain-s9' } });
  });

  it('powered-on VMs: planned only when fully automated DRS will evacuate them; refused otherwise, naming the VMs and why', () => {
    const vms = ['a', 'b', 'c', 'd', 'e', 'f'];
    expect(names(member({ poweredOnVms: vms, drs: { enabled: true, defaultVmBehavior: 'fullyAutomated' } }))).toEqual([
      'EnterMaintenanceMode_Task',
      'Destroy_Task',
    ]);
    const refused = (f: HostRemovalFacts) => {
      try {
        planRemoveHost(f, UUID, 600);
      } catch (e) {
        expect(e).toBeInstanceOf(PermanentStepError);
        return (e as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refused(member({ poweredOnVms: vms }))).toMatch(
      /^host esx1\.lab runs 6 powered-on VM\(s\) \(a, b, c, d, e, …\) and its cluster's DRS is off: .*nothing was removed/,
    );
    expect(refused(member({ poweredOnVms: ['a'], drs: { enabled: true, defaultVmBehavior: 'manual' } }))).toContain(
      "its cluster's DRS is manual, not fullyAutomated",
    );
    expect(
      refused(member({ poweredOnVms: ['a'], parent: { type: 'ComputeResource', value: 'domain-s9' }, drs: undefined })),
    ).toContain('it is a standalone host');
  });
});
