/**
 * `<boot mode=… kickstartTemplate=…/>` and `host/@bootMode` in cluster files: schema order and
 * values (file:line:column), the parsed model, the member override, the template path confined
 * to the templates directory (never a cluster file), and template errors reported with the
 * template's file and line. Templates are logic-less Mustache: loading one runs no code (an Eta
 * template with JavaScript used to run it at load), and tags reaching past the fields are refused.
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

const GOOD_TEMPLATE = `# prod kickstart for {{uuid}}
vmaccepteula
install --firstdisk=local --overwritevmfs
network --bootproto=dhcp --device={{mac}}
reboot

{{firstboot}}`;

let dir: string;
let clustersDir: string;
/** `templates` beside the clusters directory: the default layout (templates-dir ./templates). */
let templatesDir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sx-ks-'));
  clustersDir = join(dir, 'clusters');
  templatesDir = join(dir, 'templates');
  mkdirSync(clustersDir, { recursive: true });
  mkdirSync(join(templatesDir, 'sub'), { recursive: true });
  writeFileSync(join(templatesDir, 'prod-ks.cfg'), GOOD_TEMPLATE);
  writeFileSync(join(dir, 'outside-ks.cfg'), GOOD_TEMPLATE);
  symlinkSync(join(dir, 'outside-ks.cfg'), join(templatesDir, 'escape.cfg'));
  // A cluster file as a template: by name, and behind a symbolic link with another name.
  writeFileSync(join(templatesDir, 'looks-like.xml'), GOOD_TEMPLATE);
  writeFileSync(join(clustersDir, 'written-by-api.xml'), `<!-- ${GOOD_TEMPLATE} -->`);
  symlinkSync(join(clustersDir, 'written-by-api.xml'), join(templatesDir, 'via-link.cfg'));
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
      clusterXml('<boot mode="stateful" kickstartTemplate="prod-ks.cfg"/>', [
        '',
        ' bootMode="stateless"',
        ' bootMode="stateful"',
      ]),
    );
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    const c = r.cluster!;
    expect(c.boot).toEqual({
      mode: 'stateful',
      kickstartTemplate: 'prod-ks.cfg',
      kickstart: { file: join(templatesDir, 'prod-ks.cfg'), text: GOOD_TEMPLATE },
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

  it('boot/@firstDisk and @overwriteVmfs: absent by default, parsed when the file says so', async () => {
    const { r } = await load(
      'disks',
      clusterXml('<boot mode="stateful" firstDisk="local,remote,usb" overwriteVmfs="true"/>'),
    );
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(r.cluster!.boot).toEqual({ mode: 'stateful', firstDisk: ['local', 'remote', 'usb'], overwriteVmfs: true });
    const { r: plain } = await load('disks-default', clusterXml('<boot mode="stateful"/>'));
    expect(plain.cluster!.boot).toEqual({ mode: 'stateful' });
  });

  for (const [attr, value] of [
    ['firstDisk', 'san'],
    ['firstDisk', 'local, usb'],
    ['firstDisk', ''],
    ['overwriteVmfs', 'yes'],
  ] as const) {
    it(`the XSD refuses ${attr}="${value}" at file:line:column, naming the field`, async () => {
      const xml = clusterXml(`<boot mode="stateful" ${attr}="${value}"/>`);
      const r = await loadClusterText(xml, '/c/disks.xml');
      const at = posOf(xml, `${attr}="`);
      expect(r.diagnostics.map(formatDiagnostic)).toEqual([
        expect.stringMatching(new RegExp(`^/c/disks.xml:${at.line}:${at.column}: /cluster/boot/@${attr}: `)),
      ]);
      expect(r.cluster).toBeUndefined();
    });
  }

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
      /kickstartTemplate "\.\.\/outside-ks\.cfg" resolves to .*outside-ks\.cfg, outside the templates directory .*templates \(templates-dir\): templates must be inside it$/,
    ],
    ['sub/../../outside-ks.cfg', /outside the templates directory/],
    // The clusters directory (where PUT /api/v1/clusters/:name/xml writes) is not the templates directory.
    ['../clusters/written-by-api.xml', /outside the templates directory/],
    ['looks-like.xml', /kickstartTemplate "looks-like\.xml" is an \.xml file: cluster files are never templates$/],
    [
      'via-link.cfg',
      /kickstartTemplate "via-link\.cfg" is a symbolic link to .*written-by-api\.xml, outside the templates directory/,
    ],
    ['/etc/passwd', /kickstartTemplate "\/etc\/passwd" must be a path relative to the templates directory/],
    ['sub\\prod-ks.cfg', /must be a path relative .* with \/ separators/],
    [
      'escape.cfg',
      /kickstartTemplate "escape\.cfg" is a symbolic link to .*outside-ks\.cfg, outside the templates directory/,
    ],
    ['missing.cfg', /kickstartTemplate "missing\.cfg": cannot read .*templates\/missing\.cfg: no such file$/],
    ['sub', /is not a regular file$/],
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
    ['unclosed tag', 'vmaccepteula\n{{firstboot}}\n{{uuid \n', /:3:1: unclosed tag$/],
    ['unclosed section', 'vmaccepteula\n{{firstboot}}\n\n{{#mac}}\n', /:4:1: unclosed section "mac"$/],
    ['unopened section', 'vmaccepteula\n{{firstboot}}\n{{/mac}}\n', /:3:1: unopened section "mac"$/],
    [
      'an unknown field',
      'vmaccepteula\nreboot\n  {{disk}}\n{{firstboot}}',
      /:3:3: unknown field "disk": kickstart templates may use uuid, mac, cluster, image, server, token, firstboot, initiator, rootpw, firstdisk, overwritevmfs$/,
    ],
    // mustache.js resolves dotted names through the prototype chain (uuid.constructor.constructor is Function).
    [
      'a dotted name',
      'vmaccepteula\n{{uuid.constructor.constructor}}\n{{firstboot}}',
      /:2:1: unknown field "uuid\.constructor\.constructor"/,
    ],
    ['a prototype name', '{{#__proto__}}x{{/__proto__}}\n{{firstboot}}', /:1:1: unknown field "__proto__"/],
    ['a partial', 'vmaccepteula\n{{> other}}\n{{firstboot}}', /:2:1: partials \(\{\{> other\}\}\) are not supported/],
    [
      '{{.}} outside a section',
      '{{.}}\n{{firstboot}}',
      /:1:1: \{\{\.\}\} is only allowed inside a \{\{#field\}\} section/,
    ],
    [
      'an Eta template',
      'vmaccepteula\n\n\nnetwork --device=<%= it.mac ?? "vmnic0" %>\n<%= it.firstboot %>',
      /:4:18: Eta syntax "<%= it\.mac \?\? \\"vmnic0\\" %>": kickstart templates are Mustache now, not Eta .*write \{\{firstboot\}\} for <%= it\.firstboot %>/,
    ],
    [
      'no %firstboot',
      'vmaccepteula\ninstall --firstdisk\nreboot\n',
      /does not output \{\{firstboot\}\} \(outside any section\).*never phone home$/,
    ],
    ['%firstboot only in a section', '{{#mac}}{{firstboot}}{{/mac}}', /does not output \{\{firstboot\}\}/],
  ];
  for (const [what, text, message] of broken) {
    it(`reports ${what} with the template's file and line`, async () => {
      writeFileSync(join(templatesDir, 'broken.cfg'), text);
      const { r, file } = await load('broken', clusterXml('<boot mode="stateful" kickstartTemplate="broken.cfg"/>'));
      expect(r.cluster).toBeUndefined();
      expect(r.diagnostics.map((d) => `${d.file} ${d.path}`)).toEqual([`${file} /cluster/boot/@kickstartTemplate`]);
      expect(r.diagnostics[0]!.message).toMatch(
        new RegExp(`^kickstart template ${join(templatesDir, 'broken.cfg').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`),
      );
      expect(r.diagnostics[0]!.message).toMatch(message);
    });
  }

  it('the built-in template passes the same check', () => {
    expect(checkKickstartTemplate(DEFAULT_KICKSTART_TEMPLATE)).toBeUndefined();
    expect(checkKickstartTemplate(GOOD_TEMPLATE)).toBeUndefined();
  });

  it('loading (as POST .../validate and every cluster load do) runs no code from the template', async () => {
    const g = globalThis as { __sxKickstartRan?: boolean };
    delete g.__sxKickstartRan;
    // What an Eta template could do before: run JavaScript while the file was checked.
    writeFileSync(
      join(templatesDir, 'code.cfg'),
      'vmaccepteula\n<% globalThis.__sxKickstartRan = true %>\n<%= it.firstboot %>\n{{firstboot}}\n',
    );
    const { r } = await load('code', clusterXml('<boot mode="stateful" kickstartTemplate="code.cfg"/>'));
    expect(g.__sxKickstartRan).toBeUndefined();
    expect(r.cluster).toBeUndefined();
    expect(r.diagnostics[0]!.message).toMatch(/code\.cfg:2:1: Eta syntax .*kickstart templates are Mustache now/);
  });

  it('a template path is looked up in the configured templates directory (context.templatesDir)', async () => {
    const elsewhere = join(dir, 'ks-elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    writeFileSync(join(elsewhere, 'only-here.cfg'), GOOD_TEMPLATE);
    const file = join(clustersDir, 'configured.xml');
    writeFileSync(file, clusterXml('<boot mode="stateful" kickstartTemplate="only-here.cfg"/>'));
    const [withConfig] = await loadClusterFiles([file], { context: { templatesDir: elsewhere } });
    expect(withConfig!.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(withConfig!.cluster!.boot!.kickstart!.file).toBe(join(elsewhere, 'only-here.cfg'));
    const [withDefault] = await loadClusterFiles([file]);
    expect(withDefault!.diagnostics[0]!.message).toMatch(/only-here\.cfg.*no such file/);
  });
});
