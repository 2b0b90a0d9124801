/**
 * What DHCP records of a PXE boot answer: a boot event for every answer, and a host sighting at
 * most every 10 s per UUID (a storm of DISCOVERs must not become a storm of writes). Writes only
 * through the store ports it is given; a failing write is logged, never thrown into the reply path.
 */
import type { Logger } from '../../log.js';
import type { BootEventWriter, SightingWriter } from '../../store/index.js';
import type { BootAnswer } from './boot-answer.js';
import type { ClientInfo } from './client-info.js';
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

/** Records boot events and sightings of one DHCP service. */
export class BootRecorder {
  private readonly sightings = new Map<string, number>();

  constructor(
    private readonly hosts: SightingWriter & BootEventWriter,
    private readonly mode: 'proxy' | 'full',
    private readonly log: Logger,
  ) {}

  /** Records one served PXE answer: its boot event, and a host sighting at most every 10 s per UUID. */
  record(
    c: ClientInfo,
    boot: BootAnswer,
    type: number,
    address: string | null,
    now: number,
    ctx: Record<string, unknown>,
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
    try {
      this.hosts.addBootEvent({
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
          vendorClass: c.vendorClass,
          userClass: c.userClasses,
          mode: this.mode,
          ...(c.ndi ? { ndi: `${c.ndi.major}.${c.ndi.minor}` } : {}),
          ...(c.clientId ? { clientId: c.clientId } : {}),
          ...(ipxe ? { ipxe } : {}),
        },
      });
      if (c.uuid && (this.sightings.get(c.uuid) ?? 0) + 10_000 < now) {
        if (this.sightings.size > 10_000) this.sightings.clear();
        this.sightings.set(c.uuid, now);
        this.hosts.upsertSighting({
          uuid: c.uuid,
          at: now,
          mac: c.mac,
          ...(address ? { address } : {}),
          evidence: { dhcp: { arch: c.arch, vendorClass: c.vendorClass, firmware: boot.firmware } },
        });
      }
    } catch (e) {
      this.log.warn({ ...ctx, err: e }, 'could not record the boot event');
    }
  }
}
