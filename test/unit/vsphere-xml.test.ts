/**
 * The vim25 serializer (WSDL member order from the schema table, xsi:type on polymorphic members,
 * XML escaping, required/unknown member checks) and fault parsing of vCenter fault bodies
 * (test/fixtures/vsphere, see its README for their provenance).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AlreadyExists,
  DuplicateName,
  faultFromSoap,
  InvalidArgument,
  InvalidLogin,
  InvalidRequest,
  ManagedObjectNotFound,
  NotAuthenticated,
  NotFound,
  ResourceInUse,
  SSLVerifyFault,
  HostConnectFault,
  VsphereFault,
} from '../../src/vsphere/faults.js';
import { decodeRetrieveResult } from '../../src/vsphere/ops.js';
import { taskSnapshot } from '../../src/vsphere/tasks.js';
import {
  decode,
  envelope,
  escapeXml,
  first,
  parseXml,
  serializeCall,
  serializeDataObject,
  VsphereSerializeError,
} from '../../src/vsphere/xml.js';

const fixture = (f: string): string => readFileSync(resolve(import.meta.dirname, '../fixtures/vsphere', f), 'utf8');
const body = (f: string) => first(first(parseXml(fixture(f)), 'Envelope'), 'Body');

/** Child element names of the first element named `tag` in `xml`, in document order. */
function childOrder(xml: string, tag: string): string[] {
  const start = xml.indexOf(`<${tag}`);
  const open = xml.indexOf('>', start) + 1;
  const names: string[] = [];
  let depth = 0;
  const re = /<(\/?)([A-Za-z_][\w]*)[^>]*?(\/?)>/g;
  re.lastIndex = open;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    if (m[1] === '/') {
      if (depth === 0) break;
      depth--;
    } else {
      if (depth === 0) names.push(m[2]!);
      if (m[3] !== '/') depth++;
    }
  }
  return names;
}

describe('vim25 serializer', () => {
  it('emits members in WSDL order whatever the object key order', () => {
    const xml = serializeDataObject('portgrp', 'HostPortGroupSpec', {
      policy: {},
      vswitchName: 'vSwitch0',
      vlanId: 10,
      name: 'pg',
    });
    expect(childOrder(xml, 'portgrp')).toEqual(['name', 'vlanId', 'vswitchName', 'policy']);
    const spec = serializeDataObject('spec', 'HostConnectSpec', {
      force: false,
      password: 'p',
      userName: 'root',
      sslThumbprint: 'AA',
      hostName: 'h',
    });
    expect(childOrder(spec, 'spec')).toEqual(['hostName', 'sslThumbprint', 'userName', 'password', 'force']);
    const tp = serializeDataObject('nicTeaming', 'HostNicTeamingPolicy', {
      nicOrder: { standbyNic: ['vmnic1'], activeNic: ['vmnic0'] },
      failureCriteria: { checkBeacon: true },
      rollingOrder: false,
      notifySwitches: true,
      policy: 'failover_explicit',
    });
    expect(childOrder(tp, 'nicTeaming')).toEqual([
      'policy',
      'notifySwitches',
      'rollingOrder',
      'failureCriteria',
      'nicOrder',
    ]);
    expect(childOrder(tp, 'nicOrder')).toEqual(['activeNic', 'standbyNic']);
  });

  it('puts base type members first and xsi:type on polymorphic members and subtypes', () => {
    const call = serializeCall(
      'ReconfigureComputeResource_Task',
      { type: 'ClusterComputeResource', value: 'domain-c7' },
      {
        modify: true,
        spec: {
          _type: 'ClusterConfigSpecEx',
          dpmConfig: { enabled: true },
          dasConfig: {
            defaultVmSettings: { isolationResponse: 'powerOff', restartPriority: 'high' },
            admissionControlPolicy: {
              _type: 'ClusterFailoverResourcesAdmissionControlPolicy',
              memoryFailoverResourcesPercent: 30,
              cpuFailoverResourcesPercent: 25,
            },
            enabled: true,
          },
          drsConfig: { vmotionRate: 3, enabled: true },
          vmSwapPlacement: 'vmDirectory',
        },
      },
    );
    expect(call).toMatch(
      /^<ReconfigureComputeResource_Task xmlns="urn:vim25"><_this type="ClusterComputeResource">domain-c7<\/_this><spec xsi:type="ClusterConfigSpecEx">/,
    );
    expect(childOrder(call, 'ReconfigureComputeResource_Task')).toEqual(['_this', 'spec', 'modify']);
    expect(childOrder(call, 'spec')).toEqual(['vmSwapPlacement', 'dasConfig', 'drsConfig', 'dpmConfig']);
    expect(childOrder(call, 'dasConfig')).toEqual(['enabled', 'admissionControlPolicy', 'defaultVmSettings']);
    expect(call).toContain(
      '<admissionControlPolicy xsi:type="ClusterFailoverResourcesAdmissionControlPolicy"><cpuFailoverResourcesPercent>25</cpuFailoverResourcesPercent><memoryFailoverResourcesPercent>30</memoryFailoverResourcesPercent></admissionControlPolicy>',
    );
    expect(call).toContain(
      '<defaultVmSettings><restartPriority>high</restartPriority><isolationResponse>powerOff</isolationResponse></defaultVmSettings>',
    );

    const sw = serializeDataObject('spec', 'HostVirtualSwitchSpec', {
      mtu: 9000,
      bridge: { _type: 'HostVirtualSwitchBondBridge', nicDevice: ['vmnic2', 'vmnic3'] },
      numPorts: 128,
    });
    expect(sw).toBe(
      '<spec><numPorts>128</numPorts><bridge xsi:type="HostVirtualSwitchBondBridge"><nicDevice>vmnic2</nicDevice><nicDevice>vmnic3</nicDevice></bridge><mtu>9000</mtu></spec>',
    );

    const rp = serializeCall(
      'RetrievePropertiesEx',
      { type: 'PropertyCollector', value: 'propertyCollector' },
      {
        specSet: [
          {
            propSet: [{ type: 'HostSystem', pathSet: ['name', 'vm'] }],
            objectSet: [
              {
                obj: { type: 'ClusterComputeResource', value: 'domain-c7' },
                skip: false,
                selectSet: [
                  { _type: 'TraversalSpec', skip: false, path: 'host', type: 'ClusterComputeResource', name: 'h' },
                ],
              },
            ],
          },
        ],
        options: {},
      },
    );
    expect(rp).toContain(
      '<selectSet xsi:type="TraversalSpec"><name>h</name><type>ClusterComputeResource</type><path>host</path><skip>false</skip></selectSet>',
    );
    expect(rp).toContain('<options></options>');
  });

  it('types anyType values (OptionValue.value) with xsi:type and keeps them typed', () => {
    const xml = serializeCall(
      'UpdateOptions',
      { type: 'OptionManager', value: 'om-1' },
      {
        changedValue: [
          { key: 'Net.TcpipHeapSize', value: { xsdType: 'xsd:int', value: 32 } },
          { key: 'UserVars.X', value: { xsdType: 'xsd:boolean', value: true } },
        ],
      },
    );
    expect(xml).toContain(
      '<changedValue xsi:type="OptionValue"><key>Net.TcpipHeapSize</key><value xsi:type="xsd:int">32</value></changedValue>',
    );
    expect(xml).toContain('<value xsi:type="xsd:boolean">true</value>');
    expect(() =>
      serializeCall(
        'UpdateOptions',
        { type: 'OptionManager', value: 'om-1' },
        { changedValue: [{ key: 'k', value: { xsdType: 'xsd:int', value: 1.5 } }] },
      ),
    ).toThrow(VsphereSerializeError);
  });

  it('escapes <&>"\' in values and attributes', () => {
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
    const xml = serializeCall(
      'Login',
      { type: 'SessionManager', value: 'Session"Manager' },
      { userName: 'u<&>', password: `p"'<&>` },
    );
    expect(xml).toBe(
      '<Login xmlns="urn:vim25"><_this type="SessionManager">Session&quot;Manager</_this>' +
        '<userName>u&lt;&amp;&gt;</userName><password>p&quot;&apos;&lt;&amp;&gt;</password></Login>',
    );
    // and it parses back to the same text
    const parsed = parseXml(envelope(xml));
    const login = first(first(first(parsed, 'Envelope'), 'Body'), 'Login');
    expect(decode(first(login, 'password'), 'string')).toBe(`p"'<&>`);
  });

  it('refuses unknown members, missing required members, wrong types and non-subtypes, naming the path', () => {
    expect(() =>
      serializeDataObject('portgrp', 'HostPortGroupSpec', {
        name: 'a',
        vlanId: 1,
        vswitchName: 's',
        policy: {},
        color: 'blue',
      }),
    ).toThrow(/portgrp\.color: HostPortGroupSpec has no member "color"/);
    expect(() =>
      serializeDataObject('portgrp', 'HostPortGroupSpec', { name: 'a', vlanId: 1, vswitchName: 's' }),
    ).toThrow(/portgrp\.policy: required member of HostPortGroupSpec is missing/);
    expect(() =>
      serializeDataObject('portgrp', 'HostPortGroupSpec', { name: 'a', vlanId: '1', vswitchName: 's', policy: {} }),
    ).toThrow(/portgrp\.vlanId: expected an integer/);
    expect(() =>
      serializeDataObject('spec', 'HostVirtualSwitchSpec', { numPorts: 1, bridge: { _type: 'HostNetworkPolicy' } }),
    ).toThrow(/HostNetworkPolicy is not a subtype of HostVirtualSwitchBridge/);
    expect(() => serializeCall('NoSuchMethod', { type: 'X', value: 'y' })).toThrow(/not in the schema table/);
  });
});

describe('vim25 fault parsing (vCenter fault bodies)', () => {
  const cases: Array<[string, new (...a: never[]) => VsphereFault, string, Record<string, unknown>]> = [
    ['fault-invalidlogin.xml', InvalidLogin, 'InvalidLogin', {}],
    [
      'fault-notauthenticated.xml',
      NotAuthenticated,
      'NotAuthenticated',
      { object: { type: 'Folder', value: 'group-d1' }, privilegeId: 'System.View' },
    ],
    [
      'fault-duplicatename.xml',
      DuplicateName,
      'DuplicateName',
      { name: 'prod', object: { type: 'ClusterComputeResource', value: 'domain-c7' } },
    ],
    ['fault-invalidrequest.xml', InvalidRequest, 'InvalidRequest', {}],
    ['fault-invalidargument.xml', InvalidArgument, 'InvalidArgument', { invalidProperty: 'portgrp.vlanId' }],
    ['fault-resourceinuse.xml', ResourceInUse, 'ResourceInUse', { type: 'PhysicalNic', name: 'vmnic0' }],
    ['fault-alreadyexists.xml', AlreadyExists, 'AlreadyExists', { name: 'vSwitch1' }],
    ['fault-notfound.xml', NotFound, 'NotFound', {}],
    [
      'fault-managedobjectnotfound.xml',
      ManagedObjectNotFound,
      'ManagedObjectNotFound',
      { obj: { type: 'Task', value: 'task-9999' } },
    ],
  ];
  for (const [file, cls, name, details] of cases) {
    it(`${file} → ${name}`, () => {
      const f = faultFromSoap(first(body(file), 'Fault')!, 'SomeMethod');
      expect(f).toBeInstanceOf(cls);
      expect(f).toBeInstanceOf(VsphereFault);
      expect(f.faultName).toBe(name);
      expect(f.details).toEqual(details);
      expect(f.faultString.length).toBeGreaterThan(0);
      expect(f.message).toContain('SomeMethod');
    });
  }

  it("keeps vpxd's multi-line faultstring and decoded entities", () => {
    const f = faultFromSoap(first(body('fault-invalidrequest.xml'), 'Fault')!);
    expect(f.faultString).toMatch(
      /^Unexpected element tag "name" seen\nwhile parsing serialized DataObject of type vim.host.PortGroup.Specification/,
    );
    expect(faultFromSoap(first(body('fault-duplicatename.xml'), 'Fault')!).faultString).toBe(
      "The name 'prod' already exists.",
    );
    expect((faultFromSoap(first(body('fault-invalidargument.xml'), 'Fault')!) as InvalidArgument).invalidProperty).toBe(
      'portgrp.vlanId',
    );
  });

  it('decodes XML character references in a fault string (Go writes an apostrophe as &#39;), leaves HTML names alone', () => {
    const xml = envelope(
      `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>The resource &#39;VM&#x20;Network&#39; is in use &amp;#39; &nbsp;</faultstring><detail><ResourceInUseFault xmlns="urn:vim25" xsi:type="ResourceInUse"><name>VM Network</name></ResourceInUseFault></detail></soapenv:Fault>`,
    );
    const f = faultFromSoap(first(first(first(parseXml(xml), 'Envelope'), 'Body'), 'Fault')!, 'RemovePortGroup');
    expect(f).toBeInstanceOf(ResourceInUse);
    expect(f.faultString).toBe("The resource 'VM Network' is in use &#39; &nbsp;");
  });

  it('turns a task error into the typed fault with the host thumbprint (AddHost_Task SSLVerifyFault)', () => {
    const rr = first(
      first(body('retrievepropertiesex-task-sslverifyfault.xml'), 'RetrievePropertiesExResponse'),
      'returnval',
    );
    const val = first(first(first(rr, 'objects'), 'propSet'), 'val');
    const snap = taskSnapshot(val, 'AddHost_Task');
    expect(snap.info.state).toBe('error');
    expect(snap.fault).toBeInstanceOf(SSLVerifyFault);
    expect(snap.fault).toBeInstanceOf(HostConnectFault);
    expect((snap.fault as SSLVerifyFault).thumbprint).toBe(
      '5E:2B:7C:11:9A:0D:44:C3:8F:61:E2:07:B9:3A:D5:6C:10:FE:82:4B',
    );
    expect((snap.fault as SSLVerifyFault).selfSigned).toBe(true);
    expect(snap.fault!.faultString).toBe("Authenticity of the host's SSL certificate is not verified.");
    // the whole RetrieveResult decodes to plain typed values too
    const decoded = decodeRetrieveResult(rr);
    expect(decoded.objects[0]!.obj).toEqual({ type: 'Task', value: 'task-1041' });
    expect(decoded.objects[0]!.props.info).toMatchObject({
      state: 'error',
      cancelled: false,
      eventChainId: 88120,
      entity: { type: 'ClusterComputeResource', value: 'domain-c7' },
    });
  });
});
