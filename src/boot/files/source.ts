/**
 * The one {@link BootFileSource}: what TFTP and HTTP `/boot/` serve, looked up in this order
 * (first hit wins):
 *
 *  1. the static TFTP root (config `tftp-root`): loaders and anything an admin drops there;
 *  2. the loader directories (config `loader-dirs`, Debian's pxelinux/syslinux/iPXE paths), whose
 *     symlinks are followed wherever they lead (path.ts `resolveTrusted`); the static root and
 *     images keep their confinement (`resolveInside`);
 *  3. hand-written pxelinux configs (config `pxelinux-cfg-dir`) for `[dir/]pxelinux.cfg/<name>`;
 *  4. files rendered per host (the policy decides, the renderers render):
 *     `[dir/]pxelinux.cfg/<uuid>` (pxelinux's wire byte order; SMBIOS order also matched),
 *     (only for a known host: otherwise not found, so pxelinux goes on to `01-<mac>`, where a
 *     hand-written config takes effect), `[dir/]pxelinux.cfg/01-<mac>` (likewise only for a known
 *     host, so an unknown one ends at `default`, static or rendered), `[dir/]pxelinux.cfg/default`, `<image>/boot.cfg` and
 *     `<image>/efi/boot/boot.cfg` (ESXi, per host), `[dir/]01-<mac>/boot.cfg` (UEFI mboot.efi),
 *     `boot.ipxe`, `hosts/<uuid>.ipxe`, `hosts/mac-<aa-bb-…>.ipxe`, `hosts/default.ipxe`,
 *     GRUB's (arm64 UEFI, render/grub.ts) `grub/grub.cfg`, `grub/hosts/<uuid>.cfg`,
 *     `grub/hosts/mac-<aa:bb:…>.cfg`, `grub/hosts/default.cfg`,
 *     `hosts/<uuid>/ks.cfg` (stateful cluster members only); and `<image>/sxinit.tgz` of an ESXi image, the initiator bundle
 *     (render/initiator-bundle.ts) every rendered boot.cfg lists (same bytes for every host);
 *  5. image files `<image>/<path>` of imported images (hidden `.import-*` directories never), also
 *     as `<dir>/<image>/<path>` when `<dir>` is a directory of the static root (a loader there,
 *     e.g. `efi64/syslinux.efi`, asks relative to its own directory).
 *
 * A file whose name does not identify the host (`<image>/boot.cfg`) is rendered for the host
 * last identified from the same client address (DHCP or an earlier boot-file request, within
 * {@link IDENTITY_TTL_MS}); with none, it is rendered for an unknown host — never for another host.
 * A per-host name answered "not found" counts as an identification too (it is recorded): mboot.efi
 * asking `01-<mac>/boot.cfg` for a MAC that does not boot ESXi here makes the `boot.cfg` it asks
 * next that MAC's, not the previous user's of the address. In full DHCP mode our lease of the
 * address must be held by that host's MAC (else the lease holder's MAC is used, or nobody's).
 * Limit: in proxy mode nothing we store says that an address changed hands, so a new host whose
 * first request names no identity (nil UUID, and a hand-written or static config pointing at
 * `<image>/boot.cfg`) within the TTL of the previous host's last request gets that host's file,
 * phone-home token included.
 * Every rendered answer is recorded as a boot event, and so is a per-host name answered "not
 * found" because it names no known host (`detail.action` `not-found`, no image, no token).
 * A nil UUID (all 0 / all F) is never a name: `pxelinux.cfg/<nil>` and `hosts/<nil>.ipxe` are not
 * found, so pxelinux asks `01-<mac>` and boot.ipxe's `|| chain hosts/mac-….ipxe` runs.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import type { BootFile, BootFileSource, BootRequestContext, DiskFile } from './types.js';
import { checkBootPath, resolveInside, resolveTrusted } from './path.js';
import type { BootEventWriter, HostInstallStore, HostReader, LeaseStore } from '../../store/index.js';
import type { BootTokens } from '../../hosts/tokens.js';
import {
  decideBoot,
  type BootDecision,
  type ClusterLookup,
  type Firmware,
  type HostQuery,
  type UnknownHostsMode,
} from '../../hosts/policy.js';
import { withStoreLookups } from '../../hosts/policy-lookups.js';
import { isNilUuid, normalizeMac, normalizeUuid } from '../../hosts/identity.js';
import { IMAGE_NAME_RE, MANIFEST, type ImageLibrary, type ImageManifest } from '../../images/image.js';
import { parseBootCfg } from '../../images/bootcfg.js';
import { renderPxelinuxConfig } from '../render/pxelinux.js';
import { renderHostBootCfg } from '../render/bootcfg.js';
import { renderIpxeEntry, renderIpxeHost } from '../render/ipxe.js';
import { GRUB_DIR, renderGrubEntry, renderGrubHost } from '../render/grub.js';
import { DEFAULT_KICKSTART_TEMPLATE, renderKickstart, type KickstartInstall } from '../render/kickstart.js';
import { httpBootBase, type RenderContext } from '../render/context.js';
import {
  INITIATOR_BUNDLE_MTIME_MS,
  INITIATOR_MODULE,
  initiatorBundle,
  initiatorScript,
} from '../render/initiator-bundle.js';

/** How long an address → host identification is trusted, in ms. */
export const IDENTITY_TTL_MS = 15 * 60_000;

export interface BootFileSourceOptions {
  tftpRoot: string;
  loaderDirs: string[];
  pxelinuxCfgDir: string;
  images: ImageLibrary;
  hosts: Pick<HostReader, 'get' | 'findByMac' | 'lastIdentifiedBootEventFrom'> & BootEventWriter;
  /** Table `dhcp_leases` (rows only in full DHCP mode): who holds a client address now. */
  leases?: Pick<LeaseStore, 'get'>;
  tokens: Pick<BootTokens, 'issue'>;
  clusters: ClusterLookup;
  /** Boot-once: stateful members' installs on record (they boot from local disk). Absent: none. */
  installs?: Pick<HostInstallStore, 'installedAt'> | undefined;
  /** Config `boot.default-image` and `boot.unknown-hosts`. */
  defaultImage?: string | undefined;
  unknownHosts: UnknownHostsMode;
  /** Address clients reach us on, HTTP port of `/boot/` (the boot listener's), initiator port. */
  serverAddress: string;
  httpPort: number;
  initiatorPort: number;
  /** Address hosts phone home to (config `initiator.advertise-address`); default `serverAddress`. */
  initiatorAddress?: string | undefined;
  /** Kickstart template for a cluster (name for errors + text); undefined → the built-in one. */
  kickstartTemplate?: (cluster: string | null) => { name: string; text: string } | undefined;
  /**
   * Install settings of a stateful cluster (root password hash, disks; src/app/kickstart-install.ts).
   * @throws Error naming the credentials entry when its password cannot be read (never the value)
   */
  kickstartInstall?: (cluster: string) => KickstartInstall;
  /** Config `boot.initiator-module`: list and serve `<image>/sxinit.tgz` for ESXi images (default true). */
  initiatorModule?: boolean;
  log: Logger;
  now?: () => number;
}

/**
 * A rendered per-host answer; `data: null` is a per-host name answered "not found" on purpose
 * (the host is not known by it, so the loader moves on to its next name) — still recorded as a
 * boot event (`detail.action` `not-found`): it tells who asked, from where.
 */
type Rendered = {
  data: string | null;
  contentType: string;
  decision?: BootDecision;
  firmware: Firmware;
  query: HostQuery;
};

const UUID_NAME = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const MAC_NAME = /^01-([0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5})$/;
/** Content type of every rendered file. */
const TEXT = 'text/plain; charset=utf-8';

export class DefaultBootFileSource implements BootFileSource {
  private imageCache: { key: number; images: Map<string, ImageManifest> } | undefined;

  constructor(private readonly o: BootFileSourceOptions) {}

  /** @inheritdoc */
  async resolve(name: string, ctx: BootRequestContext): Promise<BootFile | null> {
    const segs = checkBootPath(name);
    const log = this.o.log.child({ subsystem: 'boot-files', req: ctx.requestId, client: ctx.clientAddress });
    const f0 = await diskFile(this.o.tftpRoot, segs, name);
    if (f0) return f0;
    for (const root of this.o.loaderDirs) {
      const f = await fileAt(await resolveTrusted(root, segs));
      if (f) return f;
    }
    const pxe = /^(?:(.+)\/)?pxelinux\.cfg\/([^/]+)$/.exec(name);
    if (pxe) {
      const f = await diskFile(this.o.pxelinuxCfgDir, [pxe[2]!], name);
      if (f) return f;
    }
    const rendered = await this.render(name, segs, ctx);
    if (rendered) {
      await this.record(name, ctx, rendered, log);
      if (rendered.data !== null)
        return {
          kind: 'rendered',
          data: Buffer.from(rendered.data, 'utf8'),
          mtimeMs: this.now(),
          contentType: rendered.contentType,
        };
    }
    const bundle = await this.initiatorBundleFile(segs);
    if (bundle) return bundle;
    const direct = await this.imageFile(segs, name);
    if (direct) return direct;
    // A loader in a subdirectory of the static root (`efi64/syslinux.efi`) resolves the relative
    // paths of its config against that directory: `efi64/<image>/vmlinuz` is `<image>/vmlinuz`.
    for (let i = 1; i < segs.length - 1; i++) {
      if (!(await isDirectory(this.o.tftpRoot, segs.slice(0, i), name))) break;
      const f = await this.imageFile(segs.slice(i), name);
      if (f) return f;
    }
    return null;
  }

  /** `<image>/sxinit.tgz` of an imported ESXi image: the initiator bundle (not a boot event), or null. */
  private async initiatorBundleFile(segs: string[]): Promise<BootFile | null> {
    if (this.o.initiatorModule === false || segs.length !== 2 || segs[1]!.toLowerCase() !== INITIATOR_MODULE)
      return null;
    if ((await this.imageMap()).get(segs[0]!)?.kind !== 'esxi') return null;
    return {
      kind: 'rendered',
      data: await initiatorBundle(),
      mtimeMs: INITIATOR_BUNDLE_MTIME_MS,
      contentType: 'application/gzip',
    };
  }

  /** `<image>/<path>` of an imported image (manifest present), or null. */
  private async imageFile(segs: string[], name: string): Promise<DiskFile | null> {
    const first = segs[0]!;
    if (segs.length < 2 || !IMAGE_NAME_RE.test(first)) return null;
    const dir = join(this.o.images.dir, first);
    try {
      await stat(join(dir, MANIFEST));
    } catch {
      return null;
    }
    return diskFile(dir, segs.slice(1), name);
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** Renders `name` when it is one of the per-host names; null otherwise. */
  private async render(name: string, segs: string[], ctx: BootRequestContext): Promise<Rendered | null> {
    const pxe = /^(?:(.+)\/)?pxelinux\.cfg\/([^/]+)$/.exec(name);
    if (pxe) return this.renderPxelinuxCfg(pxe);
    if (name === 'boot.ipxe') {
      return { data: renderIpxeEntry(this.o), contentType: TEXT, firmware: 'ipxe', query: {} };
    }
    if (segs[0] === 'hosts' && segs.length === 2) return this.renderIpxeHostScript(segs[1]!);
    if (segs[0] === GRUB_DIR && segs.length === 2 && segs[1] === 'grub.cfg')
      return { data: renderGrubEntry(), contentType: TEXT, firmware: 'uefi', query: {} };
    if (segs[0] === GRUB_DIR && segs[1] === 'hosts' && segs.length === 3) return this.renderGrubHostCfg(segs[2]!);
    if (segs[0] === 'hosts' && segs.length === 3 && segs[2] === 'ks.cfg') return this.renderKickstartFile(segs[1]!);
    // ESXi boot.cfg: UEFI mboot.efi first asks `01-<mac>/boot.cfg` in the directory it was loaded
    // from (tftp root, or `<image>/efi/boot/`); mboot.c32 -c asks <image>/boot.cfg.
    const macDir =
      segs.length >= 2 && segs[segs.length - 1] === 'boot.cfg' ? MAC_NAME.exec(segs[segs.length - 2]!) : null;
    if (macDir) return this.renderMacBootCfg(macDir[1]!, ctx);
    const img = segs[0]!;
    const tail = segs.slice(1).join('/');
    if ((tail === 'boot.cfg' || tail === 'efi/boot/boot.cfg') && IMAGE_NAME_RE.test(img))
      return this.renderImageBootCfg(img, ctx);
    return null;
  }

  /** `[<dir>/]pxelinux.cfg/<uuid | 01-mac | default>` (`pxe`: the match of the name). */
  private async renderPxelinuxCfg(pxe: RegExpExecArray): Promise<Rendered | null> {
    const fw: Firmware = pxe[1] && /efi/i.test(pxe[1]) ? 'uefi' : 'bios';
    const leaf = pxe[2]!;
    let query: HostQuery;
    // pxelinux always sends the wire order (RFC 4578 §2.3); an admin may name a host's file in SMBIOS order.
    // A nil UUID (all 0 / all F) names nobody: not found, so pxelinux asks `01-<mac>` next.
    if (UUID_NAME.test(leaf)) {
      if (isNilUuid(leaf)) return null;
      query = { uuid: leaf, uuidOrder: 'wire-or-smbios', firmware: fw };
    } else if (MAC_NAME.test(leaf)) query = { mac: MAC_NAME.exec(leaf)![1]!, firmware: fw };
    else if (leaf === 'default') query = { firmware: fw };
    else return null; // hex IP forms: not found, pxelinux moves on to `default`
    const d = await this.decide(query);
    // A UUID or MAC that names no known host (in a cluster file, pinned or registered; the DHCP
    // sighting every PXE client leaves is not enough) is not found: pxelinux then goes on with
    // its search (01-<mac>, hex IP prefixes, `default`), so a hand-written 01-<mac> takes effect,
    // and so does a static `pxelinux.cfg/default` in tftp-root; otherwise `default` renders the
    // unknown-host answer, never another host's config.
    if ((query.uuid || query.mac) && !d.host.known)
      return { data: null, contentType: TEXT, decision: d, firmware: fw, query };
    const rctx = await this.renderContext(d, 'tftp', isLinuxBoot(d));
    return { data: renderPxelinuxConfig(d, rctx), contentType: TEXT, decision: d, firmware: fw, query };
  }

  /** `hosts/<uuid | mac-<mac> | default>.ipxe` (`leaf`: the file name). */
  private async renderIpxeHostScript(leaf: string): Promise<Rendered | null> {
    const query = perHostQuery(leaf, '.ipxe', 'ipxe');
    if (!query) return null;
    const d = await this.decide(query);
    return {
      data: renderIpxeHost(d, await this.renderContext(d, 'http', isLinuxBoot(d))),
      contentType: TEXT,
      decision: d,
      firmware: 'ipxe',
      query,
    };
  }

  /** `grub/hosts/<uuid | mac-<mac> | default>.cfg` (`leaf`: the file name): GRUB's per-host config. */
  private async renderGrubHostCfg(leaf: string): Promise<Rendered | null> {
    const query = perHostQuery(leaf, '.cfg', 'uefi');
    if (!query) return null;
    const d = await this.decide(query);
    return {
      data: renderGrubHost(d, await this.renderContext(d, 'tftp', isLinuxBoot(d))),
      contentType: TEXT,
      decision: d,
      firmware: 'uefi',
      query,
    };
  }

  /** `hosts/<uuid>/ks.cfg`: the kickstart of a stateful cluster member. */
  private async renderKickstartFile(uuidSeg: string): Promise<Rendered | null> {
    const uuid = normalizeUuid(uuidSeg);
    if (!uuid) return null;
    const query: HostQuery = { uuid, uuidOrder: 'smbios' };
    const d = await this.decide(query);
    // Only a stateful member gets a kickstart: nobody else is to be installed (or gets its rootpw hash).
    if (d.action !== 'boot' || !d.host.uuid || !d.stateful || d.cluster === null) return null;
    if (!this.o.kickstartInstall) throw new Error(`no kickstart install settings for cluster ${d.cluster}`);
    const install = this.o.kickstartInstall(d.cluster);
    const rctx = await this.renderContext(d, 'http', true);
    const tpl = this.o.kickstartTemplate?.(d.cluster) ?? {
      name: 'built-in kickstart template',
      text: DEFAULT_KICKSTART_TEMPLATE,
    };
    const data = renderKickstart(
      tpl.text,
      {
        uuid: d.host.uuid,
        mac: d.host.mac,
        cluster: d.cluster,
        image: d.image.name,
        server: `${this.o.initiatorAddress ?? this.o.serverAddress}:${this.o.initiatorPort}`,
        token: rctx.token ?? null,
        initiator: (await initiatorScript()).toString('utf8'),
        ...install,
      },
      tpl.name,
    );
    return { data, contentType: TEXT, decision: d, firmware: 'unknown', query };
  }

  /** `01-<mac>/boot.cfg` beside mboot.efi: ESXi's boot.cfg for the host with that MAC. */
  private async renderMacBootCfg(mac: string, ctx: BootRequestContext): Promise<Rendered | null> {
    const query: HostQuery = { mac, firmware: 'uefi' };
    const d = await this.decide(query);
    // Not an ESXi boot for this MAC: not found (mboot.efi then asks `boot.cfg` next to itself),
    // recorded, so that request is rendered for this MAC and not for the address's previous host.
    if (d.action !== 'boot' || d.image.kind !== 'esxi')
      return { data: null, contentType: TEXT, decision: d, firmware: 'uefi', query };
    return this.renderBootCfg(d, ctx, query);
  }

  /** `<image>/boot.cfg` (mboot.c32) or `<image>/efi/boot/boot.cfg`: for the host last seen at the client address. */
  private async renderImageBootCfg(img: string, ctx: BootRequestContext): Promise<Rendered | null> {
    const image = (await this.imageMap()).get(img);
    if (!image || image.kind !== 'esxi') return null;
    const query = await this.identityFromAddress(ctx.clientAddress);
    const d = await this.decide(query);
    // The host asked for this image's boot.cfg: render it for this image even when the policy
    // would pick another (menu choice, stale pin); the boot event records both.
    const forImage: BootDecision =
      d.action === 'boot' && d.image.name === img
        ? d
        : {
            host: d.host,
            firmware: d.firmware,
            problems: d.problems,
            action: 'boot',
            image,
            reason: 'requested-image',
            cluster: null,
            stateful: false,
          };
    return this.renderBootCfg(forImage, ctx, query);
  }

  private async renderBootCfg(
    d: Extract<BootDecision, { action: 'boot' }>,
    ctx: BootRequestContext,
    query: HostQuery,
  ): Promise<Rendered> {
    const file = join(this.o.images.dir, d.image.name, d.image.esxi?.bootCfg ?? 'boot.cfg');
    const stored = parseBootCfg(await readFile(file, 'utf8'), file);
    const rctx = await this.renderContext(d, ctx.protocol === 'http' ? 'http' : 'tftp', true);
    const opts = { initiatorModule: this.o.initiatorModule ?? true };
    return {
      data: renderHostBootCfg(d.image, stored, rctx, opts),
      contentType: TEXT,
      decision: d,
      firmware: query.firmware ?? 'unknown',
      query,
    };
  }

  /**
   * Which host sent a request from `address`: the newest identified boot event within the TTL,
   * unless our DHCP lease of the address (full mode) is held by a MAC that is not that host's
   * (the event's MAC, else the MACs the store knows for its UUID): then the lease holder's MAC
   * while the lease is live (bound or offered, unexpired), else nobody.
   */
  private async identityFromAddress(address: string): Promise<HostQuery> {
    const now = this.now();
    const e = await this.o.hosts.lastIdentifiedBootEventFrom(address, now - IDENTITY_TTL_MS);
    if (!e) return {};
    const fw = e.firmware;
    const firmware: Firmware = fw === 'bios' || fw === 'uefi' || fw === 'ipxe' ? fw : 'unknown';
    const lease = await this.o.leases?.get(address);
    if (lease) {
      const macs = e.mac ? [e.mac] : e.hostUuid ? ((await this.o.hosts.get(e.hostUuid))?.macs ?? []) : [];
      if (!macs.includes(lease.mac)) {
        const live = (lease.state === 'bound' || lease.state === 'offered') && lease.expiresAt > now;
        return live ? { mac: lease.mac } : {};
      }
    }
    return { uuid: e.hostUuid, uuidOrder: 'smbios', mac: e.mac, firmware };
  }

  /** The policy's decision for `query`, its store lookups read first (src/hosts/policy-lookups.ts). */
  private async decide(query: HostQuery): Promise<BootDecision> {
    const images = await this.imageMap();
    const installs = this.o.installs;
    const store = { hosts: this.o.hosts, installedAt: installs && ((uuid: string) => installs.installedAt(uuid)) };
    return withStoreLookups(store, (lookups) =>
      decideBoot(query, {
        ...lookups,
        clusters: this.o.clusters,
        images,
        defaultImage: this.o.defaultImage,
        unknownHosts: this.o.unknownHosts,
      }),
    );
  }

  /** Images by name, re-read when the images directory changes (import/remove rename entries). */
  private async imageMap(): Promise<Map<string, ImageManifest>> {
    let key = -1;
    try {
      key = (await stat(this.o.images.dir)).mtimeMs;
    } catch {
      /* no images dir: empty */
    }
    if (this.imageCache && this.imageCache.key === key) return this.imageCache.images;
    const { images, broken } = await this.o.images.list();
    for (const b of broken)
      this.o.log.warn({ subsystem: 'boot-files', image: b.name, err: b.error }, 'image skipped: broken manifest');
    const map = new Map(images.map((i) => [i.name, i]));
    this.imageCache = { key, images: map };
    return map;
  }

  /** Render context for a decision; issues a phone-home token when the file carries a kernel command line. */
  private async renderContext(d: BootDecision, transport: 'tftp' | 'http', withToken: boolean): Promise<RenderContext> {
    const rctx: RenderContext = {
      serverAddress: this.o.serverAddress,
      httpPort: this.o.httpPort,
      initiatorPort: this.o.initiatorPort,
      initiatorAddress: this.o.initiatorAddress,
      transport,
    };
    if (d.action === 'boot' && d.kernelOptions) rctx.kernelOptions = d.kernelOptions;
    if (withToken && d.action === 'boot' && d.host.uuid) {
      rctx.token = await this.o.tokens.issue(d.host.uuid, this.now());
      if (d.stateful) rctx.kickstartUrl = `${httpBootBase(this.o)}hosts/${d.host.uuid}/ks.cfg`;
    }
    return rctx;
  }

  /** Records the answer as a boot event (a failing write is logged, the answer still served) and logs it. */
  private async record(name: string, ctx: BootRequestContext, r: Rendered, log: Logger): Promise<void> {
    const d = r.decision;
    const uuid = d?.host.uuid ?? null;
    const mac = d?.host.mac ?? (r.query.mac ? normalizeMac(r.query.mac) : null);
    const miss = r.data === null;
    const image = !miss && d?.action === 'boot' ? d.image.name : null;
    const detail: Record<string, unknown> = miss
      ? { action: 'not-found', known: d?.host.known ?? false }
      : d
        ? {
            action: d.action,
            ...(d.action === 'boot' ? { reason: d.reason } : {}),
            ...(d.action === 'local' ? { reason: d.reason } : {}),
            answer: bootAnswerOf(d),
            known: d.host.known,
          }
        : {};
    if (!miss && d?.problems.length) detail['problems'] = d.problems;
    try {
      await this.o.hosts.addBootEvent({
        at: this.now(),
        hostUuid: uuid,
        mac,
        address: ctx.clientAddress,
        protocol: ctx.protocol,
        file: name,
        image,
        firmware: r.firmware,
        detail,
      });
    } catch (e) {
      log.error({ err: e, file: name }, 'could not record boot event');
    }
    if (!miss && d?.problems.length) log.warn({ file: name, host: uuid, problems: d.problems }, 'boot policy problems');
    if (miss) log.info({ file: name, host: uuid, mac }, 'per-host boot file not found: host not known by this name');
    else log.info({ file: name, host: uuid, mac, image, action: d?.action }, 'rendered boot file');
  }
}

/**
 * The host a per-host script name `<uuid>|mac-<mac>|default` + `ext` names (iPXE's `${uuid}` and
 * GRUB's `smbios --get-uuid` are in SMBIOS order), or null when it names nobody: not a UUID or
 * MAC, or a nil UUID — not found, so the entry script's fallback by MAC runs.
 */
function perHostQuery(leaf: string, ext: string, firmware: Firmware): HostQuery | null {
  if (!leaf.endsWith(ext)) return null;
  const m = /^(mac-)?(.+)$/.exec(leaf.slice(0, -ext.length));
  if (!m) return null;
  if (m[1]) {
    const mac = normalizeMac(m[2]!);
    return mac ? { mac, firmware } : null;
  }
  if (m[2] === 'default') return { firmware };
  const uuid = normalizeUuid(m[2]!);
  return uuid && !isNilUuid(uuid) ? { uuid, uuidOrder: 'smbios', firmware } : null;
}

/**
 * What a rendered answer tells the host to do, for the boot history (`detail.answer`): `install`
 * (a stateful member's installer boot), `local-boot` (boot from local disk: boot-once after an
 * install, or the policy's local answer), `boot` (an image into RAM) or `menu`.
 */
function bootAnswerOf(d: BootDecision): 'install' | 'local-boot' | 'boot' | 'menu' {
  if (d.action === 'boot') return d.stateful ? 'install' : 'boot';
  return d.action === 'local' ? 'local-boot' : 'menu';
}

function isLinuxBoot(d: BootDecision): boolean {
  return d.action === 'boot' && d.image.kind === 'linux';
}

async function isDirectory(root: string, segs: string[], requested: string): Promise<boolean> {
  const real = await resolveInside(root, segs, requested);
  return !!real && (await stat(real)).isDirectory();
}

async function diskFile(root: string, segs: string[], requested: string): Promise<DiskFile | null> {
  return fileAt(await resolveInside(root, segs, requested));
}

/** The regular file at real path `real` (null: missing, or not a regular file). */
async function fileAt(real: string | null): Promise<DiskFile | null> {
  if (!real) return null;
  const st = await stat(real);
  if (!st.isFile()) return null;
  return { kind: 'disk', path: real, size: st.size, mtimeMs: st.mtimeMs };
}
