/**
 * Where DHCP may send a unicast reply (issue 16, finding 9: reflection). A request's source
 * address, its giaddr (RFC 2131 §4.1) and its ciaddr are whatever the sender wrote: answering
 * them blindly turns the server into a reflector that sends our (larger) replies to any address.
 *
 * - A relayed request (giaddr set, port 67) is answered only when giaddr is a configured relay
 *   (`dhcp.relays`). The default is no relay: a relay is part of the network's design, its admin
 *   knows its address (the `ip helper-address`/`dhcrelay` line names this server), and one line
 *   of configuration is cheaper than a reflector every boot LAN host can aim.
 * - A boot server discovery request (port 4011, PXE 2.1 §2.2.6; its reply goes to the datagram's
 *   source) and a reply unicast to ciaddr are answered only when that address is on a served
 *   segment (the interface's subnet, full mode's pool subnet) or is a configured relay.
 * Broadcast replies go to the segment we serve and are always allowed.
 */
import { ipToInt } from './packet.js';

/** An IPv4 subnet: address and netmask, dotted quads. */
export interface Segment {
  address: string;
  netmask: string;
}

/** Why a reply was not sent: the `reason` label of `dhcp_dropped_total`. */
export type PeerRefusal = 'relay-not-configured' | 'reply-target-not-served';

/** The reply destinations one DHCP service allows. */
export class ReplyPeers {
  private readonly relays: Set<number>;
  private readonly segments: Array<{ network: number; mask: number }>;

  /**
   * @param relays `dhcp.relays`: relay agent addresses (their giaddr)
   * @param segments the subnets served directly
   * @throws Error on a malformed address
   */
  constructor(relays: readonly string[], segments: readonly Segment[]) {
    this.relays = new Set(relays.map(ipToInt));
    this.segments = segments.map((s) => {
      const mask = ipToInt(s.netmask);
      return { network: (ipToInt(s.address) & mask) >>> 0, mask };
    });
  }

  /** True when `address` is a configured relay agent. */
  isRelay(address: string): boolean {
    return this.relays.has(safeInt(address));
  }

  /** True when `address` is inside a served segment. */
  onSegment(address: string): boolean {
    const ip = safeInt(address);
    if (ip < 0) return false;
    return this.segments.some((s) => (ip & s.mask) >>> 0 === s.network);
  }

  /**
   * Checks a request before it is answered (before any lease is offered or recorded).
   * @param giaddr the request's giaddr (`0.0.0.0` when not relayed)
   * @param source the datagram's source address
   * @param port `dhcp` (67, replies by RFC 2131 §4.1) or `pxe` (4011, replies to `source`)
   * @returns undefined when it may be answered, else why not
   */
  checkRequest(giaddr: string, source: string, port: 'dhcp' | 'pxe'): PeerRefusal | undefined {
    if (port === 'pxe') return this.onSegment(source) || this.isRelay(source) ? undefined : 'reply-target-not-served';
    if (giaddr !== '0.0.0.0' && !this.isRelay(giaddr)) return 'relay-not-configured';
    return undefined;
  }

  /**
   * Checks the final destination of a unicast reply to a client (ciaddr): on a served segment or
   * a relay. Replies to a configured relay (giaddr) were admitted by {@link checkRequest}.
   */
  checkUnicast(address: string): PeerRefusal | undefined {
    return this.onSegment(address) || this.isRelay(address) ? undefined : 'reply-target-not-served';
  }
}

function safeInt(address: string): number {
  try {
    return ipToInt(address);
  } catch {
    return -1;
  }
}
