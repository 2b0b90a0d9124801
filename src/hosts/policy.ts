/**
 * The boot policy: the only place that decides what a booting host gets.
 *
 * Pure and deterministic: {@link decideBoot} reads only its arguments (lookups are injected and
 * must themselves be side-effect free) and answers in this written order, first match wins,
 * like matchbox's `SelectGroup`:
 *
 *  1. identify the host: SMBIOS UUID in either byte order (SMBIOS 2.6 §7.2.1 vs. the PXE wire
 *     order of RFC 4578 §2.3 / pxelinux), nil UUIDs (all 0 / all F) treated as absent; else the
 *     MAC: a cluster member's declared `mac=` first (the admin's word), then the store's sightings;
 *  2. image: host pin (store) → cluster member pin → cluster default → global `boot.default-image`;
 *  3. a host known to nobody (not in the store beyond a sighting, in no cluster, not pinned) gets
 *     what `boot.unknown-hosts` says: the menu of images, the default image, or local disk.
 *
 * Boot-once (issue 17): a stateful member whose install is on record ({@link PolicyInputs.installedAt})
 * boots from its local disk, whatever its image, until an admin asks for a reinstall.
 *
 * A pin naming an image that does not exist is not silently replaced by another image: the host
 * boots from local disk and the decision carries the problem.
 */
import type { HostRecord } from '../store/hosts.js';
import type { ImageManifest } from '../images/image.js';
import type { DesiredCluster } from '../clusters/types.js';
import { normalizeMac, normalizeUuid, isNilUuid, swapUuidByteOrder } from './identity.js';

/** Firmware family of the requester, as far as the protocol tells. */
export type Firmware = 'bios' | 'uefi' | 'ipxe' | 'unknown';

/** What a request tells us about who is asking. */
export interface HostQuery {
  /** A UUID as received, any spelling; null/undefined when absent. */
  uuid?: string | null;
  /**
   * Which byte order `uuid` is in: `smbios` (DHCP option 97 decoded, iPXE `${uuid}`), `wire`
   * (RFC 4578 §2.3 / pxelinux order, only that), `wire-or-smbios` (pxelinux's
   * `pxelinux.cfg/<uuid>`: the wire order tried first, the SMBIOS spelling also matched, so an
   * admin may name a host either way), or `either` (try both, SMBIOS first). The first spelling
   * tried is the one taken for a host nobody knows (recorded in its SMBIOS form).
   */
  uuidOrder?: 'smbios' | 'wire' | 'wire-or-smbios' | 'either';
  /** Boot MAC, any common spelling. */
  mac?: string | null;
  firmware?: Firmware;
}

/** What a cluster file says about a host (cluster files are owned elsewhere; this is the interface). */
export interface ClusterMembership {
  cluster: string;
  /** The member's own image pin in the cluster file. */
  image?: string | undefined;
  /** The cluster's default image. */
  defaultImage?: string | undefined;
  /** Stateful install (kickstart) instead of a stateless boot. */
  stateful?: boolean;
  /**
   * Kernel boot options from the cluster file, in order: the cluster's `boot/@kernelOptions`,
   * then the member's `kernelOptions` (either may be absent; checked when the file loaded).
   */
  kernelOptions?: { cluster?: string; member?: string };
}

/**
 * Looks up a host's cluster membership by SMBIOS UUID (exact spelling; the policy tries both byte
 * orders itself). Must be side-effect free, like `byMac`: when given, it names the member whose
 * cluster file declares this boot MAC (`mac=`, `aa:bb:cc:dd:ee:ff`) by that member's SMBIOS UUID,
 * or undefined — so a member is found by MAC before the store has ever seen it.
 */
export type ClusterLookup = ((uuid: string) => ClusterMembership | undefined) & {
  byMac?: (mac: string) => string | undefined;
};

/** The read-only store access the policy needs (a subset of HostRepo). */
export interface HostLookup {
  get(uuid: string): HostRecord | undefined;
  findByMac(mac: string): HostRecord[];
}

export type UnknownHostsMode = 'menu' | 'default-image' | 'local';

/** Everything the policy reads. */
export interface PolicyInputs {
  hosts: HostLookup;
  clusters: ClusterLookup;
  /** Images that exist, by name. */
  images: ReadonlyMap<string, ImageManifest>;
  /** Config `boot.default-image`. */
  defaultImage?: string | undefined;
  /** Config `boot.unknown-hosts`. */
  unknownHosts: UnknownHostsMode;
  /**
   * When a stateful member's install to disk was reported done (epoch ms; src/store/hostinstalls.ts),
   * by SMBIOS UUID; undefined: none on record, an install is due. Absent: no install is ever on record.
   */
  installedAt?: ((uuid: string) => number | undefined) | undefined;
}

/** Who the policy decided the requester is. */
export interface ResolvedHost {
  /** SMBIOS-form UUID, or null when none was usable. */
  uuid: string | null;
  mac: string | null;
  /** Known = pinned, in a cluster, or registered in the store (a mere sighting is not enough). */
  known: boolean;
  matchedBy: 'uuid' | 'mac' | 'none';
  record?: HostRecord;
  membership?: ClusterMembership;
}

/** Why an image was chosen. */
export type ImageReason =
  | 'host-pin'
  | 'cluster-member-pin'
  | 'cluster-default'
  | 'global-default'
  | 'unknown-host-default'
  /** Not chosen by the policy: the loader asked for this image's own file (a menu choice, an old pin). */
  | 'requested-image';

export type BootDecision = { host: ResolvedHost; firmware: Firmware; problems: string[] } & (
  | {
      action: 'boot';
      image: ImageManifest;
      reason: ImageReason;
      cluster: string | null;
      stateful: boolean;
      /**
       * Extra kernel boot options of a cluster member (cluster's, then the member's, space-joined),
       * for boot.cfg `kernelopt=` and Linux kernel command lines; absent when there are none.
       */
      kernelOptions?: string;
    }
  | { action: 'menu'; images: ImageManifest[]; defaultImage: string | null }
  | {
      action: 'local';
      reason: string;
      /** Boot-once: set when a stateful member boots from disk because its install is on record (epoch ms). */
      installedAt?: number;
    }
);

/** Identifies the host behind a query (step 1 of the order). */
export function resolveHost(q: HostQuery, inputs: Pick<PolicyInputs, 'hosts' | 'clusters'>): ResolvedHost {
  const mac = q.mac ? normalizeMac(q.mac) : null;
  const raw = q.uuid ? normalizeUuid(q.uuid) : null;
  const uuid = raw && !isNilUuid(raw) ? raw : null;
  if (uuid) {
    const candidates = uuidCandidates(uuid, q.uuidOrder ?? 'either');
    for (const c of candidates) {
      const record = inputs.hosts.get(c);
      const membership = inputs.clusters(c);
      if (record || membership) {
        return {
          uuid: c,
          mac,
          known: isKnown(record, membership),
          matchedBy: 'uuid',
          ...(record ? { record } : {}),
          ...(membership ? { membership } : {}),
        };
      }
    }
  }
  if (mac) {
    const declared = inputs.clusters.byMac?.(mac);
    const membership = declared ? inputs.clusters(declared) : undefined;
    if (declared && membership) {
      const record = inputs.hosts.get(declared);
      return { uuid: declared, mac, known: true, matchedBy: 'mac', ...(record ? { record } : {}), membership };
    }
    const byMac = [...inputs.hosts.findByMac(mac)].sort(
      (a, b) => b.lastSeen - a.lastSeen || a.uuid.localeCompare(b.uuid),
    );
    const record = byMac[0];
    if (record) {
      const membership = inputs.clusters(record.uuid);
      return {
        uuid: record.uuid,
        mac,
        known: isKnown(record, membership),
        matchedBy: 'mac',
        record,
        ...(membership ? { membership } : {}),
      };
    }
  }
  // Unknown: keep the UUID in SMBIOS form for the boot history and any token (wire-order
  // requests are swapped back): the first spelling the order names.
  const smbios = uuid ? uuidCandidates(uuid, q.uuidOrder ?? 'either')[0]! : null;
  return { uuid: smbios, mac, known: false, matchedBy: 'none' };
}

/** The SMBIOS-form readings of a normalized `uuid` sent in `order`, most likely first. */
function uuidCandidates(uuid: string, order: NonNullable<HostQuery['uuidOrder']>): string[] {
  const swapped = swapUuidByteOrder(uuid);
  switch (order) {
    case 'smbios':
      return [uuid];
    case 'wire':
      return [swapped];
    case 'wire-or-smbios':
      return [swapped, uuid];
    case 'either':
      return [uuid, swapped];
  }
}

function isKnown(record: HostRecord | undefined, membership: ClusterMembership | undefined): boolean {
  return !!membership || !!record?.imagePin || (!!record && record.state !== 'unregistered');
}

/**
 * Decides what a host boots. Pure: same inputs, same answer.
 * @returns a boot decision (image + why), a menu, or local boot; `problems` lists configuration
 *   errors met on the way (e.g. a pin naming a missing image), each naming the field
 */
export function decideBoot(q: HostQuery, inputs: PolicyInputs): BootDecision {
  const host = resolveHost(q, inputs);
  const firmware = q.firmware ?? 'unknown';
  const problems: string[] = [];
  const m = host.membership;
  const chain: Array<[ImageReason, string | undefined | null, string]> = [
    ['host-pin', host.record?.imagePin, `host ${host.uuid} image pin`],
    ['cluster-member-pin', m?.image, `cluster "${m?.cluster}" member ${host.uuid} image`],
    ['cluster-default', m?.defaultImage, `cluster "${m?.cluster}" default image`],
  ];
  if (host.known) chain.push(['global-default', inputs.defaultImage, 'boot.default-image']);
  const installedAt = m?.stateful && host.uuid ? inputs.installedAt?.(host.uuid) : undefined;
  if (installedAt !== undefined) {
    const reason = `stateful install done ${new Date(installedAt).toISOString()}: boot from local disk until a reinstall is requested`;
    return { host, firmware, problems, action: 'local', reason, installedAt };
  }
  for (const [reason, name, field] of chain) {
    if (!name) continue;
    const image = inputs.images.get(name);
    if (!image) {
      problems.push(`${field}: image "${name}" does not exist`);
      return { host, firmware, problems, action: 'local', reason: `${field} names missing image "${name}"` };
    }
    const kernelOptions = memberKernelOptions(m);
    return {
      host,
      firmware,
      problems,
      action: 'boot',
      image,
      reason,
      cluster: m?.cluster ?? host.record?.cluster ?? null,
      stateful: !!m?.stateful,
      ...(kernelOptions ? { kernelOptions } : {}),
    };
  }
  return unknownHostDecision(host, firmware, problems, inputs);
}

/** The cluster's kernel options, then the member's, space-joined; undefined when both are empty. */
export function memberKernelOptions(m: Pick<ClusterMembership, 'kernelOptions'> | undefined): string | undefined {
  const words = [m?.kernelOptions?.cluster, m?.kernelOptions?.member]
    .flatMap((o) => (o ?? '').split(' '))
    .filter((w) => w !== '');
  return words.length ? words.join(' ') : undefined;
}

function unknownHostDecision(
  host: ResolvedHost,
  firmware: Firmware,
  problems: string[],
  inputs: PolicyInputs,
): BootDecision {
  const def = inputs.defaultImage ? inputs.images.get(inputs.defaultImage) : undefined;
  if (inputs.defaultImage && !def) problems.push(`boot.default-image: image "${inputs.defaultImage}" does not exist`);
  const mode = host.known ? 'menu' : inputs.unknownHosts;
  if (mode === 'local') return { host, firmware, problems, action: 'local', reason: 'boot.unknown-hosts is "local"' };
  if (mode === 'default-image' && def) {
    return {
      host,
      firmware,
      problems,
      action: 'boot',
      image: def,
      reason: 'unknown-host-default',
      cluster: null,
      stateful: false,
    };
  }
  const images = [...inputs.images.values()].sort((a, b) => a.name.localeCompare(b.name));
  if (images.length === 0) return { host, firmware, problems, action: 'local', reason: 'no images' };
  return { host, firmware, problems, action: 'menu', images, defaultImage: def?.name ?? null };
}

/** Who pins `image` in cluster files: `cluster <name>` (default image) and `cluster <name> member <uuid>`. */
export function clusterImagePins(
  clusters: ReadonlyArray<Pick<DesiredCluster, 'name' | 'image' | 'hosts'>>,
  image: string,
): string[] {
  const out: string[] = [];
  for (const c of clusters) {
    if (c.image === image) out.push(`cluster ${c.name} (default image)`);
    for (const h of c.hosts) if (h.image === image) out.push(`cluster ${c.name} member ${h.uuid}`);
  }
  return out;
}

/**
 * Boot-once for the DHCP answer: whether the host behind `q` is a stateful member whose install is
 * on record, so it boots from its local disk (what {@link decideBoot} answers it). Pure and cheap
 * (no image list): identity as {@link resolveHost}, then the membership and `installedAt`.
 */
export function bootsFromInstalledDisk(
  q: HostQuery,
  inputs: Pick<PolicyInputs, 'hosts' | 'clusters' | 'installedAt'>,
): boolean {
  if (!inputs.installedAt) return false;
  const host = resolveHost(q, inputs);
  return !!host.membership?.stateful && !!host.uuid && inputs.installedAt(host.uuid) !== undefined;
}
