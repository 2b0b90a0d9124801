/**
 * The shipped example examples/clusters/prod-cluster.xml — and a fixture with what the example does
 * not use (test/fixtures/clusters/engine/edge-cluster.xml: percentage admission control,
 * vmAndAppMonitoring, beacon probing, port group security/teaming overrides, VLAN 4095,
 * faultToleranceLogging/vSphereReplication/vSphereProvisioning, DHCP VMkernel NIC, int/long/boolean/
 * string advanced settings) — loaded through the cluster repository as the server loads them
 * (vCenter/credentials names checked against the test configuration), applied to the vCenter
 * simulator, read back over SOAP with a separate session and compared with the file; a second
 * apply makes zero mutating calls.
 *
 * What the simulator does not model (test/peers/vcsim/README.md, "What still is not"), and
 * therefore what is not asserted here: whether HA settings fit the number of hosts, vSAN itself (only
 * the `vsan` VMkernel service selection), DHCP addresses (a DHCP VMkernel NIC reads back with
 * `dhcp=true` and no address), type checks of advanced options (the simulator stores the value with
 * the xsi:type it was sent with — which is what is asserted), beacon probing needing 3+ uplinks.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { openStore, type Store } from '../../src/store/index.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { loadClusterDir, type LoadedClusters } from '../../src/app/cluster-lookups.js';
import { connectVcenter, vcenterConnector, type VsphereVcenter } from '../../src/engine/vsphere-adapter.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { retrieveAll } from '../../src/vsphere/ops.js';
import { first, list, text, xsiType } from '../../src/vsphere/xml.js';
import type { ClusterConfigInfoEx, HostNetworkPolicy, MoRef } from '../../src/vsphere/types.js';
import type { DesiredCluster, MemberHost, TeamingPolicy } from '../../src/clusters/types.js';

const ROOT = resolve(import.meta.dirname, '../..');
const PROD_XML = join(ROOT, 'examples/clusters/prod-cluster.xml');
const EDGE_XML = join(ROOT, 'test/fixtures/clusters/engine/edge-cluster.xml');
const PROD_UUIDS = [
  '4c4c4544-0042-3510-8052-b3c04f4e3231',
  '4c4c4544-0042-3510-8052-b3c04f4e3232',
  '4c4c4544-0042-3510-8052-b3c04f4e3233',
  '4c4c4544-0042-3510-8052-b3c04f4e3234',
];
const EDGE_UUIDS = ['4c4c4544-0045-3510-8052-b3c04f4e3201', '4c4c4544-0045-3510-8052-b3c04f4e3202'];
/** The thumbprint esx04 pins in prod-cluster.xml: the simulator's host presents it. */
const ESX04_TP = '3A:5F:07:C1:9E:22:8B:41:D0:6C:7E:13:AF:58:90:B2:4D:E6:11:7C';
const env = { SX_VC_PW: 'vcpass', SX_ESX_PW: 'esxpass' };

function config(sim: Vcsim): Config {
  return configSchema.parse({
    ...vcenterConfigFor(sim, { name: 'vc-prod', credential: 'esxi-root' }),
    engine: { 'max-attempts': 2 },
  });
}

/** HostNicTeamingPolicy as the wire has it, in the file's terms (only members the file sets). */
function wireTeaming(p: HostNetworkPolicy | undefined, want: TeamingPolicy): Record<string, unknown> {
  const t = p?.nicTeaming;
  const out: Record<string, unknown> = {};
  if (want.loadBalancing !== undefined) out['loadBalancing'] = t?.policy;
  if (want.beaconProbing !== undefined) out['beaconProbing'] = t?.failureCriteria?.checkBeacon;
  if (want.notifySwitches !== undefined) out['notifySwitches'] = t?.notifySwitches;
  if (want.rollingOrder !== undefined) out['rollingOrder'] = t?.rollingOrder;
  if (want.activeNics !== undefined) out['activeNics'] = list(t?.nicOrder?.activeNic);
  if (want.standbyNics !== undefined) out['standbyNics'] = list(t?.nicOrder?.standbyNic);
  return out;
}

/** The file's teaming without undefined members. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The address a host's VMkernel NIC must have per the file (static entry, or the pool's allocation). */
function expectedAddress(
  c: DesiredCluster,
  h: MemberHost,
  device: string,
  poolAlloc: (pool: string, uuid: string) => string,
): string | undefined {
  const nic = c.vmknics.find((n) => n.device === device)!;
  if (nic.addressing.mode === 'static') return h.addresses[device];
  if (nic.addressing.mode === 'pool') return poolAlloc(nic.addressing.pool, h.uuid);
  return undefined;
}

/** Reads back the cluster and every member over SOAP (raw wire objects) and compares them with the file. */
async function compareWithFile(
  vc: VsphereVcenter,
  c: DesiredCluster,
  poolAlloc: (pool: string, uuid: string) => string,
): Promise<void> {
  const cl = await vc.client.read.readCluster(c.datacenter, c.name);
  expect(cl.cluster, `cluster ${c.datacenter}/${c.name}`).toBeTruthy();
  const [obj] = await retrieveAll(vc.client, [
    { propSet: [{ type: 'ClusterComputeResource', pathSet: ['configurationEx'] }], objectSet: [{ obj: cl.cluster! }] },
  ]);
  const cfg = obj!.props['configurationEx'] as ClusterConfigInfoEx;
  const das = cfg.dasConfig!;
  const ac = c.ha.admissionControl;
  expect({
    enabled: das.enabled,
    hostMonitoring: das.hostMonitoring,
    vmMonitoring: das.vmMonitoring,
    admissionControlEnabled: das.admissionControlEnabled,
    restartPriority: das.defaultVmSettings?.restartPriority,
    isolationResponse: das.defaultVmSettings?.isolationResponse,
  }).toEqual({
    enabled: c.ha.enabled,
    hostMonitoring: c.ha.hostMonitoring ? 'enabled' : 'disabled',
    vmMonitoring: c.ha.vmMonitoring,
    admissionControlEnabled: ac.enabled,
    restartPriority: c.ha.restartPriority,
    isolationResponse: c.ha.isolationResponse,
  });
  if (ac.enabled && ac.policy === 'hostFailuresTolerated') {
    expect(das.admissionControlPolicy).toMatchObject({
      _type: 'ClusterFailoverLevelAdmissionControlPolicy',
      failoverLevel: ac.hostFailuresTolerated,
    });
  } else if (ac.enabled && ac.policy === 'percentage') {
    expect(das.admissionControlPolicy).toMatchObject({
      _type: 'ClusterFailoverResourcesAdmissionControlPolicy',
      cpuFailoverResourcesPercent: ac.cpuPercent,
      memoryFailoverResourcesPercent: ac.memoryPercent,
    });
  }
  expect(cfg.drsConfig).toMatchObject({
    enabled: c.drs.enabled,
    defaultVmBehavior: c.drs.automationLevel,
    vmotionRate: c.drs.migrationThreshold,
  });
  expect(cfg.dpmConfigInfo).toMatchObject({
    enabled: c.dpm.enabled,
    defaultDpmBehavior: c.dpm.automationLevel,
    hostPowerActionRate: c.dpm.threshold,
  });

  for (const h of c.hosts) {
    const ref = await vc.client.ops.FindByUuid(h.uuid, { type: 'Datacenter', value: cl.datacenter!.value });
    expect(ref, `host ${h.fqdn} found by UUID`).toBeTruthy();
    const [w] = await vc.client.read.readHosts([ref!]);
    const host = w!;
    const where = (s: string) => `${h.fqdn} ${s}`;
    expect(host.name).toBe(h.fqdn);
    expect(host.uuid.toLowerCase()).toBe(h.uuid);
    expect(host.parent?.value, where('parent')).toBe(cl.cluster!.value);
    for (const v of c.vswitches) {
      const sw = host.network.vswitch.find((s) => s.name === v.name);
      expect(sw, where(`vSwitch ${v.name}`)).toBeTruthy();
      expect(list(sw!.spec.bridge?.nicDevice as never), where(`${v.name} uplinks`)).toEqual(v.uplinks);
      expect(sw!.mtu ?? sw!.spec.mtu, where(`${v.name} mtu`)).toBe(v.mtu);
      expect(sw!.spec.numPorts, where(`${v.name} ports`)).toBe(v.numPorts);
      expect(wireTeaming(sw!.spec.policy, v.teaming), where(`${v.name} teaming`)).toEqual(defined(v.teaming));
      expect(defined(sw!.spec.policy?.security ?? {}), where(`${v.name} security`)).toMatchObject(defined(v.security));
    }
    for (const p of c.portgroups) {
      const pg = host.network.portgroup.find((g) => g.spec.name === p.name);
      expect(pg, where(`port group ${p.name}`)).toBeTruthy();
      expect([pg!.spec.vswitchName, pg!.spec.vlanId], where(`${p.name} vswitch/vlan`)).toEqual([p.vswitch, p.vlanId]);
      if (p.teaming)
        expect(wireTeaming(pg!.spec.policy, p.teaming), where(`${p.name} teaming override`)).toEqual(
          defined(p.teaming),
        );
      else expect(pg!.spec.policy?.nicTeaming?.policy, where(`${p.name} inherits teaming`)).toBeUndefined();
      if (p.security)
        expect(pg!.spec.policy?.security, where(`${p.name} security override`)).toMatchObject(defined(p.security));
      else expect(pg!.spec.policy?.security?.allowPromiscuous, where(`${p.name} inherits security`)).toBeUndefined();
    }
    for (const n of c.vmknics) {
      const nic = host.network.vnic.find((x) => x.portgroup === n.portgroup);
      expect(nic, where(`VMkernel NIC on ${n.portgroup}`)).toBeTruthy();
      expect(nic!.spec.mtu, where(`${n.device} mtu`)).toBe(n.mtu);
      if (n.addressing.mode === 'dhcp') {
        expect(nic!.spec.ip?.dhcp, where(`${n.device} dhcp`)).toBe(true);
      } else {
        const mask =
          n.addressing.mode === 'static'
            ? n.addressing.netmask
            : c.pools.find((p) => n.addressing.mode === 'pool' && p.name === n.addressing.pool)!.netmask;
        expect(
          { dhcp: nic!.spec.ip?.dhcp, ip: nic!.spec.ip?.ipAddress, mask: nic!.spec.ip?.subnetMask },
          where(`${n.device} address`),
        ).toEqual({ dhcp: false, ip: expectedAddress(c, h, n.device, poolAlloc), mask });
      }
      // every service the file names is selected on this NIC; the managed ones it does not name are not
      for (const s of [
        'management',
        'vmotion',
        'vsan',
        'faultToleranceLogging',
        'vSphereProvisioning',
        'vSphereReplication',
      ] as const) {
        const on = (host.vnicServices[s] ?? []).includes(nic!.device);
        expect(on, where(`${n.device} (${nic!.device}) service ${s}`)).toBe(n.services.includes(s));
      }
    }
    expect(host.ntpServers, where('ntp')).toEqual(c.ntpServers);
    const ntpd = host.services.find((s) => s.key === 'ntpd');
    expect({ policy: ntpd?.policy, running: ntpd?.running }, where('ntpd')).toEqual({ policy: 'on', running: true });
    const dns = host.network.dnsConfig!;
    expect(
      { dhcp: dns.dhcp, address: list(dns.address as never), searchDomain: list(dns.searchDomain as never) },
      where('dns'),
    ).toEqual({ dhcp: false, address: c.dns.servers, searchDomain: c.dns.searchDomains });
    expect(dns.hostName, where('dns host name')).toBe(h.fqdn.split('.')[0]);
    // advanced settings: value and wire type (xsi:type) of each OptionValue, from the raw answer
    const om: MoRef = host.configManager.advancedOption!;
    for (const a of c.advanced) {
      const r = await vc.client.invoke('QueryOptions', om, { name: a.key });
      const ov = list(r.returnval).find((x) => text(first(x, 'key')) === a.key);
      expect(ov, where(`advanced ${a.key}`)).toBeTruthy();
      const value = first(ov, 'value');
      expect([xsiType(value), text(value)], where(`advanced ${a.key}`)).toEqual([`xsd:${a.type}`, String(a.value)]);
    }
  }
}

/** File-order pool allocation (what the engine does when nothing was allocated before). */
function inFileOrder(c: DesiredCluster): (pool: string, uuid: string) => string {
  return (pool, uuid) => {
    const p = c.pools.find((x) => x.name === pool)!;
    const idx = c.hosts.findIndex((h) => h.uuid === uuid);
    const parts = p.start.split('.').map(Number);
    parts[3]! += idx;
    return parts.join('.');
  };
}

describe('examples/clusters/prod-cluster.xml and the edge fixture against vcsim', () => {
  let sim: Vcsim;
  let dir: string;
  let store: Store;
  let clusters: LoadedClusters;
  let runner: JobRunner;
  let cfg: Config;

  beforeAll(async () => {
    const names = [
      'esx01.prod.example.com',
      'esx02.prod.example.com',
      'esx03.prod.example.com',
      'esx04.prod.example.com',
    ];
    sim = await startVcsim([
      ...names.flatMap((n, i) => ['-host-uuid', `${n}=${PROD_UUIDS[i]}`]),
      '-host-uuid',
      `edge01.example.com=${EDGE_UUIDS[0]}`,
      '-host-uuid',
      `edge02.example.com=${EDGE_UUIDS[1]}`,
      '-host-thumbprint',
      `esx04.prod.example.com=${ESX04_TP}`,
    ]);
    dir = await mkdtemp(join(tmpdir(), 'sx-prod-xml-'));
    await copyFile(PROD_XML, join(dir, 'prod-cluster.xml'));
    await copyFile(EDGE_XML, join(dir, 'edge-cluster.xml'));
    cfg = config(sim);
    clusters = await loadClusterDir(dir, {
      vcenters: cfg.vcenters.map((v) => v.name),
      credentials: cfg.credentials.map((c) => c.name),
    });
    store = await openStore(':memory:');
    runner = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      clusters,
      log: silentLogger,
      retryBaseMs: 200,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
    });
    await runner.start();
  }, 200_000);
  afterAll(async () => {
    await runner?.close();
    store?.close();
    await sim?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('both files load through the repository without diagnostics', () => {
    expect(clusters.problems).toEqual([]);
    expect(
      clusters
        .list()
        .map((c) => c.name)
        .sort(),
    ).toEqual(['edge-cluster', 'prod-cluster']);
    // what the example declares, spelled out (guards the loader as much as the engine)
    const prod = clusters.get('prod-cluster')!;
    expect(prod.datacenter).toBe('Amsterdam/DC01');
    expect(prod.hosts.map((h) => h.uuid)).toEqual(PROD_UUIDS);
    expect(prod.vswitches.find((v) => v.name === 'vSwitch1')).toMatchObject({
      mtu: 9000,
      uplinks: ['vmnic2', 'vmnic3'],
      teaming: { beaconProbing: false, notifySwitches: true, rollingOrder: false },
    });
  });

  for (const name of ['prod-cluster', 'edge-cluster']) {
    it(`${name}: apply creates everything the file declares; read back over SOAP it matches the file; a second apply makes zero mutating calls`, async () => {
      const c = clusters.get(name)!;
      const job = await runner.wait((await runner.enqueueApplyCluster(name, { source: 'test' })).id);
      expect(job.error).toBeNull();
      expect(job.state).toBe('succeeded');
      const done = (await store.jobs.steps(job.id)).filter((s) => s.state === 'done').map((s) => s.name);
      expect(done.filter((n) => n === 'AddHost_Task')).toHaveLength(c.hosts.length);

      const vc = await connectVcenter(cfg.vcenters[0]!, silentLogger, env);
      try {
        await compareWithFile(vc, c, inFileOrder(c));
      } finally {
        await vc.close();
      }

      const before = (await runner.calls('vc-prod'))!;
      const again = await runner.wait((await runner.enqueueApplyCluster(name, { source: 'test' })).id);
      const after = (await runner.calls('vc-prod'))!;
      expect(again.state).toBe('succeeded');
      expect((await store.jobs.steps(again.id)).map((s) => `${s.name} ${s.target}`)).toEqual([]);
      const mutating = Object.entries(after.byMethod)
        .filter(([m, n]) => n !== (before.byMethod[m] ?? 0))
        .map(([m]) => m);
      expect(after.mutating - before.mutating, `mutating calls of the second apply: ${mutating.join(', ')}`).toBe(0);
    }, 120_000);
  }
});
