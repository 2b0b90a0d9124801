/**
 * The stateless host lifecycle, as the planner sees it (issue 21). A stateless ESXi host forgets
 * its configuration, root password and certificate at every boot; vCenter keeps the HostSystem
 * and shows it not responding. What the engine may do with a member depends on its boot:
 *
 *   booted (PXE answer served, src/boot) ──► phoned home (verified, src/hosts/registry → store
 *   host_boots) ──► joining (AddHost_Task / ReconnectHost_Task, engine/apply) ──► converged
 *   (job succeeded, engine/jobs → host_boots.converged_at) ──(reboot)──► booted …
 *
 * - a member not in vCenter is added only once it phoned home on its current boot (a host still in
 *   its firmware cannot be added): "waiting for phone-home" while only PXE saw it;
 * - a member vCenter shows disconnected/not responding is reconnected when it phoned home on its
 *   current boot and that boot has not converged yet; otherwise it is "waiting for boot" — shown,
 *   never an error for the whole cluster;
 * - a connected member whose current phone-home reports a thumbprint other than the one vCenter
 *   accepted is refused ("thumbprint mismatch", a spoof): nothing is changed in vCenter.
 *
 * Pure: types and decisions only. The facts come from src/store/hostboots.ts through engine/jobs.
 */
import type { HostBootRecord } from '../store/index.js';

/**
 * What the engine knows of a member's current boot: the store's record without its key (all times
 * epoch ms; thumbprints upper-case colon hex). See src/store/hostboots.ts for each field.
 */
export type HostBoot = Omit<HostBootRecord, 'uuid'>;

/** Why the planner left a member out of this plan. */
export type HoldReason = 'waiting-for-phone-home' | 'waiting-for-boot' | 'thumbprint-mismatch';

/** A member the plan leaves alone, with a sentence for the job log, plan and API. */
export interface HostHold {
  uuid: string;
  fqdn: string;
  reason: HoldReason;
  detail: string;
}

/** True when the host's last phone-home belongs to its current boot (no PXE answer served since). */
export function phonedHomeThisBoot(b: HostBoot | undefined): boolean {
  return b?.phonedHomeAt !== undefined && (b.pxeBootAt === undefined || b.phonedHomeAt >= b.pxeBootAt);
}

/** True when the current boot phoned home and has not converged since: a (re)join is due. */
export function rejoinDue(b: HostBoot | undefined): boolean {
  return phonedHomeThisBoot(b) && (b!.convergedAt === undefined || b!.convergedAt < b!.phonedHomeAt!);
}

/** True when PXE served the host after its last phone-home (or it never phoned home): ESXi is not up yet. */
export function seenByPxeOnly(b: HostBoot | undefined): boolean {
  return b?.pxeBootAt !== undefined && !phonedHomeThisBoot(b);
}

/**
 * The thumbprint to send in HostConnectSpec.sslThumbprint from a phone-home: SHA-1 when the host
 * reported it (every vCenter version takes it), else SHA-256. Undefined when none was reported.
 */
export function phoneHomeThumbprint(b: HostBoot | undefined): string | undefined {
  return b?.thumbprintSha1 ?? b?.thumbprint;
}

/**
 * True when the current phone-home reported thumbprints and none of them is the one vCenter
 * accepted for the host (a connected host cannot have changed its certificate without a reboot).
 */
export function thumbprintMismatch(b: HostBoot | undefined): boolean {
  if (!b?.joinedThumbprint || !phonedHomeThisBoot(b)) return false;
  const reported = [b.thumbprint, b.thumbprintSha1].filter((t): t is string => !!t).map((t) => t.toUpperCase());
  return reported.length > 0 && !reported.includes(b.joinedThumbprint.toUpperCase());
}

/** A member whose phone-home named it differently from its cluster file (a warning, not a hold). */
export interface FqdnMismatch {
  uuid: string;
  /** The FQDN the cluster file declares (what vCenter adds the host as). */
  fqdn: string;
  reason: 'fqdn-mismatch';
  /** The name the host sent in its last phone-home (`host_boots.hostname`). */
  reported: string;
  /** One sentence for the plan, API and CLI. */
  detail: string;
}

/**
 * Whether the name a member phoned home with (its last phone-home, `HostBoot.hostname`) differs
 * from the FQDN its cluster file declares: a fully qualified name must equal it, a short name
 * (older initiators send one) its first label; case and a trailing dot do not count. Undefined
 * when they agree or the host sent no name. The host's claim is a hint, never acted on: the plan
 * only warns (a wrong FQDN in the file adds a host vCenter cannot resolve, or another machine's).
 */
export function fqdnMismatch(uuid: string, declared: string, b: HostBoot | undefined): FqdnMismatch | undefined {
  const reported = b?.hostname?.replace(/\.$/, '').toLowerCase();
  if (!reported) return undefined;
  const fqdn = declared.replace(/\.$/, '').toLowerCase();
  const short = !reported.includes('.');
  if (short ? reported === fqdn.split('.')[0] : reported === fqdn) return undefined;
  return {
    uuid,
    fqdn: declared,
    reason: 'fqdn-mismatch',
    reported,
    detail: short
      ? `the host phoned home as "${reported}", not "${fqdn.split('.')[0]}" (the first label of the declared FQDN)`
      : `the host phoned home as "${reported}"; the cluster file declares "${declared}"`,
  };
}
