/**
 * A host's boot history: what our DHCP, TFTP and HTTP recorded for it. Requests made before the
 * host's UUID was known are recorded by MAC only, so the history merges the events recorded under
 * its UUID with those recorded under its MACs. Read through the store's {@link HostReader} port.
 */
import type { BootEvent, HostReader, HostRecord } from '../store/index.js';

/**
 * The boot history the API shows (`GET /api/v1/hosts/{uuid}/boots`): the events recorded for the
 * host's UUID, plus the MAC-only events (no host UUID) of every MAC the server saw it with;
 * newest first, at most `limit`.
 */
export async function hostBootHistory(
  hosts: Pick<HostReader, 'bootEvents'>,
  host: HostRecord,
  limit: number,
): Promise<BootEvent[]> {
  const events = await hosts.bootEvents({ uuid: host.uuid, limit });
  for (const mac of host.macs)
    events.push(...(await hosts.bootEvents({ mac, limit })).filter((e) => e.hostUuid === null));
  return events.sort((a, b) => b.at - a.at).slice(0, limit);
}

/**
 * The wider history `statelesx host list` shows as evidence: every event recorded for the UUID,
 * for a MAC the server saw, or for a MAC the host only claimed when it phoned home (evidence
 * `claimedMacs`), whoever it was recorded for; each event once, newest first (then by id), at most `limit`.
 */
export async function hostEvidenceHistory(
  hosts: Pick<HostReader, 'bootEvents'>,
  host: HostRecord,
  limit: number,
): Promise<BootEvent[]> {
  const claimed = Array.isArray(host.evidence['claimedMacs'])
    ? (host.evidence['claimedMacs'] as unknown[]).filter((m): m is string => typeof m === 'string')
    : [];
  const seen = new Map<number, BootEvent>();
  for (const e of await hosts.bootEvents({ uuid: host.uuid, limit })) seen.set(e.id!, e);
  for (const mac of new Set([...host.macs, ...claimed]))
    for (const e of await hosts.bootEvents({ mac, limit })) seen.set(e.id!, e);
  return [...seen.values()].sort((a, b) => b.at - a.at || (b.id ?? 0) - (a.id ?? 0)).slice(0, limit);
}
