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

/** The store's `host_boots` as the runner uses it (src/store/hostboots.ts HostBootRepo; asynchronous). */
export interface HostBootSource {
  get(uuid: string, otherByteOrder?: string): Promise<HostBootRecord | undefined>;
  /** `get` for many hosts in a fixed number of queries; by lower-case UUID. */
  getMany(hosts: ReadonlyArray<{ uuid: string; otherByteOrder: string }>): Promise<Map<string, HostBootRecord>>;
  markConverged(uuid: string, at: number): Promise<void>;
  setJoinedThumbprint(uuid: string, thumbprint: string): Promise<void>;
  /** Job `jobId` failed for the host for a reason a retry of the same boot cannot fix. */
  markFailed(uuid: string, at: number, jobId: string): Promise<void>;
  /**
   * Lower-case UUIDs whose last phone-home is newer than their last convergence and whose job for
   * that boot did not fail for good.
   */
  pendingRejoins(): Promise<string[]>;
}

/** Members' current boots as the (synchronous, pure) planner reads them: by member UUID, any case. */
export type BootLookup = (uuid: string) => HostBoot | undefined;

/**
 * Reads the current boots of the members `uuids` (either byte order of the boot events) in one
 * `getMany`, and returns the planner's lookup over what was read. Read once per plan: a
 * phone-home arriving after it shows in the next plan.
 */
export async function readBoots(boots: Pick<HostBootSource, 'getMany'>, uuids: readonly string[]): Promise<BootLookup> {
  const got = await boots.getMany(uuids.map((u) => ({ uuid: u, otherByteOrder: swapUuidByteOrder(u.toLowerCase()) })));
  return (uuid) => got.get(uuid.toLowerCase());
}

/** Reads a cluster's members' current boots for a plan (see {@link readBoots}); what drift checks take. */
export type BootsReader = (uuids: readonly string[]) => Promise<BootLookup>;

/** The {@link BootsReader} over the store's `host_boots`. */
export function bootLookup(boots: Pick<HostBootSource, 'getMany'>): BootsReader {
  return (uuids) => readBoots(boots, uuids);
}

/** One member's current boot read now (either byte order of the boot events), for a step about to run. */
export function liveBoot(boots: Pick<HostBootSource, 'get'>): (uuid: string) => Promise<HostBoot | undefined> {
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
export async function pendingRejoins(
  boots: Pick<HostBootSource, 'pendingRejoins'>,
  findByHost: (uuid: string) => DesiredCluster | undefined,
): Promise<string[]> {
  return (await boots.pendingRejoins()).filter((u) => findByHost(u) !== undefined);
}
