/**
 * `<boot mode=… kickstartTemplate=…/>` and `host/@bootMode` in cluster files: schema order and
 * values (file:line:column), the parsed model, the member override, the template path confined
 * to the clusters directory, and template errors reported with the template's file and line.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadClusterFiles, loadClusterText } from '../../src/clusters/load.js';
import { formatDiagnostic } from '../../src/clusters/diagnostics.js';
import { memberBootMode } from '../../src/clusters/boot-mode.js';
import { checkKickstartTemplate } from '../../src/clusters/kickstart.js';
import { clusterLookups, fixedClusterFiles } from '../../src/app/cluster-lookups.js';
import { DEFAULT_KICKSTART_TEMPLATE } from '../../src/boot/render/kickstart.js';
import { posOf } from '../fixtures/clusters/helpers.js';

const U1 = '4c4c4544-0031-3010-8031-b1c04f4d3331';
const U2 = '4c4c4544-0031-3010-8031-b1c04f4d3332';
const U3 = '4c4c4544-0031-3010-8031-b1c04f4d3333';

/** A minimal cluster file with `boot` (an element line or '') and three members. */
function clusterXml(boot: string, hostAttrs: [string, string, string] = ['', '', '']): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="ks-cluster">
  <datacenter>DC0</datacenter>
  <vcenter>vc1</vcenter>
  <credentials>esx</credentials>
  <defaultImage>ESXi-8.0U3</defaultImage>
  ${boot}
  <members>
    <host fqdn="esx1.example.com" uuid="${U1}"${hostAttrs[0]}/>
    <host fqdn="esx2.example.com" uuid="${U2}"${hostAttrs[1]}/>
    <host fqdn="esx3.example.com" uuid="${U3}"${hostAttrs[2]}/>
  </members>
</cluster>
`;
}

const GOOD_TEMPLATE = `# prod kickstart for <%= it.uuid %>
vmaccepteula
install --firstdisk=local --overwritevmfs
network --bootproto=dhcp --device=<%= it.mac %>
reboot

<%= it.firstboot %>`;

let dir: string;
let clustersDir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sx-ks-'));
  clustersDir = join(dir, 'clusters');
  mkdirSync(join(clustersDir, 'templates'), { recursive: true });
  writeFileSync(join(clustersDir, 'templates', 'prod-ks.cfg'), GOOD_TEMPLATE);
  writeFileSync(join(dir, 'outside-ks.cfg'), GOOD_TEMPLATE);
  symlinkSync(join(dir, 'outside-ks.cfg'), join(clustersDir, 'templates', 'escape.cfg'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `name.xml` into the clusters directory and loads it from disk. */
async function load(name: string, xml: string) {
  const file = join(clustersDir, `${name}.xml`);
  writeFileSync(file, xml);
  const [r] = await loadClusterFiles([file]);
  return { r: r!, file, xml };
}

describe('cluster boot mode', () => {
  it('without <boot> every member is stateless and the model carries no boot field', async () => {
    const { r } = await load('plain', clusterXml(''));
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(r.cluster!.boot).toBeUndefined();
    expect(r.cluster!.hosts.map((h) => memberBootMode(r.cluster!, h))).toEqual(['stateless', 'stateless', 'stateless']);
    const lookup = clusterLookups(fixedClusterFiles([r.cluster!])).policy;
    expect(lookup(U1)).toEqual({ cluster: 'ks-cluster', defaultImage: 'ESXi-8.0U3' });
  });

  it('mode="stateful" with a template: the template is loaded, members follow the cluster unless they override', async () => {
    const { r } = await load(
      'stateful',
      clusterXml('<boot mode="stateful" kickstartTemplate="templates/prod-ks.cfg"/>', [
        '',
        ' bootMode="stateless"',
        ' bootMode="stateful"',
      ]),
    );
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    const c = r.cluster!;
    expect(c.boot).toEqual({
      mode: 'stateful',
      kickstartTemplate: 'templates/prod-ks.cfg',
      kickstart: { file: join(clustersDir, 'templates', 'prod-ks.cfg'), text: GOOD_TEMPLATE },
    });
    expect(c.hosts.map((h) => h.bootMode ?? null)).toEqual([null, 'stateless', 'stateful']);
    expect(c.hosts.map((h) => memberBootMode(c, h))).toEqual(['stateful', 'stateless', 'stateful']);
    const lookup = clusterLookups(fixedClusterFiles([c])).policy;
    expect(lookup(U1)?.stateful).toBe(true);
    expect(lookup(U2)?.stateful).toBeUndefined();
    expect(lookup(U3)?.stateful).toBe(true);
  });

  it('a stateless cluster can make one member stateful (built-in template: no kickstartTemplate)', async () => {
    const { r } = await load('one-stateful', clusterXml('<boot/>', ['', '', ' bootMode="stateful"']));
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(r.cluster!.boot).toEqual({ mode: 'stateless' });
    expect(r.cluster!.hosts.map((h) => memberBootMode(r.cluster!, h))).toEqual(['stateless', 'stateless', 'stateful']);
  });

  it('the XSD refuses an unknown mode and <boot> out of order, at file:line:column', async () => {
    const bad = clusterXml('<boot mode="diskful"/>');
    const r1 = await loadClusterText(bad, '/c/bad-mode.xml');
    const at = posOf(bad, 'mode="diskful"');
    expect(r1.diagnostics.map(formatDiagnostic)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^/c/bad-mode.xml:${at.line}:${at.column}: /cluster/boot/@mode: .*'diskful' is not an element of the set \\{'stateless', 'stateful'\\}`,
        ),
      ),
    ]);
    const late = clusterXml('').replace('  </members>\n', '  </members>\n  <boot mode="stateful"/>\n');
    const r2 = await loadClusterText(late, '/c/late.xml');
    const el = posOf(late, '<boot mode');
    expect(r2.diagnostics.map(formatDiagnostic)).toEqual([
      expect.stringMatching(new RegExp(`^/c/late.xml:${el.line}:${el.column}: /cluster/boot: .*boot.*not expected`)),
    ]);
    const member = clusterXml('', [' bootMode="stateles"', '', '']);
    const r3 = await loadClusterText(member, '/c/member.xml');
    const ma = posOf(member, 'bootMode="stateles"');
    expect(r3.diagnostics.map(formatDiagnostic)).toEqual([
      expect.stringMatching(
        new RegExp(`^/c/member.xml:${ma.line}:${ma.column}: /cluster/members/host\\[1\\]/@bootMode: `),
      ),
    ]);
  });
});

describe('kickstart template path', () => {
  const refused: Array<[string, RegExp]> = [
    [
      '../outside-ks.cfg',
      /kickstartTemplate "\.\.\/outside-ks\.cfg" resolves to .*outside-ks\.cfg, outside the clusters directory .*clusters: templates must be inside it$/,
    ],
    ['templates/../../outside-ks.cfg', /outside the clusters directory/],
    ['/etc/passwd', /kickstartTemplate "\/etc\/passwd" must be a path relative to the cluster file's directory/],
    ['templates\\prod-ks.cfg', /must be a path relative .* with \/ separators/],
    [
      'templates/escape.cfg',
      /kickstartTemplate "templates\/escape\.cfg" is a symbolic link to .*outside-ks\.cfg, outside the clusters directory/,
    ],
    [
      'templates/missing.cfg',
      /kickstartTemplate "templates\/missing\.cfg": cannot read .*templates\/missing\.cfg: no such file$/,
    ],
    ['templates', /is not a regular file$/],
  ];
  for (const [ref, message] of refused) {
    it(`refuses ${JSON.stringify(ref)} at load, naming the file and the field`, async () => {
      const { r, file, xml } = await load('refused', clusterXml(`<boot mode="stateful" kickstartTemplate="${ref}"/>`));
      expect(r.cluster).toBeUndefined();
      const at = posOf(xml, 'kickstartTemplate=');
      expect(r.diagnostics).toHaveLength(1);
      const d = r.diagnostics[0]!;
      expect({ file: d.file, line: d.line, column: d.column, path: d.path }).toEqual({
        file,
        line: at.line,
        column: at.column,
        path: '/cluster/boot/@kickstartTemplate',
      });
      expect(d.message).toMatch(message);
    });
  }
});

describe('kickstart template check', () => {
  const broken: Array<[string, string, RegExp]> = [
    ['unclosed tag', 'vmaccepteula\n<%= it.firstboot %>\n<%= it.uuid \n', /:3:1: unclosed tag$/],
    [
      'a tag running into the next one',
      'vmaccepteula\ninstall --firstdisk\n<%= it.uuid \n<%= it.firstboot %>',
      /:3: JavaScript syntax error in a tag: Unexpected token '%='$/,
    ],
    [
      'JavaScript syntax error in a tag',
      'vmaccepteula\nreboot\n<%= it.uuid + %>\n<%= it.firstboot %>',
      /:3: JavaScript syntax error in a tag: /,
    ],
    [
      'error thrown while rendering',
      'vmaccepteula\n\n\n<%= it.disk.name %>\n<%= it.firstboot %>',
      /:4: Cannot read properties of undefined \(reading 'name'\)$/,
    ],
    [
      'no %firstboot',
      'vmaccepteula\ninstall --firstdisk\nreboot\n',
      /does not output <%= it.firstboot %>.*never phone home$/,
    ],
  ];
  for (const [what, text, message] of broken) {
    it(`reports ${what} with the template's file and line`, async () => {
      writeFileSync(join(clustersDir, 'templates', 'broken.cfg'), text);
      const { r, file } = await load(
        'broken',
        clusterXml('<boot mode="stateful" kickstartTemplate="templates/broken.cfg"/>'),
      );
      expect(r.cluster).toBeUndefined();
      expect(r.diagnostics.map((d) => `${d.file} ${d.path}`)).toEqual([`${file} /cluster/boot/@kickstartTemplate`]);
      expect(r.diagnostics[0]!.message).toMatch(
        new RegExp(
          `^kickstart template ${join(clustersDir, 'templates', 'broken.cfg').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`,
        ),
      );
      expect(r.diagnostics[0]!.message).toMatch(message);
    });
  }

  it('the built-in template passes the same check', () => {
    expect(checkKickstartTemplate(DEFAULT_KICKSTART_TEMPLATE)).toBeUndefined();
    expect(checkKickstartTemplate(GOOD_TEMPLATE)).toBeUndefined();
  });
});
