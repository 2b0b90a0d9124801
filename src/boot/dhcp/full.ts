/**
 * Full (lab) mode: an address pool with static reservations by MAC, leases persisted through
 * {@link LeaseStore} and kept in memory for speed (RFC 2131 §4.3 server behaviour).
 *
 * Address choice for a DISCOVER (RFC 2131 §4.3.1): the client's reservation → its current or
 * previous lease → the requested address (50) if free → the first never-used address → the
 * longest-expired/released address of another client. Never an address bound, offered or
 * declined-and-quarantined for someone else. A full pool gives no offer (reason `pool-exhausted`).
 *
 * REQUEST (RFC 2131 §4.3.2): SELECTING (option 54) — ACK our offer, or withdraw it when another
 * server was chosen; INIT-REBOOT (no 54, ciaddr 0, option 50) — NAK on the wrong network, silence
 * (reason `init-reboot-unknown-client`) when we have no record of the client, NAK when the
 * address is not the one recorded for it or is no longer free; RENEWING/REBINDING (ciaddr) —
 * ACK the client's lease, silence for an address that is not on our network.
 *
 * Clients are identified by chaddr (MAC): a client that DHCPs again without its PXE options or
 * client id (syslinux.efi after the firmware) gets the same lease.
 *
 * The working set (every lease, by address and by MAC) is in memory, loaded from the store by
 * {@link FullModeResponder.create} before the server binds its socket. An OFFER lives only in
 * memory (held `offerHoldMs`), as before; every other change is written to the store first:
 * a lease is ACKed only after {@link LeaseStore.claim} has made it durable.
 *
 * Several servers on one segment sharing one store (issue 18): the store arbitrates. Before an
 * OFFER the server reads the stored row of the address it picked; when another client holds it
 * (bound by another server since this one loaded), the row joins the working set and the next
 * free address is picked. A REQUEST is ACKed only when the atomic claim succeeds; when another
 * server bound the address in between (both offered it at once), the claim fails, the row joins
 * the working set and the client gets a NAK, so it starts over with a DISCOVER and is offered a
 * free address. So one shared range works (every server configured with the same range,
 * reservations and lease time): no address is ever bound to two clients; two servers may only
 * offer one address at once, costing the loser's client a NAK and a new DISCOVER. Split ranges
 * (each server its own part of the subnet) work too and never conflict, but a client then
 * changes address when another server answers it first. A client that rebinds (or reboots with
 * INIT-REBOOT) to a server that has not seen its lease gets it from the store. Rows another
 * server deleted stay in this server's working set until they expire: an address is then unused
 * a while longer, never handed out twice.
 */
import { leaseFreeFor, type DhcpLease, type LeaseStore } from '../../store/index.js';
import { chooseBootAnswer, type BootAnswer, type BootAnswerContext } from './boot-answer.js';
import { storedClaim, type ClientInfo } from './client-info.js';
import { type DhcpPacket, MessageType, Opt, intToIp, ipBytes, ipToInt } from './packet.js';
import { applyBootAnswer, baseReply } from './reply.js';

/** Pool and options of full mode (from `dhcp` in the config). */
export interface FullModeConfig {
  /** Our address: option 54 and the address clients renew with. */
  serverId: string;
  rangeStart: string;
  rangeEnd: string;
  netmask: string;
  router?: string | undefined;
  dnsServers: string[];
  domainName?: string | undefined;
  leaseTimeS: number;
  reservations: Array<{ mac: string; address: string; hostname?: string | undefined }>;
  /** How long an OFFER holds its address for the client (ms). Default 60 s. */
  offerHoldMs?: number;
  /** How long a DECLINEd address stays out of the pool (ms). Default 10 min. */
  declineHoldMs?: number;
}

/** The outcome of one request: a reply, or why there is none. */
export type FullResult =
  | { reply: DhcpPacket; type: number; address: string | null; boot: BootAnswer | null; note?: string }
  | { reply: null; reason: string; address?: string | null };

interface Lease {
  ip: number;
  mac: string;
  clientId: string | null;
  hostname: string | null;
  state: DhcpLease['state'];
  expiresAt: number;
  /** For an in-memory offer over an older persisted row: the row to restore when the offer goes. */
  previous?: Lease | undefined;
}

/**
 * Store reads one DISCOVER may make before the whole working set is reloaded from the store
 * (another server bound many addresses since this one last looked).
 */
const RELOAD_AFTER_CONFLICTS = 8;
/** Addresses one DISCOVER may try before it gives up (reason `pool-contended`). */
const MAX_PICKS = 64;

/** The lease engine and reply builder of full mode; one instance per server, made by {@link FullModeResponder.create}. */
export class FullModeResponder {
  private readonly start: number;
  private readonly end: number;
  private readonly mask: number;
  private readonly network: number;
  private readonly broadcastIp: number;
  private readonly serverIp: number;
  private readonly byIp = new Map<number, Lease>();
  private readonly byMac = new Map<string, number>();
  private readonly reservedByMac = new Map<string, { ip: number; hostname?: string | undefined }>();
  private readonly reservedIps = new Map<number, string>();
  /** Lowest pool address that may never have been used. */
  private hint: number;
  private readonly offerHoldMs: number;
  private readonly declineHoldMs: number;
  private readonly staticOptions: Array<[number, Buffer]>;

  /**
   * A responder with its working set loaded from the store (every row but offers).
   * @throws Error when the range is empty, reversed, or outside the netmask's subnet; the
   *   store's error when it cannot be read
   */
  static async create(cfg: FullModeConfig, repo: LeaseStore, boot: BootAnswerContext): Promise<FullModeResponder> {
    const r = new FullModeResponder(cfg, repo, boot);
    for (const row of await repo.all()) if (row.state !== 'offered') r.adopt(row);
    return r;
  }

  private constructor(
    private readonly cfg: FullModeConfig,
    private readonly repo: LeaseStore,
    private readonly boot: BootAnswerContext,
  ) {
    this.start = ipToInt(cfg.rangeStart);
    this.end = ipToInt(cfg.rangeEnd);
    this.mask = ipToInt(cfg.netmask);
    this.network = (this.start & this.mask) >>> 0;
    this.broadcastIp = (this.network | (~this.mask >>> 0)) >>> 0;
    this.serverIp = ipToInt(cfg.serverId);
    if (this.end < this.start)
      throw new Error(`dhcp.range-end ${cfg.rangeEnd} is below dhcp.range-start ${cfg.rangeStart}`);
    if ((this.end & this.mask) >>> 0 !== this.network) {
      throw new Error(
        `dhcp.range-start ${cfg.rangeStart} and range-end ${cfg.rangeEnd} are not in one ${cfg.netmask} subnet`,
      );
    }
    this.hint = this.start;
    this.offerHoldMs = cfg.offerHoldMs ?? 60_000;
    this.declineHoldMs = cfg.declineHoldMs ?? 600_000;
    for (const r of cfg.reservations) {
      const mac = r.mac.toLowerCase().replace(/-/g, ':');
      const ip = ipToInt(r.address);
      this.reservedByMac.set(mac, { ip, hostname: r.hostname });
      this.reservedIps.set(ip, mac);
    }
    const secs = cfg.leaseTimeS;
    const opts: Array<[number, Buffer]> = [
      [Opt.LEASE_TIME, u32(secs)],
      [Opt.RENEWAL_TIME, u32(Math.floor(secs / 2))],
      [Opt.REBINDING_TIME, u32(Math.floor((secs * 7) / 8))],
      [Opt.SUBNET_MASK, ipBytes(cfg.netmask)],
      [Opt.BROADCAST_ADDRESS, ipBytes(intToIp(this.broadcastIp))],
    ];
    if (cfg.router) opts.push([Opt.ROUTER, ipBytes(cfg.router)]);
    if (cfg.dnsServers.length) opts.push([Opt.DNS_SERVERS, Buffer.concat(cfg.dnsServers.map(ipBytes))]);
    if (cfg.domainName) opts.push([Opt.DOMAIN_NAME, Buffer.from(cfg.domainName, 'latin1')]);
    this.staticOptions = opts;
  }

  /**
   * Puts a stored row into the working set (at load, or after the store showed that another
   * server changed it). A pending offer of ours at that address stays when the row leaves the
   * address free for its client (the row becomes what withdrawing the offer restores).
   */
  private adopt(row: DhcpLease, now = 0): void {
    const ip = ipToInt(row.address);
    const l: Lease = {
      ip,
      mac: row.mac,
      clientId: row.clientId,
      hostname: row.hostname,
      state: row.state,
      expiresAt: row.expiresAt,
    };
    const cur = this.byIp.get(ip);
    if (cur?.state === 'offered' && cur.expiresAt > now && leaseFreeFor(row, cur.mac, now)) {
      cur.previous = l;
      return;
    }
    if (cur && cur.mac !== row.mac && this.byMac.get(cur.mac) === ip) this.byMac.delete(cur.mac);
    this.byIp.set(ip, l);
    if (row.state !== 'declined') {
      const mine = this.byMac.get(row.mac);
      if (mine === undefined || mine === ip || (this.byIp.get(mine)?.expiresAt ?? 0) < row.expiresAt)
        this.byMac.set(row.mac, ip);
    } else if (this.byMac.get(row.mac) === ip) this.byMac.delete(row.mac);
  }

  /** Re-reads the stored row of `ip` into the working set (no row: nothing changes). */
  private async refresh(ip: number, now: number): Promise<void> {
    const row = await this.repo.get(intToIp(ip));
    if (row && row.state !== 'offered') this.adopt(row, now);
  }

  /** Number of addresses in the pool. */
  get poolSize(): number {
    return this.end - this.start + 1;
  }

  /** Active (bound, unexpired) leases, for status pages. */
  activeLeases(now = Date.now()): DhcpLease[] {
    return [...this.byIp.values()]
      .filter((l) => l.state === 'bound' && l.expiresAt > now)
      .map((l) => this.toRow(l, now));
  }

  /** True when `ip` is inside the served subnet. */
  inSubnet(ip: string): boolean {
    return (ipToInt(ip) & this.mask) >>> 0 === this.network;
  }

  /**
   * Answers one request; resolves once every change it makes is in the store (so an ACK is sent
   * only for a durable lease).
   * @param req the decoded request; `c` its {@link ClientInfo}
   * @returns a reply (OFFER/ACK/NAK) or the reason there is none (metric label)
   * @throws the store's error when it cannot be read or written (no reply is then due)
   */
  async respond(req: DhcpPacket, c: ClientInfo, now = Date.now()): Promise<FullResult> {
    if (c.giaddr !== '0.0.0.0' && !this.inSubnet(c.giaddr)) return { reply: null, reason: 'relay-subnet-mismatch' };
    switch (c.messageType) {
      case MessageType.DISCOVER:
        return this.discover(req, c, now);
      case MessageType.REQUEST:
        return this.request(req, c, now);
      case MessageType.DECLINE:
        return this.decline(c, now);
      case MessageType.RELEASE:
        return this.release(c, now);
      case MessageType.INFORM:
        return this.inform(req, c);
      case undefined:
        return { reply: null, reason: 'bootp-unsupported' };
      default:
        return { reply: null, reason: 'not-a-request' };
    }
  }

  private async discover(req: DhcpPacket, c: ClientInfo, now: number): Promise<FullResult> {
    const ip = await this.pickFree(c, now);
    if (ip === null) return { reply: null, reason: 'pool-exhausted' };
    if (ip === 'contended') return { reply: null, reason: 'pool-contended' };
    const cur = this.byIp.get(ip);
    if (!(cur && cur.mac === c.mac && cur.state === 'bound' && cur.expiresAt > now)) {
      const prev = cur && cur.state !== 'offered' ? cur : cur?.previous;
      this.byIp.set(ip, {
        ip,
        mac: c.mac,
        clientId: storedClaim(c.clientId) ?? null,
        hostname: storedClaim(c.hostname) ?? null,
        state: 'offered',
        expiresAt: now + this.offerHoldMs,
        previous: prev,
      });
    }
    this.byMac.set(c.mac, ip);
    return this.leaseReply(req, c, MessageType.OFFER, ip);
  }

  /**
   * {@link pick}, checked against the store: an address whose stored row another client holds
   * (another server bound it) joins the working set and the next one is picked.
   * @returns the address, null when the pool is full, 'contended' after {@link MAX_PICKS} tries
   */
  private async pickFree(c: ClientInfo, now: number): Promise<number | null | 'contended'> {
    for (let tries = 1; tries <= MAX_PICKS; tries++) {
      const ip = this.pick(c, now);
      if (ip === null) return null;
      const row = await this.repo.get(intToIp(ip));
      if (row && row.state !== 'offered' && !leaseFreeFor(row, c.mac, now)) {
        this.adopt(row, now);
        if (tries === RELOAD_AFTER_CONFLICTS)
          for (const r of await this.repo.all()) if (r.state !== 'offered') this.adopt(r, now);
        continue;
      }
      // Another request of this server may have taken it while the store answered.
      if (this.availability(ip, c.mac, now) === 'ok') return ip;
    }
    return 'contended';
  }

  private async request(req: DhcpPacket, c: ClientInfo, now: number): Promise<FullResult> {
    if (c.serverId !== undefined && c.serverId !== this.cfg.serverId) {
      // SELECTING, and the client chose another server: withdraw our offer (RFC 2131 §4.3.2).
      this.withdrawOffer(c.mac);
      return { reply: null, reason: 'other-server' };
    }
    const wanted = c.serverId !== undefined || c.ciaddr === '0.0.0.0' ? c.requestedAddress : c.ciaddr;
    if (!wanted) return { reply: null, reason: 'no-requested-address' };
    if (!this.inSubnet(wanted)) {
      // INIT-REBOOT on the wrong network → NAK; SELECTING with our id but a foreign address → NAK;
      // RENEWING/REBINDING an address that is not ours → not for us.
      if (c.ciaddr !== '0.0.0.0' && c.serverId === undefined) return { reply: null, reason: 'not-our-subnet' };
      return this.nak(req, c, `requested address ${wanted} is not on this network`);
    }
    const ip = ipToInt(wanted);
    if (c.serverId === undefined && c.ciaddr === '0.0.0.0') {
      // INIT-REBOOT (RFC 2131 §4.3.2): the client asks to keep an address it had. With no record of
      // it (no reservation, no lease) we MUST stay silent — the lease may be another server's; with
      // a record, an address other than the recorded one is incorrect → NAK.
      let recorded = this.reservedByMac.get(c.mac)?.ip ?? this.byMac.get(c.mac);
      if (recorded === undefined) {
        // Its lease may be another server's (same store): look it up there.
        for (const row of (await this.repo.byMac(c.mac)).reverse()) if (row.state !== 'offered') this.adopt(row, now);
        recorded = this.byMac.get(c.mac);
      }
      if (recorded === undefined) return { reply: null, reason: 'init-reboot-unknown-client', address: wanted };
      if (recorded !== ip)
        return this.nak(req, c, `requested address ${wanted} is not the address of this client (${intToIp(recorded)})`);
    }
    const verdict = this.availability(ip, c.mac, now);
    if (verdict !== 'ok') {
      return this.nak(
        req,
        c,
        `requested address ${wanted} ${verdict === 'taken' ? 'is leased to another client' : verdict === 'declined' ? 'was declined' : 'is not in the pool'}`,
      );
    }
    if (!(await this.bind(ip, c, now)))
      return this.nak(req, c, `requested address ${wanted} is leased to another client`);
    return this.leaseReply(req, c, MessageType.ACK, ip);
  }

  private async decline(c: ClientInfo, now: number): Promise<FullResult> {
    if (c.serverId !== undefined && c.serverId !== this.cfg.serverId) return { reply: null, reason: 'other-server' };
    const addr = c.requestedAddress;
    if (!addr) return { reply: null, reason: 'no-requested-address' };
    const ip = ipToInt(addr);
    const l = this.byIp.get(ip);
    if (!l || l.mac !== c.mac) return { reply: null, reason: 'decline-not-owner', address: addr };
    const declined: Lease = {
      ip,
      mac: c.mac,
      clientId: null,
      hostname: null,
      state: 'declined',
      expiresAt: now + this.declineHoldMs,
    };
    await this.repo.upsert(this.toRow(declined, now));
    this.byIp.set(ip, declined);
    if (this.byMac.get(c.mac) === ip) this.byMac.delete(c.mac);
    return { reply: null, reason: 'declined', address: addr };
  }

  private async release(c: ClientInfo, now: number): Promise<FullResult> {
    if (c.serverId !== undefined && c.serverId !== this.cfg.serverId) return { reply: null, reason: 'other-server' };
    const ip = ipToInt(c.ciaddr);
    const l = this.byIp.get(ip);
    if (!l || l.mac !== c.mac || l.state !== 'bound')
      return { reply: null, reason: 'release-not-owner', address: c.ciaddr };
    if (!(await this.repo.release(c.ciaddr, c.mac, now))) {
      // Another server's client holds it now (this working set was stale).
      await this.refresh(ip, now);
      return { reply: null, reason: 'release-not-owner', address: c.ciaddr };
    }
    l.state = 'released';
    l.expiresAt = now;
    return { reply: null, reason: 'released', address: c.ciaddr };
  }

  private inform(req: DhcpPacket, c: ClientInfo): FullResult {
    const reply = baseReply(req, MessageType.ACK, this.cfg.serverId);
    reply.ciaddr = c.ciaddr;
    for (const [code, v] of this.staticOptions) {
      if (code !== Opt.LEASE_TIME && code !== Opt.RENEWAL_TIME && code !== Opt.REBINDING_TIME)
        reply.options.set(code, v);
    }
    const boot = this.addBoot(reply, c);
    return { reply, type: MessageType.ACK, address: null, boot };
  }

  private nak(req: DhcpPacket, c: ClientInfo, message: string): FullResult {
    const reply = baseReply(req, MessageType.NAK, this.cfg.serverId);
    reply.options.set(Opt.MESSAGE, Buffer.from(message, 'latin1'));
    if (c.relayAgentInfo) reply.options.set(Opt.RELAY_AGENT_INFO, c.relayAgentInfo);
    return { reply, type: MessageType.NAK, address: null, boot: null, note: message };
  }

  private leaseReply(req: DhcpPacket, c: ClientInfo, type: number, ip: number): FullResult {
    const reply = baseReply(req, type, this.cfg.serverId);
    reply.yiaddr = intToIp(ip);
    if (type === MessageType.ACK && c.ciaddr !== '0.0.0.0') reply.ciaddr = c.ciaddr;
    for (const [code, v] of this.staticOptions) reply.options.set(code, v);
    const res = this.reservedByMac.get(c.mac);
    if (res?.hostname && res.ip === ip) reply.options.set(Opt.HOST_NAME, Buffer.from(res.hostname, 'latin1'));
    const boot = this.addBoot(reply, c);
    if (c.relayAgentInfo) reply.options.set(Opt.RELAY_AGENT_INFO, c.relayAgentInfo);
    return { reply, type, address: reply.yiaddr, boot };
  }

  private addBoot(reply: DhcpPacket, c: ClientInfo): BootAnswer | null {
    const boot = chooseBootAnswer(c, this.boot);
    if (boot) applyBootAnswer(reply, boot, false);
    return boot;
  }

  /** Why `ip` cannot go to `mac` now, or 'ok'. */
  private availability(ip: number, mac: string, now: number): 'ok' | 'taken' | 'declined' | 'not-in-pool' {
    const reservedFor = this.reservedIps.get(ip);
    if (reservedFor !== undefined && reservedFor !== mac) return 'taken';
    if (reservedFor === undefined && (ip < this.start || ip > this.end)) return 'not-in-pool';
    if (ip === this.serverIp || ip === this.network || ip === this.broadcastIp) return 'not-in-pool';
    const l = this.byIp.get(ip);
    if (!l) return 'ok';
    if (l.state === 'declined') return l.expiresAt > now ? 'declined' : 'ok';
    if (l.mac === mac) return 'ok';
    return l.state === 'released' || l.expiresAt <= now ? 'ok' : 'taken';
  }

  private pick(c: ClientInfo, now: number): number | null {
    const res = this.reservedByMac.get(c.mac);
    if (res && this.availability(res.ip, c.mac, now) === 'ok') return res.ip;
    const mine = this.byMac.get(c.mac);
    if (mine !== undefined && this.availability(mine, c.mac, now) === 'ok') return mine;
    if (c.requestedAddress && this.inSubnet(c.requestedAddress)) {
      const ip = ipToInt(c.requestedAddress);
      if (ip >= this.start && ip <= this.end && this.availability(ip, c.mac, now) === 'ok' && this.ownerless(ip, c.mac))
        return ip;
    }
    for (let ip = this.hint; ip <= this.end; ip++) {
      if (
        !this.byIp.has(ip) &&
        !this.reservedIps.has(ip) &&
        ip !== this.serverIp &&
        ip !== this.network &&
        ip !== this.broadcastIp
      ) {
        this.hint = ip + 1;
        return ip;
      }
    }
    this.hint = this.end + 1;
    // No never-used address left: reuse the one that has been free the longest.
    let best: Lease | undefined;
    for (const l of this.byIp.values()) {
      if (l.mac === c.mac && l.state === 'declined') continue;
      if (this.availability(l.ip, c.mac, now) !== 'ok' || l.ip < this.start || l.ip > this.end) continue;
      if (!best || l.expiresAt < best.expiresAt) best = l;
    }
    return best ? best.ip : null;
  }

  /** True when no other client holds an unexpired claim or affinity to `ip`. */
  private ownerless(ip: number, mac: string): boolean {
    const l = this.byIp.get(ip);
    return !l || l.mac === mac || (l.state !== 'bound' && l.state !== 'offered') || this.byMac.get(l.mac) !== ip;
  }

  /**
   * Binds `ip` to the client: claims it in the store (with the client's previous address given
   * up in the same transaction), then in the working set.
   * @returns false when another client holds it in the store (its row joins the working set)
   */
  private async bind(ip: number, c: ClientInfo, now: number): Promise<boolean> {
    const l: Lease = {
      ip,
      mac: c.mac,
      clientId: storedClaim(c.clientId) ?? null,
      hostname: storedClaim(c.hostname) ?? null,
      state: 'bound',
      expiresAt: now + this.cfg.leaseTimeS * 1000,
    };
    const old = this.byMac.get(c.mac);
    const ol = old !== undefined && old !== ip ? this.byIp.get(old) : undefined;
    const moving = ol !== undefined && ol.mac === c.mac && ol.state !== 'declined';
    if (!(await this.repo.claim(this.toRow(l, now), now, moving ? intToIp(old!) : undefined))) {
      await this.refresh(ip, now);
      return false;
    }
    if (moving && this.byIp.get(old!) === ol) {
      if (ol.state === 'offered' && ol.previous) this.byIp.set(old!, ol.previous);
      else {
        this.byIp.delete(old!);
        if (old! < this.hint && old! >= this.start) this.hint = old!;
      }
    }
    this.byIp.set(ip, l);
    this.byMac.set(c.mac, ip);
    return true;
  }

  private withdrawOffer(mac: string): void {
    const ip = this.byMac.get(mac);
    if (ip === undefined) return;
    const l = this.byIp.get(ip);
    if (!l || l.mac !== mac || l.state !== 'offered') return;
    if (l.previous) {
      this.byIp.set(ip, l.previous);
      if (l.previous.mac !== mac) this.byMac.delete(mac);
    } else {
      this.byIp.delete(ip);
      this.byMac.delete(mac);
      if (ip < this.hint && ip >= this.start) this.hint = ip;
    }
  }

  private toRow(l: Lease, now: number): DhcpLease {
    return {
      address: intToIp(l.ip),
      mac: l.mac,
      clientId: l.clientId,
      hostname: l.hostname,
      state: l.state,
      expiresAt: l.expiresAt,
      updatedAt: now,
    };
  }
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}
