/**
 * Admin reset of a host's recorded SSL thumbprints (issue 21 item 3): after a certificate was
 * replaced on purpose, or a motherboard swap, the thumbprints statelesx recorded for the machine
 * (the phone-home's and the one vCenter accepted, table `host_boots`) and the trust-on-first-use
 * record for its FQDN (`host_thumbprints`) are forgotten, so the next boot's phone-home is trusted
 * again. Used by `statelesx host reset-thumbprint` and `DELETE /api/v1/hosts/{id}/thumbprint`.
 */
import type { HostBootStore, TofuThumbprints } from '../store/index.js';
import { normalizeUuid } from './identity.js';

/** What was reset. */
export interface ThumbprintReset {
  /** The host's UUID when one was resolved (lower case). */
  uuid?: string | undefined;
  /** The FQDN whose trust-on-first-use record was considered. */
  fqdn?: string | undefined;
  /** Whether anything was recorded (false: nothing to forget). */
  changed: boolean;
}

/** The id given is neither a hardware UUID nor a host name (bad input, not a store failure). */
export class HostIdError extends Error {
  override name = 'HostIdError';
}

/**
 * Resets by UUID (either spelling normalizeUuid accepts) or by FQDN. `members` maps a member's
 * FQDN ↔ UUID from the cluster files (either direction may be unknown: a host only in the store).
 * @throws HostIdError when `id` is neither a UUID nor a host name (rejects); the store's errors
 */
export async function resetThumbprint(
  store: { hostBoots: Pick<HostBootStore, 'resetThumbprint'>; jobs: TofuThumbprints },
  id: string,
  members: { fqdnOf(uuid: string): string | undefined; uuidOf(fqdn: string): string | undefined },
): Promise<ThumbprintReset> {
  const asUuid = normalizeUuid(id);
  let uuid: string | undefined;
  let fqdn: string | undefined;
  if (asUuid) {
    uuid = asUuid;
    fqdn = members.fqdnOf(asUuid);
  } else if (/^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$/.test(id)) {
    fqdn = id.toLowerCase().replace(/\.$/, '');
    uuid = members.uuidOf(fqdn);
  } else {
    throw new HostIdError(`"${id}" is neither a hardware UUID nor a host name`);
  }
  let changed = false;
  if (uuid && (await store.hostBoots.resetThumbprint(uuid))) changed = true;
  if (fqdn && (await store.jobs.forgetThumbprint(fqdn))) changed = true;
  return { uuid, fqdn, changed };
}
