/**
 * Stateful installs through the real composition (`startServer` on 127.0.0.1, temp dirs): a
 * cluster file with `<boot mode="stateful" kickstartTemplate="prod-ks.cfg"/>` (in `templates-dir`) makes
 * `hosts/<uuid>/ks.cfg` over HTTP come from that template with the statelesx `%firstboot`
 * section, and the host's iPXE script and `<image>/boot.cfg` carry `ks=<that URL>` (boot.cfg:
 * `runweasel ks=…`, no initiator module). A member overriding `bootMode="stateless"` and a
 * cluster without `<boot>` boot stateless as before; a template path leading out of the
 * templates directory leaves that cluster file invalid (its hosts unknown) without taking down
 * the others.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/app/server.js';
import { importImage } from '../../src/images/import.js';
import type { PhoneHomeListener } from '../../src/phonehome/listener.js';
import { sqliteOf } from '../../src/store/inspect.js';
import { parseEsxiKickstart } from '../helpers/esxi-ks.js';
import { freePort } from '../helpers/hardening-server.js';
import { configDirs } from '../helpers/serve.js';
import { spawnSync } from 'node:child_process';

const S1 = '4c4c4544-0031-3010-8031-b1c04f4d3301'; // stateful (cluster mode)
const S2 = '4c4c4544-0031-3010-8031-b1c04f4d3302'; // stateless override in the stateful cluster
const L1 = '4c4c4544-0031-3010-8031-b1c04f4d3311'; // cluster without <boot>
const X1 = '4c4c4544-0031-3010-8031-b1c04f4d3321'; // cluster whose template path escapes
const B1 = '4c4c4544-0031-3010-8031-b1c04f4d3331'; // built-in template, remote/USB disks and overwriteVmfs allowed
const P1 = '4c4c4544-0031-3010-8031-b1c04f4d3341'; // built-in template, every install setting at its default
const ESX_PASSWORD = 'esx-secret';
const MAC = '00:50:56:b0:1c:01';
const IMAGE = 'ESXi-8.0U2-test';

const TEMPLATE = `# prod kickstart: {{uuid}} in {{cluster}}, image {{image}}
vmaccepteula
install --firstdisk=local --overwritevmfs
network --bootproto=dhcp --device={{#mac}}{{mac}}{{/mac}}{{^mac}}vmnic0{{/mac}}
rootpw --iscrypted $6$prod$hash
reboot

{{firstboot}}`;

const cluster = (name: string, boot: string, hosts: string[]) => `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="${name}">
  <datacenter>DC0</datacenter>
  <vcenter>vc1</vcenter>
  <credentials>esx</credentials>
  <defaultImage>${IMAGE}</defaultImage>
  ${boot}
  <members>
${hosts.map((h) => `    ${h}`).join('\n')}
  </members>
</cluster>
`;

let dir: string;
let server: RunningServer;
let httpPort: number;
let initiatorPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-stateful-'));
  for (const d of ['data', 'tftp', 'pxelinux.cfg', 'clusters', 'templates', 'e/efi/boot'])
    mkdirSync(join(dir, d), { recursive: true });
  const e = join(dir, 'e');
  writeFileSync(
    join(e, 'BOOT.CFG'),
    'bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nprefix=\nkernel=/b.b00\nkernelopt=runweasel cdromBoot\nmodules=/jumpstrt.gz --- /k.b00\nbuild=8.0.2-0.0.22380479\nupdated=0\n',
  );
  for (const f of ['B.B00', 'JUMPSTRT.GZ', 'K.B00', 'MBOOT.C32']) writeFileSync(join(e, f), `synthetic ${f}`);
  writeFileSync(join(e, 'efi/boot/bootx64.efi'), 'efi');
  await importImage({ source: e, imagesDir: join(dir, 'images'), name: IMAGE });

  const clusters = join(dir, 'clusters');
  writeFileSync(join(dir, 'templates', 'prod-ks.cfg'), TEMPLATE);
  writeFileSync(join(dir, 'outside.cfg'), TEMPLATE);
  writeFileSync(
    join(clusters, 'prod.xml'),
    cluster('prod', '<boot mode="stateful" kickstartTemplate="prod-ks.cfg"/>', [
      `<host fqdn="esx1.example.com" uuid="${S1}" mac="${MAC}"/>`,
      `<host fqdn="esx2.example.com" uuid="${S2}" bootMode="stateless"/>`,
    ]),
  );
  writeFileSync(join(clusters, 'lab.xml'), cluster('lab', '', [`<host fqdn="lab1.example.com" uuid="${L1}"/>`]));
  writeFileSync(
    join(clusters, 'built.xml'),
    cluster('built', '<boot mode="stateful" firstDisk="local,remote,usb" overwriteVmfs="true"/>', [
      `<host fqdn="b1.example.com" uuid="${B1}"/>`,
    ]),
  );
  writeFileSync(
    join(clusters, 'plain.xml'),
    cluster('plain', '<boot mode="stateful"/>', [`<host fqdn="p1.example.com" uuid="${P1}"/>`]),
  );
  writeFileSync(
    join(clusters, 'escape.xml'),
    cluster('escape', '<boot mode="stateful" kickstartTemplate="../outside.cfg"/>', [
      `<host fqdn="x1.example.com" uuid="${X1}"/>`,
    ]),
  );

  process.env['SX_KS_VC_PW'] = 'vc-secret';
  process.env['SX_KS_ESX_PW'] = ESX_PASSWORD;
  httpPort = await freePort();
  initiatorPort = await freePort();
  const config = configSchema.parse({
    ...configDirs(dir),
    'templates-dir': join(dir, 'templates'),
    'listen-address': '127.0.0.1',
    // Never contacted: the test does not queue jobs (and 127.0.0.1:9 is discard).
    vcenters: [
      { name: 'vc1', url: 'https://127.0.0.1:9/sdk', username: 'svc@vsphere.local', 'password-env': 'SX_KS_VC_PW' },
    ],
    credentials: [{ name: 'esx', username: 'root', 'password-env': 'SX_KS_ESX_PW' }],
    tftp: { port: 0 },
    // The boot listener (its port is in every rendered URL); the console listens elsewhere.
    http: { port: 0 },
    'boot-http': { port: httpPort },
    initiator: { port: initiatorPort },
  });
  server = await startServer(config, silentLogger);
  expect((server.services.find((s) => s.name === 'initiator') as PhoneHomeListener).address().port).toBe(initiatorPort);
}, 120_000);

afterAll(async () => {
  await server?.close();
  for (const k of ['SX_KS_VC_PW', 'SX_KS_ESX_PW']) delete process.env[k];
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function get(path: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${httpPort}/boot/${path}`);
  return { status: r.status, text: await r.text() };
}
const ksUrl = (uuid: string) => `http://127.0.0.1:${httpPort}/boot/hosts/${uuid}/ks.cfg`;
const kernelopt = (bootCfg: string) => /^kernelopt=(.*)$/m.exec(bootCfg)?.[1] ?? '';
const modules = (bootCfg: string) => /^modules=(.*)$/m.exec(bootCfg)?.[1] ?? '';

describe('stateful install through startServer', () => {
  it('loads the stateful cluster and refuses the one whose template leaves the templates directory', () => {
    expect(server.clusters.get('prod')?.boot).toMatchObject({
      mode: 'stateful',
      kickstart: { file: join(dir, 'templates', 'prod-ks.cfg'), text: TEMPLATE },
    });
    const bad = server.clusters.invalid();
    expect(bad.map((b) => b.name)).toEqual(['escape']);
    expect(bad[0]!.diagnostics.map((d) => `${d.path}: ${d.message}`)).toEqual([
      expect.stringMatching(
        /^\/cluster\/boot\/@kickstartTemplate: kickstartTemplate "\.\.\/outside\.cfg" resolves to .*outside\.cfg, outside the templates directory /,
      ),
    ]);
  });

  it('hosts/<uuid>/ks.cfg comes from the cluster template with the %firstboot that runs the initiator', async () => {
    const ks = await get(`hosts/${S1}/ks.cfg`);
    expect(ks.status).toBe(200);
    expect(
      ks.text.startsWith(
        `# prod kickstart: ${S1} in prod, image ${IMAGE}\nvmaccepteula\ninstall --firstdisk=local --overwritevmfs\nnetwork --bootproto=dhcp --device=vmnic0\nrootpw --iscrypted $6$prod$hash\nreboot\n\n%firstboot --interpreter=busybox\n`,
      ),
    ).toBe(true);
    // The built-in template is not what was served.
    expect(ks.text).not.toContain('install --firstdisk --overwritevmfs');
    const fb = ks.text.slice(ks.text.indexOf('%firstboot'));
    expect(fb).toContain("cat > /tmp/statelesx-initiator.py <<'STATELESX_INITIATOR_PY_END'\n");
    // ks.cfg is asked for by UUID alone: the template sees no MAC, so no BOOTIF= either.
    expect(fb).toMatch(
      new RegExp(
        `^echo 'statelesx\\.server=127\\.0\\.0\\.1:${initiatorPort} statelesx\\.token=\\S+' > /tmp/statelesx-cmdline$`,
        'm',
      ),
    );
    expect(fb).toContain('STATELESX_CMDLINE=/tmp/statelesx-cmdline python /tmp/statelesx-initiator.py </dev/null');
  });

  it("the host's iPXE script chains <image>/boot.cfg, which carries ks=<its ks.cfg URL> (runweasel, no initiator module)", async () => {
    // An ESXi image's iPXE script chains the image's EFI loader with `-c <image>/boot.cfg`: the
    // installer's options (ks=) are in that boot.cfg, not on the iPXE command line.
    const ipxe = await get(`hosts/${S1}.ipxe`);
    expect(ipxe.status).toBe(200);
    expect(ipxe.text).toContain(`bootx64.efi -c http://127.0.0.1:${httpPort}/boot/${IMAGE}/boot.cfg\n`);
    // boot.cfg names no host: it is rendered for the host last identified from this address (the iPXE request).
    const cfg = await get(`${IMAGE}/boot.cfg`);
    expect(cfg.status).toBe(200);
    expect(kernelopt(cfg.text)).toMatch(
      new RegExp(
        `^runweasel ks=${ksUrl(S1).replace(/[.]/g, '\\.')} statelesx\\.token=\\S+ statelesx\\.server=127\\.0\\.0\\.1:${initiatorPort} statelesx\\.image=${IMAGE}$`,
      ),
    );
    expect(modules(cfg.text)).not.toContain('sxinit.tgz');
  });

  it('re-fetching boot.cfg and ks.cfg returns the same token: fetches cannot evict the one the host booted with', async () => {
    // boot.cfg: kernelopt; ks.cfg: the %firstboot's command-line file (initiator.py's text names the key too).
    const tokenOf = (text: string) => /^(?:kernelopt=|echo ').*?statelesx\.token=([A-Za-z0-9_-]+)/m.exec(text)?.[1];
    expect((await get(`hosts/${S1}.ipxe`)).status).toBe(200);
    const booted = tokenOf((await get(`${IMAGE}/boot.cfg`)).text);
    expect(booted).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 20; i++) {
      seen.add(tokenOf((await get(`${IMAGE}/boot.cfg`)).text));
      seen.add(tokenOf((await get(`hosts/${S1}/ks.cfg`)).text));
    }
    expect([...seen]).toEqual([booted]);
    expect(await server.store.tokens.newestUnused(S1, 0)).toBeDefined();
    expect(sqliteOf(server.store).prepare('SELECT count(*) FROM boot_tokens WHERE host_uuid = ?').pluck().get(S1)).toBe(
      1,
    );
  });

  it('the built-in ks.cfg passes the ESXi kickstart grammar: rootpw --iscrypted (SHA-512 crypt), first local disk, no wipe', async () => {
    const ks = await get(`hosts/${P1}/ks.cfg`);
    expect(ks.status).toBe(200);
    const parsed = parseEsxiKickstart(ks.text);
    const install = parsed.commands.find((c) => c.name === 'install')!;
    expect(Object.fromEntries(install.options)).toEqual({ firstdisk: 'local' }); // never a SAN LUN or USB, never --overwritevmfs
    const rootpw = parsed.commands.find((c) => c.name === 'rootpw')!;
    expect(rootpw.options.get('iscrypted')).toBe(true);
    const hash = rootpw.args[0]!;
    expect(hash).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    // The hash is of the cluster's ESXi password: OpenSSL's own crypt(3) gives the same string.
    const salt = hash.split('$')[2]!;
    const openssl = spawnSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], {
      input: ESX_PASSWORD,
      encoding: 'utf8',
    });
    expect(openssl.status, openssl.stderr).toBe(0);
    expect(openssl.stdout.trim()).toBe(hash);
    expect(ks.text).not.toContain(ESX_PASSWORD);
    expect(parsed.sections.map((x) => [x.kind, x.options.get('interpreter')])).toEqual([['firstboot', 'busybox']]);
  });

  it('remote/USB disks and --overwritevmfs only when the cluster file says so', async () => {
    const ks = await get(`hosts/${B1}/ks.cfg`);
    expect(ks.status).toBe(200);
    const install = parseEsxiKickstart(ks.text).commands.find((c) => c.name === 'install')!;
    expect(Object.fromEntries(install.options)).toEqual({ firstdisk: 'local,remote,usb', overwritevmfs: true });
    expect(ks.text).not.toContain(ESX_PASSWORD);
  });

  it('the cluster template passes the grammar too', async () => {
    expect(parseEsxiKickstart((await get(`hosts/${S1}/ks.cfg`)).text).commands.map((c) => c.name)).toEqual([
      'vmaccepteula',
      'install',
      'network',
      'rootpw',
      'reboot',
    ]);
  });

  it('a host that is not stateful gets no ks.cfg (404): no install, no rootpw hash', async () => {
    for (const uuid of [S2, L1, '4c4c4544-0031-3010-8031-b1c04f4d33ff']) {
      expect((await get(`hosts/${uuid}/ks.cfg`)).status, uuid).toBe(404);
    }
  });

  for (const [what, uuid] of [
    ['a member overriding bootMode="stateless"', S2],
    ['a cluster without <boot>', L1],
  ] as const) {
    it(`${what} boots stateless as before: no ks=, no runweasel, the initiator module`, async () => {
      const ipxe = await get(`hosts/${uuid}.ipxe`);
      expect(ipxe.status).toBe(200);
      expect(ipxe.text).not.toContain('ks=');
      const cfg = await get(`${IMAGE}/boot.cfg`);
      expect(cfg.status).toBe(200);
      expect(kernelopt(cfg.text)).toMatch(
        new RegExp(
          `^statelesx\\.token=\\S+ statelesx\\.server=127\\.0\\.0\\.1:${initiatorPort} statelesx\\.image=${IMAGE}$`,
        ),
      );
      expect(modules(cfg.text)).toMatch(/ --- sxinit\.tgz$/);
    });
  }
});
