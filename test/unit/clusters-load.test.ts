import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { join } from 'node:path';
import { loadClusterFiles, loadClusterText } from '../../src/clusters/load.js';
import { formatDiagnostic } from '../../src/clusters/diagnostics.js';
import { EXAMPLES_DIR, fixture, mutate, posOf } from '../fixtures/clusters/helpers.js';
import { fixedClusterFiles, kernelOptionsOfMember } from '../../src/app/cluster-lookups.js';
import { planInfo } from '../../src/cli/cluster-engine.js';
import { formatHosts, listHosts } from '../../src/cli/host.js';
import { openStore } from '../../src/store/index.js';

const FILE = '/clusters/fx.xml';

describe('cluster files: examples and mapping', () => {
  it('both example files validate against the XSD and the semantic checks', async () => {
    const results = await loadClusterFiles(
      [join(EXAMPLES_DIR, 'prod-cluster.xml'), join(EXAMPLES_DIR, 'lab-cluster.xml')],
      {
        context: { vcenters: ['vc-prod', 'vc-lab'], credentials: ['esxi-root'] },
      },
    );
    for (const r of results) expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    const [prod, lab] = results.map((r) => r.cluster!);
    expect(prod!.hosts).toHaveLength(4);
    expect(prod!.vswitches.find((v) => v.name === 'vSwitch1')!.mtu).toBe(9000);
    expect(
      prod!.vmknics
        .filter((v) => v.mtu === 9000)
        .flatMap((v) => v.services)
        .sort(),
    ).toEqual(['vmotion', 'vsan']);
    expect(prod!.ha.admissionControl).toEqual({
      enabled: true,
      policy: 'hostFailuresTolerated',
      hostFailuresTolerated: 1,
    });
    expect(prod!.drs).toEqual({ enabled: true, automationLevel: 'fullyAutomated', migrationThreshold: 3 });
    expect(lab!.ha.enabled).toBe(false);
    expect(lab!.vmknics[0]!.addressing).toEqual({ mode: 'dhcp' });
  });

  it('cluster/@priority: absent = unset (default 50), a value 1–99 is kept', async () => {
    expect((await loadClusterText(fixture('base.xml'), FILE)).cluster!.priority).toBeUndefined();
    const text = mutate(fixture('base.xml'), 'name="fx-cluster">', 'name="fx-cluster" priority="10">');
    const r = await loadClusterText(text, FILE);
    expect(r.diagnostics).toEqual([]);
    expect(r.cluster!.priority).toBe(10);
  });

  it('maps every field of the fixture onto DesiredCluster', async () => {
    const r = await loadClusterText(fixture('base.xml'), FILE);
    expect(r.diagnostics).toEqual([]);
    const c = r.cluster!;
    expect(c).toMatchObject({
      name: 'fx-cluster',
      datacenter: 'Test/DC1',
      vcenter: 'vc-test',
      credentials: 'esxi-root',
      image: 'ESXi-8.0U3-base',
      file: FILE,
      ha: {
        enabled: true,
        hostMonitoring: true,
        vmMonitoring: 'vmAndAppMonitoring',
        admissionControl: { enabled: true, policy: 'percentage', cpuPercent: 25, memoryPercent: 30 },
        isolationResponse: 'shutdown',
        restartPriority: 'high',
      },
      drs: { enabled: true, automationLevel: 'partiallyAutomated', migrationThreshold: 2 },
      dpm: { enabled: true, automationLevel: 'automated', threshold: 4 },
      ntpServers: ['ntp1.example.com', '192.0.2.123'],
      dns: { servers: ['192.0.2.53'], searchDomains: ['example.com'] },
      advanced: [
        { key: 'UserVars.SuppressShellWarning', value: 1, type: 'long' },
        { key: 'Net.TcpipHeapSize', value: 32, type: 'int' },
        { key: 'Syslog.global.logHost', value: 'udp://syslog.example.com:514', type: 'string' },
        { key: 'Misc.Enable', value: true, type: 'boolean' },
      ],
    });
    expect(c.vswitches[0]).toMatchObject({
      name: 'vSwitch0',
      uplinks: ['vmnic0', 'vmnic1'],
      mtu: 1500,
      numPorts: 64,
      teaming: {
        loadBalancing: 'loadbalance_srcid',
        beaconProbing: true,
        notifySwitches: false,
        rollingOrder: true,
        activeNics: ['vmnic0'],
        standbyNics: ['vmnic1'],
      },
      security: { allowPromiscuous: false, macChanges: true, forgedTransmits: false },
      pos: { file: FILE, line: 16, column: 5, path: '/cluster/network/vswitch[1]' },
    });
    expect(c.vswitches[1]).toMatchObject({ name: 'vSwitch1', mtu: 9000, numPorts: 128, teaming: {}, security: {} });
    expect(c.portgroups[1]).toMatchObject({
      name: 'vMotion',
      vswitch: 'vSwitch1',
      vlanId: 20,
      teaming: { loadBalancing: 'failover_explicit', activeNics: ['vmnic2'], standbyNics: ['vmnic3'] },
      security: { allowPromiscuous: true },
    });
    expect(c.portgroups[0]!.teaming).toBeUndefined();
    expect(c.portgroups[3]!.vlanId).toBe(4095);
    expect(c.vmknics.map((v) => [v.device, v.addressing, v.mtu, v.services])).toEqual([
      ['vmk0', { mode: 'static', netmask: '255.255.255.0' }, 1500, ['management']],
      ['vmk1', { mode: 'pool', pool: 'vmotion-pool' }, 9000, ['vmotion']],
      ['vmk2', { mode: 'static', netmask: '255.255.255.0' }, 9000, ['vsan', 'vSphereReplication']],
      ['vmk3', { mode: 'dhcp' }, 1500, []],
    ]);
    expect(c.pools).toEqual([
      {
        name: 'vmotion-pool',
        start: '198.51.100.10',
        end: '198.51.100.13',
        netmask: '255.255.255.0',
        gateway: '198.51.100.1',
      },
    ]);
    expect(c.hosts[0]).toMatchObject({
      fqdn: 'esx01.example.com',
      uuid: '4c4c4544-0042-3510-8052-b3c04f4e3101',
      mac: '00:50:56:00:00:01',
      addresses: { vmk0: '192.0.2.11', vmk2: '203.0.113.11' },
    });
    expect(c.hosts[1]).toMatchObject({
      fqdn: 'esx02.example.com',
      image: 'ESXi-8.0U3-pinned',
      thumbprint: 'AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD',
      pos: { line: 76, column: 5, path: '/cluster/members/host[2]' },
    });
  });

  it('maps network/@prune (default: absent, nothing removed) and keeps a pool gateway; a bad prune value is an XSD error', async () => {
    const plain = await loadClusterText(fixture('base.xml'), FILE);
    expect(plain.cluster!.prune).toBeUndefined();
    expect(plain.cluster!.pools[0]!.gateway).toBe('198.51.100.1');
    const on = await loadClusterText(mutate(fixture('base.xml'), '<network>', '<network prune="true">'), FILE);
    expect(on.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(on.cluster!.prune).toBe(true);
    const off = await loadClusterText(mutate(fixture('base.xml'), '<network>', '<network prune="false">'), FILE);
    expect(off.cluster!.prune).toBeUndefined();
    const bad = await loadClusterText(mutate(fixture('base.xml'), '<network>', '<network prune="yes">'), FILE);
    expect(bad.cluster).toBeUndefined();
    expect(bad.diagnostics.map(formatDiagnostic)).toEqual([
      `${FILE}:15:12: /cluster/network/@prune: Element 'network', attribute 'prune': 'yes' is not a valid value of the atomic type 'xs:boolean'.`,
    ]);
  });

  it("maps boot/@kernelOptions and a member's kernelOptions, and shows them in host list and plan", async () => {
    let text = mutate(fixture('base.xml'), '</defaultImage>', '</defaultImage>\n  <boot kernelOptions="noIOMMU"/>');
    text = mutate(text, 'mac="00:50:56:00:00:01"', 'mac="00:50:56:00:00:01" kernelOptions=" vga=1  x=y "');
    const r = await loadClusterText(text, FILE);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    const c = r.cluster!;
    expect(c.boot).toEqual({ mode: 'stateless', kernelOptions: 'noIOMMU' });
    expect(c.hosts[0]!.kernelOptions).toBe(' vga=1  x=y ');
    expect(c.hosts[1]!.kernelOptions).toBeUndefined();
    expect(kernelOptionsOfMember({ cluster: c, host: c.hosts[0]! })).toBe('noIOMMU vga=1 x=y');
    expect(planInfo(c)).toEqual([
      'esx01.example.com boots with kernel options "noIOMMU vga=1 x=y" (at its next PXE boot)',
      'esx02.example.com boots with kernel options "noIOMMU" (at its next PXE boot)',
    ]);
    const store = await openStore(':memory:');
    await store.hosts.setImagePin(c.hosts[0]!.uuid, 'v1');
    const files = fixedClusterFiles([c]);
    const listed = await listHosts(store, {
      kernelOptions: (u) => {
        const m = files.findHostByUuid(u);
        return m && kernelOptionsOfMember(m);
      },
    });
    expect(listed.map((h) => h.kernelOptions)).toEqual(['noIOMMU vga=1 x=y']);
    expect(formatHosts(listed)).toContain('\n    kernel options: noIOMMU vga=1 x=y\n');
    store.close();
  });

  it('applies the documented defaults for absent HA/DRS/DPM and normalises UUID and MAC case', async () => {
    const text = mutate(
      fixture('minimal.xml'),
      '<members/>',
      '<members><host fqdn="ESX9.Example.com" uuid="ABCDEF01-2222-3333-4444-555555555509" mac="00-50-56-AA-BB-CC"/></members>',
    );
    const r = await loadClusterText(text, FILE);
    expect(r.diagnostics).toEqual([]);
    expect(r.cluster!.ha).toEqual({
      enabled: false,
      hostMonitoring: true,
      vmMonitoring: 'vmMonitoringDisabled',
      admissionControl: { enabled: false },
      isolationResponse: 'none',
      restartPriority: 'medium',
    });
    expect(r.cluster!.drs).toEqual({ enabled: false, automationLevel: 'fullyAutomated', migrationThreshold: 3 });
    expect(r.cluster!.dpm).toEqual({ enabled: false, automationLevel: 'manual', threshold: 3 });
    expect(r.cluster!.hosts[0]).toMatchObject({
      fqdn: 'esx9.example.com',
      uuid: 'abcdef01-2222-3333-4444-555555555509',
      mac: '00:50:56:aa:bb:cc',
    });
  });
});

/** One XSD rule broken per case: `from` → `to` in base.xml; the error is expected at `at` (a substring of the mutated text). */
const XSD_CASES: { rule: string; from: string; to: string; at: string; path: string; message: RegExp }[] = [
  {
    rule: 'cluster priority above 99',
    from: 'name="fx-cluster">',
    to: 'name="fx-cluster" priority="100">',
    at: 'priority="100"',
    path: '/cluster/@priority',
    message: /'100' is greater than the maximum value allowed \('99'\)/,
  },
  {
    rule: 'vSwitch MTU above 9000',
    from: '<vswitch name="vSwitch1" mtu="9000">',
    to: '<vswitch name="vSwitch1" mtu="9500">',
    at: 'mtu="9500"',
    path: '/cluster/network/vswitch[2]/@mtu',
    message: /'9500' is greater than the maximum value allowed \('9000'\)/,
  },
  {
    rule: 'VMkernel MTU below 1280',
    from: '<vmknic device="vmk3" portgroup="Trunk">',
    to: '<vmknic device="vmk3" portgroup="Trunk" mtu="1000">',
    at: 'mtu="1000"',
    path: '/cluster/network/vmknic[4]/@mtu',
    message: /'1000' is less than the minimum/,
  },
  {
    rule: 'VLAN above 4095',
    from: 'vlan="4095"',
    to: 'vlan="4096"',
    at: 'vlan="4096"',
    path: '/cluster/network/portgroup[4]/@vlan',
    message: /4096/,
  },
  {
    rule: 'vSwitch ports out of range',
    from: 'ports="64"',
    to: 'ports="4"',
    at: 'ports="4"',
    path: '/cluster/network/vswitch[1]/@ports',
    message: /minimum/,
  },
  {
    rule: 'uplink not vmnicN',
    from: '<uplink>vmnic3</uplink>',
    to: '<uplink>eth3</uplink>',
    at: '<uplink>eth3',
    path: '/cluster/network/vswitch[2]/uplink[2]',
    message: /'eth3' is not accepted by the pattern/,
  },
  {
    rule: 'vmk device not vmkN',
    from: 'device="vmk3"',
    to: 'device="vmknic3"',
    at: 'device="vmknic3"',
    path: '/cluster/network/vmknic[4]/@device',
    message: /pattern/,
  },
  {
    rule: 'unknown VMkernel service',
    from: '<service>vSphereReplication</service>',
    to: '<service>iscsi</service>',
    at: '<service>iscsi',
    path: '/cluster/network/vmknic[3]/service[2]',
    message: /'iscsi' is not an element of the set/,
  },
  {
    rule: 'DRS migration threshold above 5',
    from: 'migrationThreshold="2"',
    to: 'migrationThreshold="6"',
    at: 'migrationThreshold="6"',
    path: '/cluster/drs/@migrationThreshold',
    message: /'6' is greater than/,
  },
  {
    rule: 'DRS automation level unknown',
    from: 'automationLevel="partiallyAutomated"',
    to: 'automationLevel="auto"',
    at: 'automationLevel="auto"',
    path: '/cluster/drs/@automationLevel',
    message: /not an element of the set/,
  },
  {
    rule: 'DPM threshold 0',
    from: 'threshold="4"',
    to: 'threshold="0"',
    at: 'threshold="0"',
    path: '/cluster/dpm/@threshold',
    message: /less than the minimum/,
  },
  {
    rule: 'HA isolation response unknown',
    from: 'isolationResponse="shutdown"',
    to: 'isolationResponse="reboot"',
    at: 'isolationResponse="reboot"',
    path: '/cluster/ha/@isolationResponse',
    message: /reboot/,
  },
  {
    rule: 'HA restart priority unknown',
    from: 'restartPriority="high"',
    to: 'restartPriority="highest"',
    at: 'restartPriority="highest"',
    path: '/cluster/ha/@restartPriority',
    message: /highest/,
  },
  {
    rule: 'admission control percentage above 100',
    from: 'memory="30"',
    to: 'memory="101"',
    at: 'memory="101"',
    path: '/cluster/ha/admissionControl/resourcePercentage/@memory',
    message: /'101' is greater than/,
  },
  {
    rule: 'IPv4 octet above 255',
    from: '<address vmk="vmk0">192.0.2.12</address>',
    to: '<address vmk="vmk0">192.0.2.256</address>',
    at: '<address vmk="vmk0">192.0.2.256',
    path: '/cluster/members/host[2]/address[1]',
    message: /192\.0\.2\.256/,
  },
  {
    rule: 'netmask not an address',
    from: 'netmask="255.255.255.0" gateway',
    to: 'netmask="/24" gateway',
    at: 'netmask="/24"',
    path: '/cluster/network/addressPool[1]/@netmask',
    message: /pattern/,
  },
  {
    rule: 'UUID malformed',
    from: 'uuid="4c4c4544-0042-3510-8052-b3c04f4e3102"',
    to: 'uuid="11111111-2222-3333-4444-55555555550"',
    at: 'uuid="11111111-2222-3333-4444-55555555550"',
    path: '/cluster/members/host[2]/@uuid',
    message: /pattern/,
  },
  {
    rule: 'MAC malformed',
    from: 'mac="00:50:56:00:00:01"',
    to: 'mac="00:50:56:00:00"',
    at: 'mac="00:50:56:00:00"',
    path: '/cluster/members/host[1]/@mac',
    message: /pattern/,
  },
  {
    rule: 'thumbprint malformed',
    from: 'thumbprint="AA:BB',
    to: 'thumbprint="ZZ:BB',
    at: 'thumbprint="ZZ',
    path: '/cluster/members/host[2]/@thumbprint',
    message: /pattern/,
  },
  {
    rule: 'member FQDN not fully qualified',
    from: 'fqdn="esx01.example.com"',
    to: 'fqdn="esx01"',
    at: 'fqdn="esx01"',
    path: '/cluster/members/host[1]/@fqdn',
    message: /pattern/,
  },
  {
    rule: 'advanced setting type unknown',
    from: 'value="32" type="int"',
    to: 'value="32" type="integer"',
    at: 'type="integer"',
    path: '/cluster/advanced/setting[2]/@type',
    message: /integer/,
  },
  {
    rule: 'advanced setting key not dotted',
    from: 'key="Misc.Enable"',
    to: 'key="MiscEnable"',
    at: 'key="MiscEnable"',
    path: '/cluster/advanced/setting[4]/@key',
    message: /pattern/,
  },
  {
    rule: 'required attribute missing (portgroup vswitch)',
    from: '<portgroup name="vSAN" vswitch="vSwitch1" vlan="30"/>',
    to: '<portgroup name="vSAN" vlan="30"/>',
    at: '<portgroup name="vSAN"',
    path: '/cluster/network/portgroup[3]',
    message: /attribute 'vswitch' is required/,
  },
  {
    rule: 'unknown attribute',
    from: '<vswitch name="vSwitch1" mtu="9000">',
    to: '<vswitch name="vSwitch1" mtu="9000" speed="10000">',
    at: 'speed=',
    path: '/cluster/network/vswitch[2]/@speed',
    message: /attribute 'speed' is not allowed/,
  },
  {
    rule: 'unknown element',
    from: '<datacenter>Test/DC1</datacenter>',
    to: '<datacenter>Test/DC1</datacenter>\n  <folder>x</folder>',
    at: '<folder>',
    path: '/cluster/folder',
    message: /This element is not expected/,
  },
  {
    rule: 'elements out of order (ha after dpm)',
    from: '<dpm enabled="true" automationLevel="automated" threshold="4"/>',
    to: '<dpm enabled="true" automationLevel="automated" threshold="4"/>\n  <ha enabled="false"/>',
    at: '<ha enabled="false"/>',
    path: '/cluster/ha',
    message: /not expected/,
  },
  {
    rule: 'two addressing modes on one vmknic',
    from: '<dhcp/>',
    to: '<dhcp/><static netmask="255.255.255.0"/>',
    at: '<static netmask="255.255.255.0"/>\n    </vmknic>',
    path: '/cluster/network/vmknic[4]/static',
    message: /not expected/,
  },
  {
    rule: 'vmknic without addressing',
    from: '    <vmknic device="vmk3" portgroup="Trunk">\n      <dhcp/>\n',
    to: '    <vmknic device="vmk3" portgroup="Trunk">\n',
    at: '<vmknic device="vmk3"',
    path: '/cluster/network/vmknic[4]',
    message: /Missing child element/,
  },
  {
    rule: 'empty datacenter',
    from: '<datacenter>Test/DC1</datacenter>',
    to: '<datacenter></datacenter>',
    at: '<datacenter>',
    path: '/cluster/datacenter',
    message: /datacenter/,
  },
  {
    rule: 'cluster name too long',
    from: 'name="fx-cluster"',
    to: `name="${'c'.repeat(81)}"`,
    at: `name="ccc`,
    path: '/cluster/@name',
    message: /length/,
  },
];

describe('cluster files: XSD violations carry line, column and element path', () => {
  for (const c of XSD_CASES) {
    it(c.rule, async () => {
      const text = mutate(fixture('base.xml'), c.from, c.to);
      const r = await loadClusterText(text, FILE);
      expect(r.cluster).toBeUndefined();
      expect(r.diagnostics.length).toBeGreaterThan(0);
      const d = r.diagnostics[0]!;
      const at = posOf(text, c.at);
      expect({ file: d.file, line: d.line, column: d.column, path: d.path }).toEqual({
        file: FILE,
        ...at,
        path: c.path,
      });
      expect(d.message).toMatch(c.message);
      expect(formatDiagnostic(d)).toBe(`${FILE}:${at.line}:${at.column}: ${c.path}: ${d.message}`);
    });
  }

  it('requires <members>', async () => {
    const text = mutate(fixture('minimal.xml'), '  <members/>\n', '');
    const r = await loadClusterText(text, FILE);
    expect(r.diagnostics[0]).toMatchObject({ line: 2, column: 1, path: '/cluster' });
    expect(r.diagnostics[0]!.message).toMatch(/Missing child element\(s\)\. Expected is .*members/);
  });

  it('rejects a document in the wrong namespace', async () => {
    const text = mutate(fixture('minimal.xml'), 'xmlns="urn:statelesx:cluster:1"', 'xmlns="urn:other"');
    const r = await loadClusterText(text, FILE);
    expect(r.diagnostics[0]).toMatchObject({ line: 2, column: 1, path: '/cluster' });
    expect(r.diagnostics[0]!.message).toMatch(/No matching global declaration/);
  });

  it('reports well-formedness errors with line and column', async () => {
    const text = mutate(fixture('minimal.xml'), '<members/>', '<members>');
    const r = await loadClusterText(text, FILE);
    expect(r.root).toBeUndefined();
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]!.message).toMatch(/not well-formed XML: .*members/);
    expect(r.diagnostics[0]!.line).toBe(7);
  });
});

describe('cluster files: hostile input is refused before any parser runs', () => {
  const refused = async (text: string, message: RegExp) => {
    const r = await loadClusterText(text, FILE);
    expect(r.cluster).toBeUndefined();
    expect(r.root).toBeUndefined(); // the XML parser never produced a tree
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]!.message).toMatch(message);
    return r.diagnostics[0]!;
  };

  it('refuses a DOCTYPE with an external entity (XXE)', async () => {
    const text = fixture('minimal.xml')
      .replace('<cluster ', '<!DOCTYPE cluster [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n<cluster ')
      .replace('<datacenter>DC0</datacenter>', '<datacenter>&xxe;</datacenter>');
    const d = await refused(text, /DOCTYPE declarations are not allowed/);
    expect(d).toMatchObject({ line: 2, column: 1, path: '/' });
  });

  it('refuses the billion-laughs entity expansion', async () => {
    const decls = ['<!ENTITY lol "lol">'];
    for (let i = 1; i <= 9; i++) decls.push(`<!ENTITY lol${i} "${`&lol${i - 1 || ''};`.repeat(10)}">`);
    const text = `<?xml version="1.0"?>\n<!DOCTYPE cluster [\n${decls.join('\n')}\n]>\n<cluster xmlns="urn:statelesx:cluster:1" name="x">&lol9;</cluster>`;
    await refused(text, /DOCTYPE/);
  });

  it('refuses an entity reference without a DTD, naming it and where it is', async () => {
    const text = mutate(fixture('minimal.xml'), '<datacenter>DC0</datacenter>', '<datacenter>&lol9;</datacenter>');
    const d = await refused(text, /entity reference &lol9; is not allowed/);
    expect(d).toMatchObject({ ...posOf(text, '&lol9;'), path: '/cluster/datacenter' });
  });

  it('refuses an entity reference inside an attribute value', async () => {
    const text = mutate(fixture('minimal.xml'), 'name="fx-minimal"', 'name="&ext;"');
    await refused(text, /&ext;/);
  });

  it('refuses a bare markup declaration', async () => {
    await refused('<!ENTITY x "y">\n<cluster/>', /<!ENTITY> is not allowed/);
  });

  it('refuses a huge attribute value', async () => {
    const text = mutate(fixture('minimal.xml'), 'name="fx-minimal"', `name="${'a'.repeat(500_000)}"`);
    await refused(text, /attribute value longer than 4096 characters/);
  });

  it('refuses deep nesting', async () => {
    const depth = 50_000;
    const text = `<cluster xmlns="urn:statelesx:cluster:1" name="x">${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}</cluster>`;
    const d = await refused(text, /nested deeper than 16 levels/);
    expect(d.path).toBe('/cluster' + '/a'.repeat(16));
  });

  it('refuses a file over the size limit without reading it', async () => {
    const text = `<cluster xmlns="urn:statelesx:cluster:1" name="x"><!--${' '.repeat(1024 * 1024)}--></cluster>`;
    await refused(text, /limited to 1048576 bytes/);
  });

  it('accepts the predefined entities and character references, and declarations inside comments', async () => {
    const text = mutate(
      fixture('base.xml'),
      'value="udp://syslog.example.com:514"',
      'value="udp://syslog.example.com:514 &lt;&amp;&gt; &#x41;&#66;"',
    ).replace('<!-- Test fixture', '<!-- <!DOCTYPE x> &notanentity; Test fixture');
    const r = await loadClusterText(text, FILE);
    expect(r.diagnostics).toEqual([]);
    expect(r.cluster!.advanced[2]!.value).toBe('udp://syslog.example.com:514 <&> AB');
  });
});

describe('cluster files: arbitrary damage never crashes the loader', () => {
  const base = fixture('base.xml');
  /** base.xml with `count` random spans replaced by random snippets (markup-heavy alphabet). */
  const damaged = fc
    .array(
      fc.record({
        at: fc.nat({ max: base.length - 1 }),
        cut: fc.nat({ max: 12 }),
        insert: fc.stringMatching(/^[<>&;"'=/!?\-[\]a-zA-Z0-9 \n#x]{0,12}$/),
      }),
      { minLength: 1, maxLength: 4 },
    )
    .map((edits) => edits.reduce((t, e) => t.slice(0, e.at) + e.insert + t.slice(e.at + e.cut), base));

  it('guard and tree parser return diagnostics with in-range positions, never throw', async () => {
    const { guardXml } = await import('../../src/clusters/xml-guard.js');
    const { parseXmlTree } = await import('../../src/clusters/xml-tree.js');
    fc.assert(
      fc.property(damaged, (text) => {
        const lines = text.split('\n').length;
        const g = guardXml(text, FILE);
        const diags = g.length ? g : parseXmlTree(text, FILE).errors;
        for (const d of diags) {
          expect(d.line).toBeGreaterThanOrEqual(1);
          expect(d.line).toBeLessThanOrEqual(lines + 1);
          expect(d.column).toBeGreaterThanOrEqual(1);
          expect(d.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the full pipeline (XSD included) answers with a cluster or diagnostics', async () => {
    await fc.assert(
      fc.asyncProperty(damaged, async (text) => {
        const r = await loadClusterText(text, FILE);
        expect(Boolean(r.cluster) !== r.diagnostics.length > 0).toBe(true);
      }),
      { numRuns: 15 },
    );
  });
});
