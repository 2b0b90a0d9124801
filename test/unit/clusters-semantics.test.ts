import { describe, it, expect } from 'vitest';
import { loadClusterText, loadClusterTexts } from '../../src/clusters/load.js';
import { checkAcrossFiles, type CheckedFile, type SemanticContext } from '../../src/clusters/semantics.js';
import { formatDiagnostic } from '../../src/clusters/diagnostics.js';
import { swapUuidByteOrder } from '../../src/hosts/identity.js';
import { fixture, mutate, posOf } from '../fixtures/clusters/helpers.js';

const FILE = '/clusters/fx.xml';
type Edit = [from: string, to: string];

/** Applies the edits to base.xml and loads it. */
async function load(edits: Edit[], context?: SemanticContext) {
  let text = fixture('base.xml');
  for (const [from, to] of edits) text = mutate(text, from, to);
  const r = await loadClusterText(text, FILE, context ? { context } : {});
  return { text, r };
}

/** One semantic rule per case: the edit must produce (at least) this diagnostic at `at`. */
const CASES: { rule: string; edits: Edit[]; at: string; path: string; message: RegExp; context?: SemanticContext }[] = [
  {
    rule: 'cluster kernel options with a newline (character reference)',
    edits: [['</defaultImage>', '</defaultImage>\n  <boot kernelOptions="noIOMMU&#10;kernel=evil"/>']],
    at: 'kernelOptions="noIOMMU',
    path: '/cluster/boot/@kernelOptions',
    message: /control character U\+000A/,
  },
  {
    rule: 'member kernel options with a quote',
    edits: [['mac="00:50:56:00:00:01"', 'mac="00:50:56:00:00:01" kernelOptions="a=&quot;b&quot;"']],
    at: 'kernelOptions="a=',
    path: '/cluster/members/host[1]/@kernelOptions',
    message: /esx01.example.com: kernelOptions contains "/,
  },
  {
    rule: 'member kernel options setting a statelesx option',
    edits: [['mac="00:50:56:00:00:01"', 'mac="00:50:56:00:00:01" kernelOptions="statelesx.token=x"']],
    at: 'kernelOptions="statelesx',
    path: '/cluster/members/host[1]/@kernelOptions',
    message: /statelesx sets statelesx\.\* and ks= itself/,
  },
  {
    rule: 'kernel options longer than 1024 bytes with the cluster options',
    edits: [
      ['</defaultImage>', `</defaultImage>\n  <boot kernelOptions="${'a'.repeat(600)}"/>`],
      ['mac="00:50:56:00:00:01"', `mac="00:50:56:00:00:01" kernelOptions="${'b'.repeat(500)}"`],
    ],
    at: 'kernelOptions="bbb',
    path: '/cluster/members/host[1]/@kernelOptions',
    message: /1101 bytes with the cluster's boot\/@kernelOptions; at most 1024/,
  },
  {
    rule: 'vCenter not declared in the configuration',
    edits: [],
    context: { vcenters: ['vc-prod'] },
    at: '<vcenter>',
    path: '/cluster/vcenter',
    message: /vCenter "vc-test" is not declared under vcenters: .*\(known: vc-prod\)/,
  },
  {
    rule: 'credentials not declared in the configuration',
    edits: [],
    context: { credentials: [] },
    at: '<credentials>',
    path: '/cluster/credentials',
    message: /credentials "esxi-root" are not declared/,
  },
  {
    rule: 'default image does not exist',
    edits: [],
    context: { imageExists: (n) => n === 'ESXi-8.0U3-pinned' },
    at: '<defaultImage>',
    path: '/cluster/defaultImage',
    message: /image "ESXi-8.0U3-base" does not exist/,
  },
  {
    rule: 'pinned image does not exist',
    edits: [],
    context: { imageExists: (n) => n === 'ESXi-8.0U3-base' },
    at: 'image="ESXi-8.0U3-pinned"',
    path: '/cluster/members/host[2]/@image',
    message: /image "ESXi-8.0U3-pinned" pinned for esx02.example.com does not exist/,
  },
  {
    rule: 'DPM without DRS',
    edits: [['<drs enabled="true"', '<drs enabled="false"']],
    at: 'enabled="true" automationLevel="automated"',
    path: '/cluster/dpm/@enabled',
    message: /DPM needs DRS/,
  },
  {
    rule: 'admission control enabled without a policy',
    edits: [['\n      <resourcePercentage cpu="25" memory="30"/>', '']],
    at: '<admissionControl',
    path: '/cluster/ha/admissionControl',
    message: /names no policy/,
  },
  {
    rule: 'admission control disabled with a policy',
    edits: [['<admissionControl enabled="true">', '<admissionControl enabled="false">']],
    at: '<resourcePercentage',
    path: '/cluster/ha/admissionControl/resourcePercentage',
    message: /disabled .* remove the policy/,
  },
  {
    rule: 'vSwitch declared twice',
    edits: [
      ['<vswitch name="vSwitch1" mtu="9000">', '<vswitch name="vSwitch0" mtu="9000">'],
      ['vswitch="vSwitch1" vlan="20"', 'vswitch="vSwitch0" vlan="20"'],
      ['vswitch="vSwitch1" vlan="30"', 'vswitch="vSwitch0" vlan="30"'],
    ],
    at: 'name="vSwitch0" mtu="9000"',
    path: '/cluster/network/vswitch[2]/@name',
    message: /vSwitch "vSwitch0" is declared twice/,
  },
  {
    rule: 'uplink shared between vSwitches',
    edits: [['<uplink>vmnic2</uplink>', '<uplink>vmnic1</uplink>']],
    at: '<uplink>vmnic1</uplink>\n      <uplink>vmnic3',
    path: '/cluster/network/vswitch[2]/uplink[1]',
    message: /uplink vmnic1 is already an uplink of vSwitch0/,
  },
  {
    rule: 'uplink listed twice on one vSwitch',
    edits: [['<uplink>vmnic3</uplink>', '<uplink>vmnic2</uplink>']],
    at: '<uplink>vmnic2</uplink>\n    </vswitch>',
    path: '/cluster/network/vswitch[2]/uplink[2]',
    message: /listed twice on vSwitch1/,
  },
  {
    rule: 'active NIC is not an uplink of the vSwitch',
    edits: [['<activeNic>vmnic0</activeNic>', '<activeNic>vmnic5</activeNic>']],
    at: '<activeNic>vmnic5',
    path: '/cluster/network/vswitch[1]/teaming/activeNic[1]',
    message: /active NIC vmnic5 is not an uplink of vSwitch0/,
  },
  {
    rule: 'NIC both active and standby',
    edits: [['<standbyNic>vmnic1</standbyNic>', '<standbyNic>vmnic0</standbyNic>']],
    at: '<standbyNic>vmnic0',
    path: '/cluster/network/vswitch[1]/teaming/standbyNic[1]',
    message: /vmnic0 is listed more than once in the failover order/,
  },
  {
    rule: 'portgroup teaming NIC is not an uplink of its vSwitch',
    edits: [['<activeNic>vmnic2</activeNic>', '<activeNic>vmnic0</activeNic>']],
    at: '<activeNic>vmnic0</activeNic>\n        <standbyNic>vmnic3',
    path: '/cluster/network/portgroup[2]/teaming/activeNic[1]',
    message: /vmnic0 is not an uplink of vSwitch1/,
  },
  {
    rule: 'portgroup name not unique per host',
    edits: [
      ['<portgroup name="Trunk"', '<portgroup name="vSAN"'],
      ['portgroup="Trunk"', 'portgroup="vSAN"'],
    ],
    at: 'name="vSAN" vswitch="vSwitch0"',
    path: '/cluster/network/portgroup[4]/@name',
    message: /portgroup "vSAN" is declared twice .* unique per host/,
  },
  {
    rule: 'portgroup on an undeclared vSwitch',
    edits: [['vswitch="vSwitch1" vlan="30"', 'vswitch="vSwitch9" vlan="30"']],
    at: 'vswitch="vSwitch9"',
    path: '/cluster/network/portgroup[3]/@vswitch',
    message: /vSwitch "vSwitch9", which is not declared \(known: vSwitch0, vSwitch1\)/,
  },
  {
    rule: 'VMkernel NIC on an undeclared portgroup',
    edits: [['portgroup="Trunk"', 'portgroup="Storage"']],
    at: 'portgroup="Storage"',
    path: '/cluster/network/vmknic[4]/@portgroup',
    message: /vmk3 is on portgroup "Storage", which is not declared/,
  },
  {
    rule: 'two VMkernel NICs on one portgroup',
    edits: [['portgroup="Trunk"', 'portgroup="vSAN"']],
    at: 'portgroup="vSAN">\n      <dhcp',
    path: '/cluster/network/vmknic[4]/@portgroup',
    message: /already carries vmk2/,
  },
  {
    rule: 'VMkernel NIC declared twice',
    edits: [['device="vmk3"', 'device="vmk1"']],
    at: 'device="vmk1" portgroup="Trunk"',
    path: '/cluster/network/vmknic[4]/@device',
    message: /vmk1 is declared twice/,
  },
  {
    rule: 'VMkernel MTU larger than the vSwitch MTU',
    edits: [['<vmknic device="vmk3" portgroup="Trunk">', '<vmknic device="vmk3" portgroup="Trunk" mtu="9000">']],
    at: 'mtu="9000">\n      <dhcp',
    path: '/cluster/network/vmknic[4]/@mtu',
    message: /vmk3 MTU 9000 is larger than the MTU 1500 of vSwitch0/,
  },
  {
    rule: 'service listed twice',
    edits: [['<service>vSphereReplication</service>', '<service>vsan</service>']],
    at: '<service>vsan</service>\n    </vmknic>',
    path: '/cluster/network/vmknic[3]/service[2]',
    message: /service vsan is listed twice on vmk2/,
  },
  {
    rule: 'VMkernel NIC uses an undeclared pool',
    edits: [['<pool name="vmotion-pool"/>', '<pool name="vm-pool"/>']],
    at: 'name="vm-pool"',
    path: '/cluster/network/vmknic[2]/pool/@name',
    message: /address pool "vm-pool", which is not declared/,
  },
  {
    rule: 'address pool shared by two VMkernel NICs',
    edits: [['<dhcp/>', '<pool name="vmotion-pool"/>']],
    at: 'name="vmotion-pool"/>\n    </vmknic>',
    path: '/cluster/network/vmknic[4]/pool/@name',
    message: /address pool "vmotion-pool" already serves vmk1; give vmk3 its own pool/,
  },
  {
    rule: 'static netmask not contiguous',
    edits: [
      [
        '<static netmask="255.255.255.0"/>\n      <service>management',
        '<static netmask="255.0.255.0"/>\n      <service>management',
      ],
    ],
    at: 'netmask="255.0.255.0"',
    path: '/cluster/network/vmknic[1]/static/@netmask',
    message: /netmask 255.0.255.0 is not contiguous/,
  },
  {
    rule: 'pool too small for the hosts',
    edits: [['end="198.51.100.13"', 'end="198.51.100.10"']],
    at: 'end="198.51.100.10"',
    path: '/cluster/network/addressPool[1]/@end',
    message: /pool "vmotion-pool" has 1 addresses but 2 hosts × 1 VMkernel NIC\(s\) \(vmk1\) need 2/,
  },
  {
    rule: 'pool end before start',
    edits: [['end="198.51.100.13"', 'end="198.51.100.9"']],
    at: 'end="198.51.100.9"',
    path: '/cluster/network/addressPool[1]/@end',
    message: /before its start/,
  },
  {
    rule: 'pool crosses its subnet',
    edits: [['end="198.51.100.13"', 'end="198.51.101.13"']],
    at: 'end="198.51.101.13"',
    path: '/cluster/network/addressPool[1]/@end',
    message: /crosses subnet boundaries of \/24 \(198.51.100.0\/24\)/,
  },
  {
    rule: 'pool includes the network address',
    edits: [['start="198.51.100.10"', 'start="198.51.100.0"']],
    at: 'start="198.51.100.0"',
    path: '/cluster/network/addressPool[1]/@start',
    message: /network or broadcast address/,
  },
  {
    rule: 'pool gateway outside the subnet',
    edits: [['gateway="198.51.100.1"', 'gateway="192.0.2.1"']],
    at: 'gateway="192.0.2.1"',
    path: '/cluster/network/addressPool[1]/@gateway',
    message: /outside the pool's subnet/,
  },
  {
    rule: 'pool gateway inside the range',
    edits: [['gateway="198.51.100.1"', 'gateway="198.51.100.12"']],
    at: 'gateway="198.51.100.12"',
    path: '/cluster/network/addressPool[1]/@gateway',
    message: /inside the pool range/,
  },
  {
    rule: 'pools overlap',
    edits: [
      [
        'gateway="198.51.100.1"/>',
        'gateway="198.51.100.1"/>\n    <addressPool name="other" start="198.51.100.13" end="198.51.100.20" netmask="255.255.255.0"/>',
      ],
    ],
    at: 'start="198.51.100.13"',
    path: '/cluster/network/addressPool[2]/@start',
    message: /pool "other" overlaps pool "vmotion-pool"/,
  },
  {
    rule: 'static VMkernel NIC without an address on a host',
    edits: [['      <address vmk="vmk2">203.0.113.12</address>\n', '']],
    at: '<host fqdn="esx02',
    path: '/cluster/members/host[2]',
    message: /esx02.example.com has no address for vmk2 \(static\)/,
  },
  {
    rule: 'address for a VMkernel NIC that is not static',
    edits: [
      [
        '<address vmk="vmk2">203.0.113.12</address>',
        '<address vmk="vmk2">203.0.113.12</address><address vmk="vmk1">198.51.100.10</address>',
      ],
    ],
    at: '<address vmk="vmk1">',
    path: '/cluster/members/host[2]/address[3]',
    message: /vmk1 uses pool addressing/,
  },
  {
    rule: 'address for an undeclared VMkernel NIC',
    edits: [
      [
        '<address vmk="vmk2">203.0.113.12</address>',
        '<address vmk="vmk2">203.0.113.12</address><address vmk="vmk9">10.0.0.1</address>',
      ],
    ],
    at: 'vmk="vmk9"',
    path: '/cluster/members/host[2]/address[3]/@vmk',
    message: /vmk9 is not a VMkernel NIC of this cluster/,
  },
  {
    rule: 'address given twice for one VMkernel NIC',
    edits: [
      [
        '<address vmk="vmk2">203.0.113.12</address>',
        '<address vmk="vmk2">203.0.113.12</address><address vmk="vmk2">203.0.113.13</address>',
      ],
    ],
    at: '<address vmk="vmk2">203.0.113.13',
    path: '/cluster/members/host[2]/address[3]',
    message: /gives an address for vmk2 twice/,
  },
  {
    rule: 'address not unique',
    edits: [['<address vmk="vmk0">192.0.2.12</address>', '<address vmk="vmk0">192.0.2.11</address>']],
    at: '<address vmk="vmk0">192.0.2.11</address>\n      <address vmk="vmk2">203.0.113.12',
    path: '/cluster/members/host[2]/address[1]',
    message: /address 192.0.2.11 is already used by esx01.example.com vmk0/,
  },
  {
    rule: 'address outside the subnet of its VMkernel NIC',
    edits: [['203.0.113.12', '203.0.114.12']],
    at: '<address vmk="vmk2">203.0.114.12',
    path: '/cluster/members/host[2]/address[2]',
    message: /outside 203.0.113.0\/24, the subnet of vmk2 on esx01.example.com/,
  },
  {
    rule: 'address is the broadcast address',
    edits: [['>192.0.2.12<', '>192.0.2.255<']],
    at: '<address vmk="vmk0">192.0.2.255',
    path: '/cluster/members/host[2]/address[1]',
    message: /broadcast address of 192.0.2.0\/24/,
  },
  {
    rule: 'static address inside a pool',
    edits: [
      [
        'start="198.51.100.10" end="198.51.100.13" netmask="255.255.255.0" gateway="198.51.100.1"',
        'start="203.0.113.10" end="203.0.113.13" netmask="255.255.255.0"',
      ],
    ],
    at: '<address vmk="vmk2">203.0.113.11',
    path: '/cluster/members/host[1]/address[2]',
    message: /address 203.0.113.11 lies in address pool "vmotion-pool"/,
  },
  {
    rule: 'UUID listed twice in one file',
    edits: [['b3c04f4e3102', 'b3c04f4e3101']],
    at: 'uuid="4c4c4544-0042-3510-8052-b3c04f4e3101" image',
    path: '/cluster/members/host[2]/@uuid',
    message: /UUID 4c4c4544-0042-3510-8052-b3c04f4e3101 is already used by esx01.example.com$/,
  },
  {
    rule: 'UUID listed twice in the other byte order',
    edits: [
      [
        'uuid="4c4c4544-0042-3510-8052-b3c04f4e3102"',
        `uuid="${swapUuidByteOrder('4c4c4544-0042-3510-8052-b3c04f4e3101')}"`,
      ],
    ],
    at: `uuid="${swapUuidByteOrder('4c4c4544-0042-3510-8052-b3c04f4e3101')}"`,
    path: '/cluster/members/host[2]/@uuid',
    message: /in the other byte order/,
  },
  {
    rule: 'FQDN listed twice (case-insensitive)',
    edits: [['fqdn="esx02.example.com"', 'fqdn="ESX01.example.com"']],
    at: 'fqdn="ESX01',
    path: '/cluster/members/host[2]/@fqdn',
    message: /FQDN esx01.example.com is listed twice/,
  },
  {
    rule: 'MAC listed twice',
    edits: [['image="ESXi-8.0U3-pinned"', 'image="ESXi-8.0U3-pinned" mac="00:50:56:00:00:01"']],
    at: 'mac="00:50:56:00:00:01"\n',
    path: '/cluster/members/host[2]/@mac',
    message: /MAC 00:50:56:00:00:01 is already used by esx01/,
  },
  {
    rule: 'NTP server listed twice',
    edits: [['<server>192.0.2.123</server>', '<server>NTP1.example.com</server>']],
    at: '<server>NTP1',
    path: '/cluster/ntp/server[2]',
    message: /NTP server ntp1.example.com is listed twice/,
  },
  {
    rule: 'advanced setting set twice',
    edits: [
      ['key="Misc.Enable"', 'key="Net.TcpipHeapSize"'],
      ['value="true" type="boolean"', 'value="33" type="int"'],
    ],
    at: 'key="Net.TcpipHeapSize" value="33"',
    path: '/cluster/advanced/setting[4]/@key',
    message: /Net.TcpipHeapSize is set twice \(first at setting\[2\]\)/,
  },
  {
    rule: 'advanced int value not an integer',
    edits: [['value="32" type="int"', 'value="lots" type="int"']],
    at: 'value="lots"',
    path: '/cluster/advanced/setting[2]/@value',
    message: /"lots" of Net.TcpipHeapSize is not a 32-bit integer/,
  },
  {
    rule: 'advanced int value out of 32-bit range',
    edits: [['value="32" type="int"', 'value="4294967296" type="int"']],
    at: 'value="4294967296"',
    path: '/cluster/advanced/setting[2]/@value',
    message: /not a 32-bit integer/,
  },
  {
    rule: 'advanced boolean value not true/false',
    edits: [['value="true" type="boolean"', 'value="yes" type="boolean"']],
    at: 'value="yes"',
    path: '/cluster/advanced/setting[4]/@value',
    message: /"yes" of Misc.Enable is not true or false/,
  },
];

describe('cluster semantics: one rule per case, with position', () => {
  it('the fixture itself is valid', async () => {
    const { r } = await load([], { vcenters: ['vc-test'], credentials: ['esxi-root'], imageExists: () => true });
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
  });

  for (const c of CASES) {
    it(c.rule, async () => {
      const { text, r } = await load(c.edits, c.context);
      expect(r.cluster).toBeUndefined();
      const hit = r.diagnostics.find((d) => d.path === c.path && c.message.test(d.message));
      expect(hit, `diagnostics were:\n${r.diagnostics.map(formatDiagnostic).join('\n')}`).toBeDefined();
      expect({ line: hit!.line, column: hit!.column, file: hit!.file }).toEqual({ ...posOf(text, c.at), file: FILE });
    });
  }

  it('collects every problem, not only the first', async () => {
    const { r } = await load(
      [
        ['<uplink>vmnic2</uplink>', '<uplink>vmnic1</uplink>'],
        ['vswitch="vSwitch1" vlan="30"', 'vswitch="vSwitch9" vlan="30"'],
        ['>192.0.2.12<', '>192.0.2.11<'],
        ['value="true" type="boolean"', 'value="maybe" type="boolean"'],
      ],
      { vcenters: [] },
    );
    const paths = r.diagnostics.map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/cluster/vcenter',
        '/cluster/network/vswitch[2]/uplink[1]',
        '/cluster/network/portgroup[3]/@vswitch',
        '/cluster/members/host[2]/address[1]',
        '/cluster/advanced/setting[4]/@value',
      ]),
    );
  });
});

describe('cluster semantics across files', () => {
  const second = (edits: Edit[]) => {
    let t = fixture('minimal.xml');
    for (const [a, b] of edits) t = mutate(t, a, b);
    return t;
  };
  const both = async (otherText: string) => {
    const results = await loadClusterTexts([
      { file: '/clusters/a.xml', text: fixture('base.xml') },
      { file: '/clusters/b.xml', text: otherText },
    ]);
    for (const r of results) expect(r.diagnostics).toEqual([]);
    const files: CheckedFile[] = results.map((r) => ({ cluster: r.cluster!, index: r.index! }));
    return { text: otherText, diagnostics: checkAcrossFiles(files) };
  };

  it('reports a UUID that is a member of two clusters, in both files', async () => {
    const { text, diagnostics } = await both(
      second([
        [
          '<members/>',
          '<members>\n    <host fqdn="esx77.example.com" uuid="4c4c4544-0042-3510-8052-b3c04f4e3102"/>\n  </members>',
        ],
      ]),
    );
    const inB = diagnostics.find((d) => d.file === '/clusters/b.xml')!;
    const inA = diagnostics.find((d) => d.file === '/clusters/a.xml')!;
    expect(inB).toMatchObject({ path: '/cluster/members/host[1]/@uuid', ...posOf(text, 'uuid=') });
    expect(inB.message).toMatch(/also a member of cluster "fx-cluster" \(\/clusters\/a.xml, esx02.example.com\)/);
    expect(inA).toMatchObject({ path: '/cluster/members/host[2]/@uuid', line: 76 });
    expect(inA.message).toMatch(/also a member of cluster "fx-minimal"/);
  });

  it('reports the same UUID written in the other byte order', async () => {
    const swapped = swapUuidByteOrder('4c4c4544-0042-3510-8052-b3c04f4e3101');
    const { diagnostics } = await both(
      second([['<members/>', `<members><host fqdn="esx78.example.com" uuid="${swapped.toUpperCase()}"/></members>`]]),
    );
    expect(diagnostics.filter((d) => /UUID .* is also a member/.test(d.message))).toHaveLength(2);
  });

  it('reports an FQDN and a cluster name used by two files', async () => {
    const { diagnostics } = await both(
      second([
        ['name="fx-minimal"', 'name="fx-cluster"'],
        [
          '<members/>',
          '<members><host fqdn="esx01.example.com" uuid="99999999-2222-3333-4444-555555555501"/></members>',
        ],
      ]),
    );
    expect(diagnostics.map((d) => `${d.file} ${d.path}`).sort()).toEqual([
      '/clusters/a.xml /cluster/@name',
      '/clusters/a.xml /cluster/members/host[1]/@fqdn',
      '/clusters/b.xml /cluster/@name',
      '/clusters/b.xml /cluster/members/host[1]/@fqdn',
    ]);
  });

  it('finds nothing between unrelated files', async () => {
    const { diagnostics } = await both(fixture('minimal.xml'));
    expect(diagnostics).toEqual([]);
  });
});
