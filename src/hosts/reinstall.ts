/**
 * Boot-once for stateful installs (issue 17 item 3): a stateful member's install state as the
 * API, console and CLI show it, and the admin's reinstall request. The install itself is recorded
 * by the phone-home registry (`stage=installed` from the kickstart's `%firstboot`) and read by the
 * boot policy ({@link decideBoot}: an installed stateful member boots from local disk). Used by
 * `POST /api/v1/hosts/{uuid}/reinstall`, `GET /api/v1/hosts/{uuid}/install` and
 * `statelesx host reinstall <uuid>`.
 */
import type { DesiredCluster } from '../clusters/types.js';
import { memberBootMode } from '../clusters/boot-mode.js';
import type { HostInstallStore } from '../store/index.js';
import { normalizeUuid, swapUuidByteOrder } from './identity.js';

/** A host's cluster membership as far as installs go: its cluster and whether it installs to disk. */
export interface InstallMembership {
  cluster: string;
  /** The member's UUID as its cluster file spells it (SMBIOS form, lower case). */
  uuid: string;
  stateful: boolean;
}

/** What a host's next network boot gets and why. Times are epoch ms. */
export interface InstallState {
  /** SMBIOS UUID, lower case (the cluster file's spelling when the host is a member). */
  uuid: string;
  /** The member's cluster, or null when no cluster file lists the host. */
  cluster: string | null;
  /** Whether the member installs ESXi to disk (`bootMode`/`boot/@mode` is `stateful`). */
  stateful: boolean;
  installedAt: number | null;
  installedFrom: string | null;
  reinstallRequestedAt: number | null;
  reinstallRequestedBy: string | null;
  /**
   * The boot-once answer of the next network boot: `install` (the installer with its kickstart),
   * `local-boot` (boot from local disk: the install is on record), or null for a stateless host
   * (boot-once does not apply: it boots its image into RAM every time).
   */
  nextBoot: 'install' | 'local-boot' | null;
}

/** A reinstall asked for a host that is not a stateful member of a cluster file. */
export class NotStatefulError extends Error {
  override name = 'NotStatefulError';
}

/**
 * The member whose cluster file lists `uuid` (either byte order, the file's spelling returned).
 * @throws Error when `uuid` is not a UUID
 */
export function installMembership(clusters: readonly DesiredCluster[], uuid: string): InstallMembership | undefined {
  const u = normalizeUuid(uuid);
  if (!u) throw new Error(`"${uuid}" is not a hardware UUID`);
  const forms = [u, swapUuidByteOrder(u)];
  for (const form of forms)
    for (const c of clusters)
      for (const h of c.hosts)
        if (normalizeUuid(h.uuid) === form)
          return { cluster: c.name, uuid: form, stateful: memberBootMode(c, h) === 'stateful' };
  return undefined;
}

/** The install state of `uuid` (SMBIOS form) given its membership (undefined: in no cluster file). */
export async function installState(
  installs: Pick<HostInstallStore, 'get'>,
  uuid: string,
  member: InstallMembership | undefined,
): Promise<InstallState> {
  const id = member?.uuid ?? normalizeUuid(uuid) ?? uuid.toLowerCase();
  const r = await installs.get(id);
  const stateful = member?.stateful ?? false;
  const installedAt = r?.installedAt ?? null;
  return {
    uuid: id,
    cluster: member?.cluster ?? null,
    stateful,
    installedAt,
    installedFrom: r?.installedFrom ?? null,
    reinstallRequestedAt: r?.reinstallRequestedAt ?? null,
    reinstallRequestedBy: r?.reinstallRequestedBy ?? null,
    nextBoot: stateful ? (installedAt === null ? 'install' : 'local-boot') : null,
  };
}

/**
 * Asks for a reinstall: forgets the member's install, so its next network boot gets the
 * installer and its kickstart again; after that install's `%firstboot` phone-home it boots from
 * local disk again. Asking when no install is on record is allowed (it records the request).
 * @returns the state before and after
 * @throws NotStatefulError when the host is in no cluster file, or its member is stateless
 */
export async function requestReinstall(
  installs: Pick<HostInstallStore, 'get' | 'requestReinstall'>,
  uuid: string,
  member: InstallMembership | undefined,
  p: { at: number; actor: string },
): Promise<{ before: InstallState; after: InstallState }> {
  if (!member)
    throw new NotStatefulError(`host ${uuid} is in no cluster file: only a stateful member is installed to disk`);
  if (!member.stateful)
    throw new NotStatefulError(
      `host ${member.uuid} is a stateless member of cluster ${member.cluster}: it boots its image into RAM at every boot, nothing to reinstall (set bootMode="stateful" to install it)`,
    );
  const before = await installState(installs, member.uuid, member);
  await installs.requestReinstall(member.uuid, p);
  return { before, after: await installState(installs, member.uuid, member) };
}
