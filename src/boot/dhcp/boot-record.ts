/**
 * What DHCP records of a PXE boot answer: a boot event for every answer, and a host sighting at
 * most every 10 s per UUID (a storm of DISCOVERs must not become a storm of writes). Client claims
 * (60, 77, 61) are stored cut to a few hundred characters (`storedClaim`). Writes only
 * through the store ports it is given, queued after the reply; a failing write is logged, never
 * thrown into the reply path.
 */
import type { Logger } from '../../log.js';
import type { BootEvent, BootEventWriter, HostReader, HostSighting, SightingWriter } from '../../store/index.js';
import { KeyedRateLimit } from '../../net/rate-limit.js';
import type { BootAnswer } from './boot-answer.js';
import { storedClaim, storedUserClasses, type ClientInfo } from './client-info.js';
import { ipxeSummary } from './ipxe-options.js';

/** DHCP message type (option 53, RFC 2132 §9.6) → the name used in logs, metrics and boot events. */
export const TYPE_NAMES: Record<number, string> = {
  1: 'discover',
  2: 'offer',
  3: 'request',
  4: 'decline',
  5: 'ack',
  6: 'nak',
  7: 'release',
  8: 'inform',
};

/** Queued writes beyond which answers go unrecorded (a stalled store must not grow memory without bound). */
const MAX_PENDING_WRITES = 10_000;

/**
 * Records boot events and sightings of one DHCP service. The store's writes are asynchronous: they
 * run one after another in the order the answers were sent (so sightings of one host never race),
 * after the reply, without holding up the replies that follow.
 */
export class BootRecorder {
  private readonly sightings = new Map<string, number>();
  /** The queued writes' tail: settles when all writes queued so far are done. */
  private writes: Promise<void> = Promise.resolve();
  /** Writes queued and not done; at {@link MAX_PENDING_WRITES} answers are no longer recorded. */
  private pending = 0;
  private lastBacklogWarn = 0;
  private readonly newHosts: KeyedRateLimit | undefined;

  /**
   * @param newHostsPerMinute `dhcp.new-hosts-per-source-per-minute`: sightings of UUIDs the store
   *   does not know yet, per source address (undefined: no limit). Over it, the boot event is
   *   still recorded but no host row is made (it is made at a later sighting or phone-home).
   */
  constructor(
    private readonly hosts: SightingWriter & BootEventWriter & Pick<HostReader, 'get'>,
    private readonly mode: 'proxy' | 'full',
    private readonly log: Logger,
    newHostsPerMinute?: number,
  ) {
    this.newHosts = newHostsPerMinute === undefined ? undefined : new KeyedRateLimit(newHostsPerMinute);
  }

  /**
   * Records one served PXE answer: logs it, and queues its boot event and a host sighting at most
   * every 10 s per UUID (a new host only within the per-source rate). Returns at once; a failing
   * write is logged.
   * @param source the request's source address (the relay, or 0.0.0.0 on the local segment)
   */
  record(
    c: ClientInfo,
    boot: BootAnswer,
    type: number,
    address: string | null,
    now: number,
    ctx: Record<string, unknown>,
    source = '0.0.0.0',
  ): void {
    this.log.info(
      {
        ...ctx,
        type: TYPE_NAMES[type],
        address,
        firmware: boot.firmware,
        file: boot.bootFile,
        uuid: c.uuid,
        arch: c.arch,
      },
      'PXE boot answer sent',
    );
    const ipxe = ipxeSummary(c.ipxeOptions); // option 175: features, version, bus id
    const event: BootEvent = {
      at: now,
      hostUuid: c.uuid ?? null,
      mac: c.mac,
      address,
      protocol: 'dhcp',
      file: boot.bootFile,
      image: null,
      firmware: boot.firmware,
      detail: {
        message: TYPE_NAMES[type],
        xid: ctx.xid,
        arch: c.arch,
        vendorClass: storedClaim(c.vendorClass),
        userClass: storedUserClasses(c.userClasses),
        mode: this.mode,
        ...(c.ndi ? { ndi: `${c.ndi.major}.${c.ndi.minor}` } : {}),
        ...(c.clientId ? { clientId: storedClaim(c.clientId) } : {}),
        ...(ipxe ? { ipxe } : {}),
      },
    };
    let sighting: HostSighting | undefined;
    if (c.uuid && (this.sightings.get(c.uuid) ?? 0) + 10_000 < now) {
      if (this.sightings.size > 10_000) this.sightings.clear();
      this.sightings.set(c.uuid, now);
      sighting = {
        uuid: c.uuid,
        at: now,
        mac: c.mac,
        ...(address ? { address } : {}),
        evidence: { dhcp: { arch: c.arch, vendorClass: storedClaim(c.vendorClass), firmware: boot.firmware } },
      };
    }
    if (this.pending >= MAX_PENDING_WRITES) {
      if (now - this.lastBacklogWarn > 10_000) {
        this.lastBacklogWarn = now;
        this.log.warn({ ...ctx, pending: this.pending }, 'boot event not recorded: the store is behind');
      }
      return;
    }
    this.pending++;
    this.writes = this.writes.then(() => this.write(event, sighting, source, ctx)).finally(() => this.pending--);
  }

  /** Settles when every write {@link record} queued so far is done (they never reject). */
  idle(): Promise<void> {
    return this.writes;
  }

  /** Writes one answer's boot event, then its sighting (a new host only within the per-source rate). */
  private async write(
    event: BootEvent,
    sighting: HostSighting | undefined,
    source: string,
    ctx: Record<string, unknown>,
  ): Promise<void> {
    try {
      await this.hosts.addBootEvent(event);
      if (!sighting) return;
      if (this.newHosts && !(await this.hosts.get(sighting.uuid)) && !this.newHosts.take(source, sighting.at)) {
        this.log.debug({ ...ctx, uuid: sighting.uuid, from: source }, 'new host not recorded: rate-limited');
        return;
      }
      await this.hosts.upsertSighting(sighting);
    } catch (e) {
      this.log.warn({ ...ctx, err: e }, 'could not record the boot event');
    }
  }
}
