/**
 * Building a BOOTREPLY from a request, and where to send it (RFC 2131 §4.1, §4.3.1, §4.3.2).
 * Shared by proxy and full mode; pure.
 */
import type { BootAnswer } from './boot-answer.js';
import type { ClientInfo } from './client-info.js';
import { type DhcpPacket, MessageType, Opt, ipBytes } from './packet.js';

/** Where a reply goes: address, UDP port, and whether it is a broadcast. */
export interface ReplyTarget {
  address: string;
  port: number;
  broadcast: boolean;
}

/**
 * A reply skeleton: op 2, the request's htype/hlen/xid/flags/giaddr/chaddr, options 53 and 54.
 * @param type DHCP message type (option 53)
 * @param serverId our address (option 54, RFC 2131 §4.3.1)
 */
export function baseReply(req: DhcpPacket, type: number, serverId: string): DhcpPacket {
  const options = new Map<number, Buffer>();
  options.set(Opt.MESSAGE_TYPE, Buffer.from([type]));
  options.set(Opt.SERVER_ID, ipBytes(serverId));
  return {
    op: 2,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    sname: '',
    file: '',
    options,
  };
}

/**
 * Adds a boot answer: siaddr (next-server), `sname`/`file` fields (when they fit), options 66/67,
 * and option 60 `HTTPClient` for HTTP boot (UEFI HTTP boot requires it in the offer).
 * @param pxeVendorClass also set option 60 `PXEClient` (proxyDHCP offers, PXE 2.1 §2.2.5)
 */
export function applyBootAnswer(reply: DhcpPacket, answer: BootAnswer, pxeVendorClass: boolean): void {
  reply.siaddr = answer.nextServer;
  reply.sname = answer.nextServer;
  if (answer.bootFile.length <= 127) reply.file = answer.bootFile;
  if (answer.vendorClass === 'HTTPClient' || pxeVendorClass)
    reply.options.set(Opt.VENDOR_CLASS_ID, Buffer.from(answer.vendorClass, 'latin1'));
  reply.options.set(Opt.TFTP_SERVER_NAME, Buffer.from(answer.nextServer, 'latin1'));
  // NUL-terminated like dnsmasq does for TFTP paths (some PXE ROMs copy it as a C string).
  reply.options.set(Opt.BOOTFILE_NAME, Buffer.from(answer.http ? answer.bootFile : `${answer.bootFile}\0`, 'latin1'));
}

/**
 * RFC 2131 §4.1 reply destination.
 * - giaddr set → the relay agent, server port (and the BROADCAST bit is set for a NAK);
 * - ciaddr set (renewing/rebinding/INFORM) and not a NAK → ciaddr, client port;
 * - otherwise broadcast to 255.255.255.255, client port. (Unicasting to yiaddr needs an ARP entry
 *   for a host that has no address yet, which a UDP socket cannot create; RFC 2131 §4.1 allows
 *   the broadcast.)
 */
export function replyTarget(req: ClientInfo, reply: DhcpPacket, serverPort: number, clientPort: number): ReplyTarget {
  const type = reply.options.get(Opt.MESSAGE_TYPE)?.[0];
  if (req.giaddr !== '0.0.0.0') {
    if (type === MessageType.NAK) reply.flags |= 0x8000;
    return { address: req.giaddr, port: serverPort, broadcast: false };
  }
  if (req.ciaddr !== '0.0.0.0' && type !== MessageType.NAK)
    return { address: req.ciaddr, port: clientPort, broadcast: false };
  return { address: '255.255.255.255', port: clientPort, broadcast: true };
}

/** Reply size limit for this client: its option 57 capped by the Ethernet MTU, 548 when absent. */
export function maxReplySize(req: ClientInfo): number {
  return Math.min(req.maxMessageSize ?? 548, 1500 - 28);
}
