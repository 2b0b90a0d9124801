/**
 * proxyDHCP (PXE 2.1 §2.2.5, §2.2.6; the behaviour of dnsmasq's `dhcp-range=…,proxy`): beside
 * an existing DHCP server, answer only network-boot clients (option 60 `PXEClient…` or
 * `HTTPClient…`) with boot information and **never an address** (yiaddr 0.0.0.0).
 *
 * - port 67, DHCPDISCOVER → DHCPOFFER: option 60 `PXEClient`, option 43 with PXE sub-option 6
 *   (PXE_DISCOVERY_CONTROL) = 8 ("use the boot file in this offer", so firmware does not wait for
 *   boot server discovery), option 97 echoed, 54 our id, siaddr/file/66/67 from the boot answer.
 *   A DHCPREQUEST on port 67 naming another server (54) is that server's business: ignored.
 * - port 4011, DHCPREQUEST (or INFORM) from a client that already has an address (boot server
 *   discovery) → DHCPACK with the same boot information, PXE_BOOT_ITEM (sub-option 71) echoed,
 *   the client's own ciaddr in yiaddr (as dnsmasq answers; compared packet by packet).
 * - Unlike dnsmasq with a one-entry `pxe-service`, the OFFER carries option 43 and the boot file,
 *   so firmware can boot straight from the offer (discovery control bit 3) or ask on 4011.
 */
import { chooseBootAnswer, type BootAnswer, type BootAnswerContext } from './boot-answer.js';
import { type ClientInfo, parseSubOptions } from './client-info.js';
import { type DhcpPacket, MessageType, Opt } from './packet.js';
import { applyBootAnswer, baseReply } from './reply.js';

/** PXE 2.1 vendor option 43 sub-options. */
export const PxeSubOpt = {
  DISCOVERY_CONTROL: 6,
  BOOT_SERVERS: 8,
  BOOT_MENU: 9,
  MENU_PROMPT: 10,
  BOOT_ITEM: 71,
} as const;

/** Outcome of one request in proxy mode. */
export type ProxyResult = { reply: DhcpPacket; type: number; boot: BootAnswer } | { reply: null; reason: string };

/** Which socket the request came in on. */
export type ProxyPort = 'dhcp' | 'pxe';

/** Builds proxyDHCP replies; pure apart from its configuration. */
export class ProxyResponder {
  constructor(
    private readonly serverId: string,
    private readonly boot: BootAnswerContext,
  ) {}

  /**
   * @param port `dhcp` (67: DISCOVER, REQUEST for us) or `pxe` (4011: REQUEST/INFORM)
   * @returns a reply (yiaddr 0.0.0.0 on port 67; the client's own ciaddr on 4011), or the
   *   reason (metric label) there is none
   */
  respond(req: DhcpPacket, c: ClientInfo, port: ProxyPort): ProxyResult {
    if (!c.isPxeClient && !c.isHttpClient) return { reply: null, reason: 'not-pxe' };
    let type: number;
    if (port === 'dhcp') {
      if (c.messageType === MessageType.DISCOVER) type = MessageType.OFFER;
      else if (c.messageType === MessageType.REQUEST) {
        if (c.serverId !== this.serverId) return { reply: null, reason: 'other-server' };
        type = MessageType.ACK;
      } else return { reply: null, reason: 'not-for-proxy' };
    } else {
      if (c.messageType !== MessageType.REQUEST && c.messageType !== MessageType.INFORM)
        return { reply: null, reason: 'not-for-proxy' };
      type = MessageType.ACK;
    }
    const boot = chooseBootAnswer(c, this.boot);
    if (!boot) return { reply: null, reason: 'no-boot-file' };
    const reply = baseReply(req, type, this.serverId);
    // Boot server ACK as dnsmasq sends it (and OVMF boots from): the client's own address in
    // yiaddr, ciaddr zero. Nothing is assigned: the client already holds that address.
    if (port === 'pxe') reply.yiaddr = c.ciaddr;
    applyBootAnswer(reply, boot, true);
    if (boot.vendorClass === 'PXEClient') reply.options.set(Opt.VENDOR_SPECIFIC, this.vendorOptions(req));
    if (c.guidOption) reply.options.set(Opt.CLIENT_GUID, c.guidOption);
    return { reply, type, boot };
  }

  /** Option 43: discovery control = 8, the client's boot item echoed (4011), END. */
  private vendorOptions(req: DhcpPacket): Buffer {
    const parts: number[] = [PxeSubOpt.DISCOVERY_CONTROL, 1, 8];
    const v43 = req.options.get(Opt.VENDOR_SPECIFIC);
    const item = v43 ? parseSubOptions(v43).get(PxeSubOpt.BOOT_ITEM) : undefined;
    if (item && item.length === 4) parts.push(PxeSubOpt.BOOT_ITEM, 4, ...item);
    parts.push(255);
    return Buffer.from(parts);
  }
}
