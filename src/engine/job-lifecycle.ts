/**
 * The job runner's side of the stateless lifecycle (engine/lifecycle): where a job's plan gets
 * each member's current boot from, how held members become a job outcome, and which members need
 * a rejoin after a restart. Kept out of engine/jobs (scheduling and rounds) so the rules read in
 * one place.
 */
import type { DesiredCluster } from '../clusters/types.js';
import { swapUuidByteOrder } from '../hosts/identity.js';
import { counter } from '../metrics.js';
import type { HostBootRecord } from '../store/hostboots.js';
import type { HostBoot, HostHold } from './lifecycle.js';

/** `statelesx_phone_home_spoofs_total`: phone-homes refused because their thumbprint is not vCenter's for a connected host. */
export const phoneHomeSpoofs = counter(
  'phone_home_spoofs_total',
  'Phone-homes of a connected host whose SSL thumbprint differs from the one vCenter accepted (refused, nothing changed)',
);

/** The store's `host_boots` as the runner uses it (src/store/hostboots.ts HostBootRepo). */
export interface HostBootSource {
  get(uuid: string, otherByteOrder?: string): HostBootRecord | undefined;
  markConverged(uuid: string, at: number): void;
  setJoinedThumbprint(uuid: string, thumbprint: string): void;
  /** Job `jobId` failed for the host for a reason a retry of the same boot cannot fix. */
  markFailed(uuid: string, at: number, jobId: string): void;
  /**
   * Lower-case UUIDs whose last phone-home is newer than their last convergence and whose job for
   * that boot did not fail for good.
   */
  pendingRejoins(): string[];
}

/** A boot lookup for the planner: by member UUID, either byte order of the boot events. */
export function bootLookup(boots: HostBootSource): (uuid: string) => HostBoot | undefined {
  return (uuid) => boots.get(uuid, swapUuidByteOrder(uuid.toLowerCase()));
}

/** How a job ends when its plan is empty but some members were held. */
export interface HeldOutcome {
  state: 'succeeded' | 'failed' | 'blocked';
  /** One line: every held member and why (undefined when none was held). */
  reason?: string | undefined;
}

/**
 * The final state for a job whose last plan is empty: a thumbprint mismatch fails it (and is
 * counted once per job); a configure-host job whose host waits is `blocked` (a new job runs when the
 * host phones home); a cluster job succeeds for the members that converged, with the held ones
 * named in its reason.
 */
export function heldOutcome(kind: string, holds: HostHold[]): HeldOutcome {
  if (holds.length === 0) return { state: 'succeeded' };
  const reason = holds.map((h) => `${h.fqdn}: ${h.reason.replaceAll('-', ' ')} — ${h.detail}`).join('; ');
  if (holds.some((h) => h.reason === 'thumbprint-mismatch')) {
    phoneHomeSpoofs.inc(holds.filter((h) => h.reason === 'thumbprint-mismatch').length);
    return { state: 'failed', reason };
  }
  if (kind === 'configure-host') return { state: 'blocked', reason };
  return { state: 'succeeded', reason: `converged except ${holds.length} member(s): ${reason}` };
}

/**
 * Members whose current boot phoned home but never converged (the server or vCenter was down,
 * the job died, or it gave up on transient faults): each gets a rejoin job at start. A boot whose
 * job failed for a reason a retry cannot fix (thumbprint mismatch, a root password that is set and
 * not the configured one, another machine under the member's FQDN) is left out until the host
 * phones home again — an operator's apply still retries it.
 */
export function pendingRejoins(
  boots: HostBootSource,
  findByHost: (uuid: string) => DesiredCluster | undefined,
): string[] {
  return boots.pendingRejoins().filter((u) => findByHost(u) !== undefined);
}
