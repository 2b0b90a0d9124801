/**
 * Boot-once for stateful installs (issue 17 item 3): the `stage=installed` phone-home field, the
 * store's install state and its transitions (migration 014), the policy's local-boot answer and
 * its rendering (pxelinux `LOCALBOOT 0`, iPXE `exit`), the DHCP answer for UEFI firmware (no
 * loader), the registry recording an install, and the reinstall API (admin, CSRF, audited).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openStore, type Store } from '../../src/store/index.js';
import { parsePhoneHomeLine, phoneHomeFromFields } from '../../src/phonehome/parse.js';
import { decideBoot, bootsFromInstalledDisk, type PolicyInputs } from '../../src/hosts/policy.js';
import { renderPxelinuxConfig } from '../../src/boot/render/pxelinux.js';
import { renderIpxeHost } from '../../src/boot/render/ipxe.js';
import { initiatorFirstboot } from '../../src/boot/render/kickstart.js';
import { chooseBootAnswer, type BootAnswerContext } from '../../src/boot/dhcp/boot-answer.js';
import { HostRegistry } from '../../src/hosts/registry.js';
import { BootTokens } from '../../src/hosts/tokens.js';
import { NotStatefulError, installState, requestReinstall } from '../../src/hosts/reinstall.js';
import { silentLogger } from '../../src/log.js';
import type { ImageManifest } from '../../src/images/image.js';
import { makeApp, loginAs, call, clusterRepo, RecordingQueue, type Client } from '../helpers/web.js';
import { clusterService } from '../../src/app/web-adapters.js';

const UUID = '4c4c4544-0033-4810-8052-b4c04f4e3432';
const MAC = '52:54:00:00:00:01';
const image: ImageManifest = {
  name: 'v1',
  kind: 'linux',
  linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0' },
} as ImageManifest;
const ctx = { serverAddress: '10.0.0.1', httpPort: 8080, initiatorPort: 1974, transport: 'tftp' as const };

function inputs(stateful: boolean, installedAt: number | undefined): PolicyInputs {
  return {
    hosts: { get: () => undefined, findByMac: () => [] },
    clusters: (u) =>
      u === UUID ? { cluster: 'lab', defaultImage: 'v1', ...(stateful ? { stateful: true } : {}) } : undefined,
    images: new Map([['v1', image]]),
    unknownHosts: 'menu',
    installedAt: () => installedAt,
  };
}

describe('phone-home stage=installed (TCP 1974 grammar, HTTP fields)', () => {
  const line = (s: string) => parsePhoneHomeLine(Buffer.from(s));
  it('accepts stage=installed and keeps the old forms as they were', () => {
    const r = line(`esx1:${UUID} token=abc stage=installed`);
    expect(r).toMatchObject({ ok: true, message: { stage: 'installed', token: 'abc', form: 'extension' } });
    const old = line(`esx1:${UUID} token=abc`);
    expect(old.ok && old.message.stage).toBeUndefined();
  });
  it('refuses any other value, a repeat, and bad percent-encoding, naming the field', () => {
    expect(line(`${UUID} stage=rebooted`)).toMatchObject({ ok: false, reason: 'bad-value', detail: /stage/ });
    expect(line(`${UUID} stage=INSTALLED`)).toMatchObject({ ok: false, reason: 'bad-value' });
    expect(line(`${UUID} stage=`)).toMatchObject({ ok: false, reason: 'bad-value' });
    expect(line(`${UUID} stage=installed stage=installed`)).toMatchObject({ ok: false, reason: 'duplicate-key' });
    expect(line(`${UUID} stage=%zz`)).toMatchObject({ ok: false, reason: 'bad-value' });
    const bad = line(`${UUID} stage=\u202e\u0000x`);
    expect(bad.ok).toBe(false);
    expect(phoneHomeFromFields({ uuid: UUID, stage: 'installed' })).toMatchObject({
      ok: true,
      message: { stage: 'installed' },
    });
    expect(phoneHomeFromFields({ uuid: UUID, stage: 'x'.repeat(300) })).toMatchObject({
      ok: false,
      reason: 'bad-value',
    });
  });
  it("the kickstart's %firstboot runs the initiator with STATELESX_STAGE=installed", () => {
    const fb = initiatorFirstboot({ server: '10.0.0.1:1974', token: 'tok', mac: MAC, initiator: 'print(1)\n' });
    expect(fb).toMatch(
      /^echo 'statelesx\.server=10\.0\.0\.1:1974 statelesx\.token=tok BOOTIF=01-52-54-00-00-00-01' > \/tmp\/statelesx-cmdline$/m,
    );
    expect(fb).toMatch(
      /^STATELESX_STAGE=installed STATELESX_CMDLINE=\/tmp\/statelesx-cmdline python \/tmp\/statelesx-initiator\.py /m,
    );
  });
});

describe('boot policy and renderers: an installed stateful member boots from local disk', () => {
  it('installs while no install is on record; local boot once one is; stateless never affected', () => {
    const install = decideBoot({ uuid: UUID }, inputs(true, undefined));
    expect(install).toMatchObject({ action: 'boot', stateful: true });
    const local = decideBoot({ uuid: UUID }, inputs(true, 1_700_000_000_000));
    expect(local).toMatchObject({ action: 'local', installedAt: 1_700_000_000_000 });
    expect(local.action === 'local' && local.reason).toMatch(/stateful install done 2023-11-14T22:13:20\.000Z/);
    expect(decideBoot({ uuid: UUID }, inputs(false, 1_700_000_000_000))).toMatchObject({
      action: 'boot',
      stateful: false,
    });
  });
  it('pxelinux gets LOCALBOOT 0 and iPXE exit; the install boot carries ks=', () => {
    const local = decideBoot({ uuid: UUID }, inputs(true, 5));
    const pxe = renderPxelinuxConfig(local, ctx);
    expect(pxe).toMatch(/^DEFAULT local$/m);
    expect(pxe).toMatch(/^ {2}LOCALBOOT 0$/m);
    expect(pxe).not.toMatch(/KERNEL/);
    const ipxe = renderIpxeHost(local, { ...ctx, transport: 'http' });
    expect(ipxe.split('\n').filter((l) => !l.startsWith('#') && l !== '')).toEqual([
      expect.stringMatching(/^echo statelesx: local boot \(stateful install done /),
      'exit',
    ]);
    const install = decideBoot({ uuid: UUID }, inputs(true, undefined));
    const ks = { ...ctx, kickstartUrl: 'http://10.0.0.1:8080/boot/hosts/x/ks.cfg' };
    expect(renderPxelinuxConfig(install, ks)).toContain('ks=http://10.0.0.1:8080/boot/hosts/x/ks.cfg');
  });
  it('DHCP: UEFI PXE and HTTP boot of an installed host get no loader; BIOS and iPXE keep theirs', () => {
    const boot: BootAnswerContext = {
      bootFiles: { bios: 'undionly.kpxe', uefi: 'ipxe.efi', ipxe: 'boot.ipxe' },
      advertiseAddress: '10.0.0.1',
      httpPort: 8080,
      bootsLocally: ({ uuid, mac }) => uuid === UUID && mac === MAC,
    };
    const c = { isPxeClient: true, isHttpClient: false, isIpxe: false, uuid: UUID, mac: MAC };
    expect(chooseBootAnswer({ ...c, arch: 7 }, boot)).toBeNull();
    expect(chooseBootAnswer({ ...c, arch: 16, isHttpClient: true }, boot)).toBeNull();
    expect(chooseBootAnswer({ ...c, arch: 0 }, boot)).toMatchObject({ bootFile: 'undionly.kpxe' });
    expect(chooseBootAnswer({ ...c, arch: 7, isIpxe: true }, boot)).toMatchObject({ http: true });
    expect(chooseBootAnswer({ ...c, arch: 7, uuid: undefined, mac: '52:54:00:00:00:02' }, boot)).toMatchObject({
      bootFile: 'ipxe.efi',
    });
  });
  it('bootsFromInstalledDisk follows the policy: stateful and installed only', () => {
    expect(bootsFromInstalledDisk({ uuid: UUID }, inputs(true, 5))).toBe(true);
    expect(bootsFromInstalledDisk({ uuid: UUID }, inputs(true, undefined))).toBe(false);
    expect(bootsFromInstalledDisk({ uuid: UUID }, inputs(false, 5))).toBe(false);
  });
});

describe('install state in the store and its transitions', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openStore(':memory:');
  });
  afterAll(() => store.close());

  it('install due → installed → reinstall requested (due) → installed again', async () => {
    const member = { cluster: 'lab', uuid: UUID, stateful: true };
    expect(await installState(store.hostInstalls, UUID, member)).toMatchObject({
      nextBoot: 'install',
      installedAt: null,
    });
    await store.hostInstalls.markInstalled(UUID.toUpperCase(), { at: 10, address: '10.0.0.5' });
    expect(await installState(store.hostInstalls, UUID, member)).toMatchObject({
      nextBoot: 'local-boot',
      installedAt: 10,
      installedFrom: '10.0.0.5',
    });
    const r = await requestReinstall(store.hostInstalls, UUID, member, { at: 20, actor: 'admin' });
    expect(r.before).toMatchObject({ installedAt: 10 });
    expect(r.after).toMatchObject({
      nextBoot: 'install',
      installedAt: null,
      reinstallRequestedAt: 20,
      reinstallRequestedBy: 'admin',
    });
    expect(await store.hostInstalls.installedAt(UUID)).toBeUndefined();
    await store.hostInstalls.markInstalled(UUID, { at: 30, address: '10.0.0.6' });
    expect(await installState(store.hostInstalls, UUID, member)).toMatchObject({
      installedAt: 30,
      reinstallRequestedAt: 20,
    });
  });
  it('refuses a reinstall for a stateless member or a host in no cluster file', async () => {
    await expect(
      requestReinstall(
        store.hostInstalls,
        UUID,
        { cluster: 'lab', uuid: UUID, stateful: false },
        { at: 1, actor: 'a' },
      ),
    ).rejects.toThrow(NotStatefulError);
    await expect(requestReinstall(store.hostInstalls, UUID, undefined, { at: 1, actor: 'a' })).rejects.toThrow(
      /in no cluster file/,
    );
    expect(
      (await installState(store.hostInstalls, UUID, { cluster: 'lab', uuid: UUID, stateful: false })).nextBoot,
    ).toBeNull();
  });
});

describe('registry: a verified %firstboot phone-home of a stateful member records the install', () => {
  let store: Store;
  const declared = { stateful: true };
  let registry: HostRegistry;
  let tokens: BootTokens;
  beforeAll(async () => {
    store = await openStore(':memory:');
    tokens = new BootTokens(store.tokens, 3_600_000);
    registry = new HostRegistry({
      hosts: store.hosts,
      phoneHomes: store.phoneHomes,
      tokens,
      queue: new RecordingQueue(),
      declared: (u) => (u === UUID ? { cluster: 'lab', fqdn: 'esx1.lab', stateful: declared.stateful } : undefined),
      installs: store.hostInstalls,
      requireToken: true,
      log: silentLogger,
      now: () => 1000,
    });
  });
  afterAll(() => store.close());

  const phone = async (stage: 'installed' | undefined, token: string | undefined) =>
    await registry.phoneHome({
      claim: { uuid: { smbios: UUID, wire: UUID }, macs: [], form: 'extension', stage, token },
      address: '10.0.0.9',
      transport: 'tcp',
      requestId: 'r1',
    });

  it('records it for stateful members only, and not for a refused phone-home', async () => {
    expect(await phone('installed', 'forged')).toMatchObject({ result: 'refused', reason: 'token-unknown' });
    expect(await store.hostInstalls.installedAt(UUID)).toBeUndefined();
    expect(await phone(undefined, await tokens.issue(UUID, 1000))).toMatchObject({ result: 'ok' });
    expect(await store.hostInstalls.installedAt(UUID)).toBeUndefined();
    declared.stateful = false;
    expect(await phone('installed', await tokens.issue(UUID, 1000))).toMatchObject({ result: 'ok' });
    expect(await store.hostInstalls.installedAt(UUID)).toBeUndefined();
    declared.stateful = true;
    expect(await phone('installed', await tokens.issue(UUID, 1000))).toMatchObject({ result: 'ok' });
    expect(await store.hostInstalls.get(UUID)).toMatchObject({ installedAt: 1000, installedFrom: '10.0.0.9' });
  });
});

describe('REST API: POST /api/v1/hosts/{uuid}/reinstall and GET …/install', () => {
  let app: FastifyInstance;
  let store: Store;
  let admin: Client;
  let op: Client;
  let cleanup: () => void;
  const STATELESS = '4c4c4544-0033-4810-8052-b4c04f4e3433';
  beforeAll(async () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="lab">
  <datacenter>DC0</datacenter>
  <vcenter>vc-test</vcenter>
  <credentials>esxi-root</credentials>
  <boot mode="stateful"/>
  <members>
    <host fqdn="esx1.lab.example.com" uuid="${UUID}"/>
    <host fqdn="esx2.lab.example.com" uuid="${STATELESS}" bootMode="stateless"/>
  </members>
</cluster>
`;
    const r = await clusterRepo({ 'lab.xml': xml });
    cleanup = r.cleanup;
    expect(r.repo.invalid()).toEqual([]);
    ({ app, store } = await makeApp({ clusters: clusterService(r.repo) }));
    admin = await loginAs(app, 'admin');
    op = await loginAs(app, 'op');
  });
  afterAll(async () => {
    await app.close();
    store.close();
    cleanup();
  });

  it('admin only, CSRF checked, audited; the next boot installs; stateless members are refused', async () => {
    await store.hostInstalls.markInstalled(UUID, { at: 5, address: '10.0.0.5' });
    expect((await call(app, op, 'GET', `/api/v1/hosts/${UUID}/install`)).json()).toMatchObject({
      stateful: true,
      cluster: 'lab',
      nextBoot: 'local-boot',
      installedAt: 5,
    });
    expect((await call(app, op, 'POST', `/api/v1/hosts/${UUID}/reinstall`)).statusCode).toBe(403);
    const noCsrf = await call(app, { ...admin, csrf: 'wrong' }, 'POST', `/api/v1/hosts/${UUID}/reinstall`);
    expect(noCsrf.statusCode).toBe(403);
    expect(await store.hostInstalls.installedAt(UUID)).toBe(5);
    const r = await call(app, admin, 'POST', `/api/v1/hosts/${UUID}/reinstall`);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ nextBoot: 'install', installedAt: null, reinstallRequestedBy: 'admin' });
    expect(await store.hostInstalls.installedAt(UUID)).toBeUndefined();
    const audit = (await store.audit.list(5)).find((e) => e.action === 'host.reinstall');
    expect(audit).toMatchObject({ actor: 'admin', target: UUID });
    const stateless = await call(app, admin, 'POST', `/api/v1/hosts/${STATELESS}/reinstall`);
    expect(stateless.statusCode).toBe(409);
    expect(stateless.json<{ detail: string }>().detail).toMatch(/stateless member of cluster lab/);
    expect((await call(app, admin, 'POST', '/api/v1/hosts/not-a-uuid/reinstall')).statusCode).toBe(400);
  });
});
