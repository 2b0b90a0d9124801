/**
 * The DHCP service (`dhcp.mode` proxy or full): UDP sockets, dispatch to the mode's responder,
 * reply addressing, metrics, logs and boot-event recording.
 *
 * Sockets (Node has no SO_BINDTODEVICE):
 * - `0.0.0.0:<port>` receives broadcasts (a socket bound to an address never sees them);
 * - `<interface address>:<port>` sends every reply on that port: in a namespace or host without a
 *   default route, sending to 255.255.255.255 from a 0.0.0.0 socket fails with ENETUNREACH, while a
 *   socket bound to the interface address routes the limited broadcast out of that interface. It
 *   also receives unicast (renewals, relay agents), which the kernel delivers to the more specific
 *   socket;
 * - proxy mode: `0.0.0.0:<proxy-port>` and `<interface address>:<proxy-port>` (4011) for boot
 *   server discovery, replies from the latter (so their source is our server id).
 * Both port-67 sockets use SO_REUSEADDR so they can share the port (and live beside dnsmasq when it
 * binds with `bind-interfaces`).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Logger } from '../../log.js';
import { counter } from '../../metrics.js';
import { BindError, toBindError } from '../../net/bind-error.js';
import type { Service } from '../../net/service.js';
import { findInterfaceAddress, type InterfaceAddress } from '../../net/interfaces.js';
import type { BootEventWriter, HostReader, LeaseStore, SightingWriter } from '../../store/index.js';
import {
  asksBootsLocally,
  noBootFileReason,
  type BootAnswer,
  type BootAnswerContext,
  type BootFiles,
} from './boot-answer.js';
import { clientInfoOf, firmwareLabel, type ClientInfo } from './client-info.js';
import { FullModeResponder } from './full.js';
import { BootRecorder, TYPE_NAMES } from './boot-record.js';
import { DhcpDecodeError, type DhcpPacket, MessageType, decodePacket, encodePacket } from './packet.js';
import { ProxyResponder } from './proxy.js';
import { ReplyPeers } from './peers.js';
import { maxReplySize, replyTarget, type ReplyTarget } from './reply.js';

/**
 * The BindError of a DHCP socket, with a remedy that is true for DHCP: the ports are fixed by the
 * protocol (clients send to udp/67, RFC 2131 §4.1; PXE boot server discovery to udp/4011, PXE 2.1
 * §2.2.2), so no flag moves them. In use: another DHCP server (or PXE/proxyDHCP service) on this
 * machine holds the port without sharing it (SO_REUSEADDR). Denied: ports below 1024 need
 * CAP_NET_BIND_SERVICE. Other codes (EADDRNOTAVAIL, ...) as {@link toBindError}.
 * @param kind `dhcp` for udp/67, `pxe` for the proxy mode's udp/4011
 */
export function dhcpBindError(
  err: unknown,
  kind: 'dhcp' | 'pxe',
  mode: 'proxy' | 'full',
  address: string,
  port: number,
): BindError {
  const what = kind === 'pxe' ? 'proxyDHCP (udp)' : 'DHCP (udp)';
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${what} cannot bind ${address}:${port}`;
  const keepYours =
    "or keep your DHCP server, set --dhcp-mode off and point it at statelesx (options 66/67: README, 'External DHCP server snippets')";
  if (code === 'EADDRINUSE') {
    const holder =
      kind === 'pxe'
        ? 'another PXE boot server or proxyDHCP on this machine (dnsmasq with a proxy dhcp-range, WDS, FOG ...) holds the port'
        : 'another DHCP server on this machine (ISC dhcpd, Kea, dnsmasq, a router daemon ...) holds the port without sharing it';
    const beside =
      mode === 'proxy'
        ? `; proxy mode needs udp/67 and udp/4011 on this machine, so run it beside your DHCP server from another machine of the boot LAN, ${keepYours}`
        : `; full mode hands out addresses, so no other DHCP server should serve that LAN; ${keepYours}`;
    return new BindError(
      `${where}: ${holder} (find it with: ss -ulnp 'sport = :${port}'). Stop it${beside}. ` +
        `DHCP ports are fixed by the protocol; no flag moves them.`,
      code,
      port,
    );
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new BindError(
      `${where}: permission denied. udp/${port} is below 1024: run with CAP_NET_BIND_SERVICE ` +
        `(sudo setcap cap_net_bind_service=+ep "$(readlink -f "$(command -v node)")", systemd AmbientCapabilities=CAP_NET_BIND_SERVICE, ` +
        `or the Docker image) or as root; DHCP ports are fixed by the protocol, so there is no other port to choose (${keepYours}).`,
      code,
      port,
    );
  }
  return toBindError(err, what, address, port, '--listen-address');
}

/** The store ports DHCP writes: sightings and boot events of hosts, and (full mode) its leases. */
export interface DhcpStore {
  hosts: SightingWriter & BootEventWriter & Pick<HostReader, 'get'>;
  leases: LeaseStore;
}

/**
 * What DHCP hands out and whom it answers, as plain data: the keys are the config file's `dhcp`
 * section (the composition root passes that section; tests build it), so this module runs without
 * a config file. Addresses are dotted-quad IPv4, MACs `aa:bb:cc:dd:ee:ff`.
 */
export interface DhcpSettings {
  /** Full mode: first and last address of the pool (both required in full mode). */
  'range-start'?: string | undefined;
  'range-end'?: string | undefined;
  /** Option 1; default: the interface's netmask. */
  netmask?: string | undefined;
  /** Option 3. */
  router?: string | undefined;
  /** Option 6. */
  'dns-servers': string[];
  /** Option 15. */
  'domain-name'?: string | undefined;
  /** Option 51, seconds. */
  'lease-time-s': number;
  /** Fixed addresses by MAC (full mode). */
  reservations: Array<{ mac: string; address: string; hostname?: string | undefined }>;
  /** Boot file per client architecture (option 93); `ipxe` is what iPXE gets. */
  'boot-files': BootFiles;
  /** Relay agents (giaddr) whose relayed requests are answered (peers.ts). */
  relays: string[];
  /** New unregistered hosts sightings may add per minute per source address (relay or 0.0.0.0). */
  'new-hosts-per-source-per-minute': number;
}

/** Options of {@link createDhcpServer}. */
export interface DhcpServerOptions {
  mode: 'proxy' | 'full';
  /** Pool, options, boot files and relays. */
  dhcp: DhcpSettings;
  store: DhcpStore;
  /** Parent logger; the service logs as `subsystem: 'dhcp'`. */
  log: Logger;
  /** `--interface`: the interface whose IPv4 address is our server id and reply source. */
  interface?: string | undefined;
  /** `--listen-address` (default 0.0.0.0); a specific address also names the interface. */
  listenAddress?: string | undefined;
  /** Address given as next-server and in boot URLs (default: the interface address). */
  advertiseAddress?: string | undefined;
  /** HTTP port of our `/boot/` tree, the boot listener's (URLs for iPXE and UEFI HTTP boot). */
  httpPort: number;
  /** Server port, default 67 (also the port replies to relay agents go to). */
  port?: number | undefined;
  /** Client port replies go to, default 68. */
  clientPort?: number;
  /** proxyDHCP boot-server port, default 4011 (proxy mode only). */
  proxyPort?: number | undefined;
  /**
   * Boot-once: resolves to whether the host (option 97 UUID in SMBIOS form, else undefined; chaddr
   * MAC) boots from its local disk (a stateful member whose install is on record), so UEFI firmware
   * gets no loader ({@link BootAnswerContext.bootsLocally}). Asked only for the clients
   * {@link asksBootsLocally} names, before the reply; a rejection is logged and taken as false.
   * Absent: never.
   */
  bootsLocally?: ((client: { uuid: string | undefined; mac: string }) => Promise<boolean>) | undefined;
  /** Clock (ms), for tests. */
  now?: () => number;
}

/** A running DHCP service. */
export interface DhcpServer extends Service {
  /** The bound receive address and port (valid after start). */
  address(): { address: string; port: number };
  /** The interface address used as server id. */
  readonly serverAddress: string;
  /** Full mode's lease engine (undefined in proxy mode). */
  readonly leases: FullModeResponder | undefined;
}

const replies = counter(
  'dhcp_replies_total',
  'DHCP replies sent, by mode, message type, client firmware and client system architecture (RFC 4578 option 93 type, "none" when absent)',
  ['mode', 'type', 'firmware', 'arch'],
);

/**
 * The `arch` label: the RFC 4578 §2.1 client system architecture type as a decimal string for the
 * IANA-registered range (0–63), `other` beyond it (a client-chosen 16-bit value must not grow the
 * label set without bound), `none` when the client sent neither option 93 nor an `Arch:` vendor class.
 */
export function archLabel(arch: number | undefined): string {
  if (arch === undefined) return 'none';
  return arch >= 0 && arch <= 63 ? String(arch) : 'other';
}
const dropped = counter('dhcp_dropped_total', 'DHCP packets dropped undecoded or unanswered, by reason', ['reason']);
const exhausted = counter('dhcp_pool_exhausted_total', 'DISCOVERs not answered because the pool was full');

/**
 * Creates the DHCP service (not started).
 * @throws Error for a full-mode config without range-start/range-end, or no usable interface
 *   (at start). `start()` rejects with a BindError (flag `--dhcp-mode`) when a port is taken or
 *   needs CAP_NET_BIND_SERVICE.
 */
export function createDhcpServer(opts: DhcpServerOptions): DhcpServer {
  return new DhcpService(opts);
}

class DhcpService implements DhcpServer {
  readonly name = 'dhcp';
  private readonly log: Logger;
  private readonly port: number;
  private readonly clientPort: number;
  private readonly proxyPort: number;
  private readonly now: () => number;
  private recvSock: Socket | undefined;
  private sendSock: Socket | undefined;
  private pxeSock: Socket | undefined;
  private pxeSendSock: Socket | undefined;
  private full: FullModeResponder | undefined;
  private proxy: ProxyResponder | undefined;
  private ifaddr: InterfaceAddress | undefined;
  private lastExhaustedWarn = 0;
  private readonly recorder: BootRecorder;
  private peers = new ReplyPeers([], []);
  /** Requests are handled one at a time in arrival order: the tail of that queue. */
  private queue: Promise<void> = Promise.resolve();
  /** Boot-once answer read for the request being handled (the responders' synchronous `bootsLocally`). */
  private bootsLocallyNow = false;

  constructor(private readonly opts: DhcpServerOptions) {
    this.log = opts.log.child({ subsystem: 'dhcp', mode: opts.mode });
    this.recorder = new BootRecorder(
      opts.store.hosts,
      opts.mode,
      this.log,
      opts.dhcp['new-hosts-per-source-per-minute'],
    );
    this.port = opts.port ?? 67;
    this.clientPort = opts.clientPort ?? 68;
    this.proxyPort = opts.proxyPort ?? 4011;
    this.now = opts.now ?? Date.now;
    if (opts.mode === 'full' && (!opts.dhcp['range-start'] || !opts.dhcp['range-end'])) {
      throw new Error('dhcp.mode full needs dhcp.range-start and dhcp.range-end');
    }
  }

  get serverAddress(): string {
    return this.ifaddr?.address ?? '0.0.0.0';
  }
  get leases(): FullModeResponder | undefined {
    return this.full;
  }

  address(): { address: string; port: number } {
    const a = this.recvSock?.address();
    return { address: a?.address ?? '0.0.0.0', port: a?.port ?? this.port };
  }

  async start(): Promise<void> {
    const ifa = findInterfaceAddress(this.opts.interface, this.opts.listenAddress);
    this.ifaddr = ifa;
    const d = this.opts.dhcp;
    const boot: BootAnswerContext = {
      bootFiles: d['boot-files'],
      advertiseAddress: this.opts.advertiseAddress ?? ifa.address,
      httpPort: this.opts.httpPort,
      bootsLocally: this.opts.bootsLocally && (() => this.bootsLocallyNow),
    };
    if (this.opts.mode === 'full') {
      // The working set is loaded before the socket is bound: no request is answered from a partial one.
      this.full = await FullModeResponder.create(
        {
          serverId: ifa.address,
          rangeStart: d['range-start']!,
          rangeEnd: d['range-end']!,
          netmask: d.netmask ?? ifa.netmask,
          router: d.router,
          dnsServers: d['dns-servers'],
          domainName: d['domain-name'],
          leaseTimeS: d['lease-time-s'],
          reservations: d.reservations,
        },
        this.opts.store.leases,
        boot,
      );
    } else {
      this.proxy = new ProxyResponder(ifa.address, boot);
    }
    const segments = [ifa, ...(this.full ? [{ address: d['range-start']!, netmask: d.netmask ?? ifa.netmask }] : [])];
    this.peers = new ReplyPeers(d.relays, segments);
    try {
      this.recvSock = await this.bind('0.0.0.0', this.port, 'dhcp');
      this.sendSock = await this.bind(ifa.address, this.recvSock.address().port, 'dhcp');
      if (this.opts.mode === 'proxy') {
        this.pxeSock = await this.bind('0.0.0.0', this.proxyPort, 'pxe');
        // replies to boot server discovery must come from our address, not the interface's primary one
        this.pxeSendSock = await this.bind(ifa.address, this.pxeSock.address().port, 'pxe');
      }
    } catch (e) {
      await this.close();
      throw e;
    }
    this.log.info(
      {
        interface: ifa.name,
        serverId: ifa.address,
        port: this.address().port,
        ...(this.full
          ? { pool: `${d['range-start']}-${d['range-end']}`, poolSize: this.full.poolSize }
          : { proxyPort: this.pxeSock?.address().port }),
      },
      'DHCP service listening',
    );
  }

  private bind(address: string, port: number, kind: 'dhcp' | 'pxe'): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: 'udp4', reuseAddr: true });
      const onError = (e: Error) => reject(dhcpBindError(e, kind, this.opts.mode, address, port));
      s.once('error', onError);
      s.bind({ address, port, exclusive: true }, () => {
        s.off('error', onError);
        s.setBroadcast(true);
        s.on('error', (e) => this.log.warn({ err: e }, 'DHCP socket error'));
        s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo, kind));
        resolve(s);
      });
    });
  }

  async close(): Promise<void> {
    for (const s of [this.pxeSendSock, this.pxeSock, this.sendSock, this.recvSock]) {
      if (!s) continue;
      await new Promise<void>((r) => {
        try {
          s.close(() => r());
        } catch {
          r();
        }
      });
    }
    this.pxeSendSock = this.pxeSock = this.sendSock = this.recvSock = undefined;
    await this.queue;
    await this.recorder.idle();
  }

  private drop(reason: string, fields: Record<string, unknown>, msg: string): void {
    dropped.inc({ reason });
    if (this.log.isLevelEnabled('debug')) this.log.debug({ reason, ...fields }, msg);
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo, kind: 'dhcp' | 'pxe'): void {
    let pkt: DhcpPacket;
    try {
      pkt = decodePacket(msg);
    } catch (e) {
      if (e instanceof DhcpDecodeError) {
        this.drop(
          e.reason,
          { from: `${rinfo.address}:${rinfo.port}`, bytes: msg.length, error: e.message },
          'undecodable DHCP packet dropped',
        );
      } else {
        this.drop('internal-error', { err: e }, 'DHCP decode failed');
      }
      return;
    }
    // Decoded (and malformed ones counted) on arrival; answered one at a time in arrival order, as
    // the store reads a request may need are asynchronous (a DISCOVER's answer before its REQUEST's).
    this.queue = this.queue
      .then(() => this.handle(pkt, rinfo, kind))
      .catch((e: unknown) => {
        dropped.inc({ reason: 'internal-error' });
        this.log.error({ err: e, from: `${rinfo.address}:${rinfo.port}`, xid: pkt.xid }, 'DHCP request failed');
      });
  }

  /**
   * Boot-once: whether the host behind `c` boots from its local disk, read from the store for the
   * clients the boot answer asks about; false otherwise, or when the read fails (logged).
   */
  private async readBootsLocally(c: ClientInfo, ctx: Record<string, unknown>): Promise<boolean> {
    if (!this.opts.bootsLocally || !asksBootsLocally(c)) return false;
    try {
      return await this.opts.bootsLocally({ uuid: c.uuid, mac: c.mac });
    } catch (e) {
      this.log.warn({ ...ctx, err: e }, 'boot-once lookup failed: answered as a network boot');
      return false;
    }
  }

  /** Answers one request; rejects (nothing sent) when the store fails. */
  private async handle(pkt: DhcpPacket, rinfo: RemoteInfo, kind: 'dhcp' | 'pxe'): Promise<void> {
    if (pkt.op !== 1) {
      this.drop('not-a-request', { from: rinfo.address }, 'BOOTREPLY ignored');
      return;
    }
    const c = clientInfoOf(pkt);
    const now = this.now();
    const ctx = { client: c.mac, xid: xidHex(c.xid) };
    const notPeer = this.peers.checkRequest(c.giaddr, rinfo.address, kind);
    if (notPeer) {
      // a reply would go to an address the sender chose (giaddr, or 4011's source): not a reflector
      this.drop(
        notPeer,
        { ...ctx, from: rinfo.address, giaddr: c.giaddr },
        'request not answered: reply target not ours',
      );
      return;
    }
    const noFile = noBootFileReason(c, this.opts.dhcp['boot-files']); // arch 6/10/11 without a loader configured
    if (noFile) this.log.info({ ...ctx, arch: c.arch, message: TYPE_NAMES[c.messageType ?? 0] ?? 'bootp' }, noFile);
    let reply: DhcpPacket, type: number, boot: BootAnswer | null;
    let address: string | null = null;
    this.bootsLocallyNow = await this.readBootsLocally(c, ctx);
    if (this.full) {
      const r = await this.full.respond(pkt, c, now);
      if (!r.reply) {
        if (r.reason === 'pool-exhausted') this.poolExhausted(ctx);
        else if (r.reason === 'declined' || r.reason === 'released')
          this.log.info({ ...ctx, address: r.address }, `address ${r.reason}`);
        this.drop(r.reason, { ...ctx, message: TYPE_NAMES[c.messageType ?? 0] ?? 'bootp' }, 'request not answered');
        return;
      }
      ({ reply, type, boot, address } = r);
    } else {
      const r = this.proxy!.respond(pkt, c, kind);
      if (!r.reply) {
        this.drop(r.reason, { ...ctx, message: TYPE_NAMES[c.messageType ?? 0] ?? 'bootp' }, 'request not answered');
        return;
      }
      ({ reply, type, boot } = r);
    }
    const target: ReplyTarget =
      kind === 'pxe'
        ? { address: rinfo.address, port: rinfo.port, broadcast: false }
        : replyTarget(c, reply, this.port, this.clientPort);
    const badUnicast = target.broadcast || c.giaddr !== '0.0.0.0' ? undefined : this.peers.checkUnicast(target.address);
    if (badUnicast) {
      this.drop(badUnicast, { ...ctx, to: target.address }, 'reply not sent: ciaddr is on no served segment');
      return;
    }
    const enc = encodePacket(reply, maxReplySize(c));
    if (enc.dropped.length)
      this.log.warn(
        { ...ctx, dropped: enc.dropped },
        'options left out of the reply: the client accepts no larger message',
      );
    const sock = kind === 'pxe' ? this.pxeSendSock : this.sendSock;
    sock?.send(enc.buffer, target.port, target.address, (err) => {
      if (err) {
        dropped.inc({ reason: 'send-error' });
        this.log.warn({ ...ctx, err, to: `${target.address}:${target.port}` }, 'DHCP reply not sent');
      }
    });
    const firmware = firmwareLabel(c);
    replies.inc({ mode: this.opts.mode, type: TYPE_NAMES[type] ?? String(type), firmware, arch: archLabel(c.arch) });
    if (boot)
      this.recorder.record(
        c,
        boot,
        type,
        address ?? (c.ciaddr !== '0.0.0.0' ? c.ciaddr : null),
        now,
        ctx,
        rinfo.address,
      );
    else if (type === MessageType.NAK)
      this.log.info({ ...ctx, note: reply.options.get(56)?.toString('latin1') }, 'DHCPNAK sent');
    else if (this.log.isLevelEnabled('debug'))
      this.log.debug({ ...ctx, type: TYPE_NAMES[type], address, to: target.address }, 'DHCP reply sent');
  }

  private poolExhausted(ctx: Record<string, unknown>): void {
    exhausted.inc();
    const now = Date.now();
    if (now - this.lastExhaustedWarn > 10_000) {
      this.lastExhaustedWarn = now;
      this.log.warn(
        { ...ctx, poolSize: this.full?.poolSize },
        'DHCP pool exhausted: no address to offer (widen dhcp.range-start/range-end or shorten lease-time-s)',
      );
    }
  }
}

function xidHex(xid: number): string {
  return xid.toString(16).padStart(8, '0');
}
