/**
 * The read-only TFTP server (RFC 1350, 2347, 2348, 2349, 7440): listening sockets, request
 * handling (caps, option negotiation; path safety and file lookup in request-file.ts) and the set of
 * running {@link TftpTransfer}s.
 *
 * Local address of replies: Node cannot read a datagram's destination address (no IP_PKTINFO), so
 * when the listen address is 0.0.0.0 we bind one listening socket per local IPv4 address (found at
 * start) instead of one wildcard socket. Each request then arrives on a socket that knows its local
 * address, and the transfer socket binds to that same address: replies always come from the address
 * the client sent to, as PXE ROMs require. Addresses added after start are not served until restart.
 * With a specific listen address there is exactly one socket on it.
 *
 * Errors for refused requests (ERROR 1 not found, 2 access violation / write request, 4 bad mode,
 * 0 busy) are sent from the listening socket; every datagram that is not a valid request is dropped
 * with a debug log and a counter, and the server keeps serving.
 *
 * Data planes: every transfer runs its DATA phase on the native data plane (native-transfer.ts, a
 * thread per transfer) when the addon is built and `tftp.data-plane` is `native` (the default);
 * when the addon cannot be loaded (one warning at start) or `data-plane: js` is set, every
 * transfer runs on the JS data plane (js-transfer.ts). Both implement {@link TftpTransfer}
 * (contract.ts) and the same protocol; the start-up log line names the one in use.
 *
 * Imports: boot/files (contract), net, metrics, log. Never imports policy or config (limits.ts).
 */
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Service } from '../../net/service.js';
import { interfaceMtu, interfaceOf, ipv4Interfaces } from '../../net/interfaces.js';
import type { TftpLimits } from './limits.js';
import type { BootFileSource } from '../files/types.js';
import { toBindError } from '../../net/bind-error.js';
import { decodePacket, encodeError, ErrorCode, Opcode, type RequestPacket } from './packet.js';
import { negotiateOptions } from './options.js';
import { readAheadFor, type TftpTransfer, type TransferOutcome } from './contract.js';
import { JsTransfer } from './js-transfer.js';
import { NativeTransfer } from './native-transfer.js';
import { openRequestedFile, TftpRefusal, type RequestedFile } from './request-file.js';
import { loadDataPlane, type DataPlane } from './native.js';
import { RingPool } from './ring-pool.js';
import { tftpMetrics, type TftpMetrics } from './metrics.js';
import { ReplyLimiter } from './reply-limiter.js';

/** Options of {@link createTftpServer}. */
export interface TftpServerOptions {
  /** The one resolver of boot files (static root, images, rendered per host). */
  source: BootFileSource;
  /** IPv4 address to bind; `0.0.0.0` binds every local IPv4 address separately (see module comment). */
  address: string;
  /** UDP port (69 in production, 0 in tests for a random one). */
  port: number;
  /** Caps and timeouts (the config's `tftp.*`; a `port` key in the object is ignored in favour of {@link port}). */
  limits: TftpLimits;
  log: Logger;
  /** Floor of the adaptive retransmission timeout, ms (default 20; the RTO is srtt + 4·rttvar above it). */
  minRtoMs?: number;
  /** Ceiling of the retransmission timeout when the client did not negotiate one, ms (default 3000). */
  maxRtoMs?: number;
  /** Netascii files up to this size (bytes) are scanned to answer tsize (default 16 MiB). */
  netasciiTsizeLimit?: number;
}

/** A TFTP server: a {@link Service} plus the addresses it is bound to. */
export interface TftpServer extends Service {
  /** The first bound address (the only one unless listening on 0.0.0.0). @throws Error before start */
  address(): { address: string; port: number };
  /** Every bound listening address. */
  addresses(): Array<{ address: string; port: number }>;
  /** Transfers currently running (or being set up). */
  activeTransfers(): number;
}

interface Listener {
  socket: Socket;
  address: string;
  port: number;
  /** Largest blksize fitting the interface MTU (MTU − 20 IP − 8 UDP − 4 TFTP), when known. */
  linkBlksize: number | undefined;
}

/**
 * Creates (does not start) the TFTP server.
 * `start()` rejects with a BindError naming the port and `--tftp-port` when a socket cannot be bound.
 */
export function createTftpServer(opts: TftpServerOptions): TftpServer {
  return new TftpServerImpl(opts);
}

/** Local IPv4 addresses with their interface MTU-derived blksize cap. */
function localAddresses(): Array<{ address: string; linkBlksize: number | undefined }> {
  return ipv4Interfaces().map((a) => ({ address: a.address, linkBlksize: linkBlksizeOf(a.name) }));
}

/** blksize that fits one datagram on interface `name` (MTU − 20 IP − 8 UDP − 4 TFTP), or undefined. */
function linkBlksizeOf(name: string | undefined): number | undefined {
  const mtu = interfaceMtu(name);
  return mtu === undefined ? undefined : mtu - 32;
}

class TftpServerImpl implements TftpServer {
  readonly name = 'tftp';
  private readonly log: Logger;
  private readonly metrics: TftpMetrics;
  private listeners: Listener[] = [];
  /** Running or reserved transfers by client `address:port` (null while the file is being resolved). */
  private readonly byClient = new Map<string, TftpTransfer | null>();
  /** The native data plane, or null when transfers run on the JS data plane. */
  private readonly plane: DataPlane | null;
  /** Why the native data plane is not used (logged at start), when it is not. */
  private readonly planeNote: string | null;
  /** Resolves close() once the last transfer has ended. */
  private drained: (() => void) | null = null;
  /** Transfer rings, reused across transfers (a storm's worth is not left to the GC). */
  private readonly rings = new RingPool();
  private readonly perAddress = new Map<string, number>();
  /** Transfers (client `address:port`) whose client has not ACKed yet: its source address is unproven. */
  private readonly unverified = new Set<string>();
  /** ERROR replies from the listening sockets, rate-limited per destination address and in all. */
  private readonly errorLimiter = new ReplyLimiter();
  private closed = false;

  constructor(private readonly opts: TftpServerOptions) {
    this.log = opts.log.child({ subsystem: 'tftp' });
    this.metrics = tftpMetrics();
    if (opts.limits['data-plane'] === 'js') {
      this.plane = null;
      this.planeNote = null;
    } else {
      const loaded = loadDataPlane();
      this.plane = 'plane' in loaded ? loaded.plane : null;
      this.planeNote = 'error' in loaded ? loaded.error : null;
    }
  }

  address(): { address: string; port: number } {
    const l = this.listeners[0];
    if (!l) throw new Error('TFTP server is not started');
    return { address: l.address, port: l.port };
  }

  addresses(): Array<{ address: string; port: number }> {
    return this.listeners.map((l) => ({ address: l.address, port: l.port }));
  }

  activeTransfers(): number {
    return this.byClient.size;
  }

  async start(): Promise<void> {
    const { address } = this.opts;
    const targets =
      address === '0.0.0.0' ? localAddresses() : [{ address, linkBlksize: linkBlksizeOf(interfaceOf(address)) }];
    if (targets.length === 0) targets.push({ address, linkBlksize: undefined });
    let port = this.opts.port;
    let trying = address; // the address whose bind failed, named in the error (not 0.0.0.0)
    try {
      for (const t of targets) {
        trying = t.address;
        const l = await this.bind(t.address, port, t.linkBlksize);
        port = l.port; // port 0: every address gets the port the first one got
        this.listeners.push(l);
      }
    } catch (e) {
      for (const l of this.listeners) l.socket.close();
      this.listeners = [];
      throw toBindError(e, 'TFTP (udp)', trying, port, '--tftp-port');
    }
    if (this.planeNote)
      this.log.warn(
        { reason: this.planeNote },
        'native TFTP data plane unavailable: transfers run on the JS data plane',
      );
    this.log.info({ addresses: this.addresses(), dataPlane: this.plane ? 'native' : 'js' }, 'TFTP server listening');
  }

  private bind(address: string, port: number, linkBlksize: number | undefined): Promise<Listener> {
    return new Promise((res, rej) => {
      const socket = createSocket({ type: 'udp4' });
      const onError = (e: Error) => {
        socket.close();
        rej(e);
      };
      socket.once('error', onError);
      socket.bind({ address, port, exclusive: true }, () => {
        socket.off('error', onError);
        const l: Listener = { socket, address, port: socket.address().port, linkBlksize };
        socket.on('error', (err) => this.log.error({ err, address }, 'TFTP listening socket error'));
        socket.on('message', (msg, rinfo) => this.onDatagram(l, msg, rinfo));
        res(l);
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const l of this.listeners) {
      try {
        l.socket.close();
      } catch {
        /* already closed */
      }
    }
    this.listeners = [];
    // Native transfers end asynchronously (their thread stops first): wait for the last onEnd,
    // but not for ever (a request still resolving its file ends on its own right after).
    const drained = new Promise<void>((res) => (this.drained = res));
    for (const t of [...this.byClient.values()]) t?.abort('shutdown', 'server shutting down');
    if (this.byClient.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((res) => (timer = setTimeout(res, 2000)))]);
    clearTimeout(timer);
  }

  private onDatagram(l: Listener, msg: Buffer, rinfo: RemoteInfo): void {
    const d = decodePacket(msg);
    if (!d.ok) {
      this.metrics.dropped.inc({ reason: d.error.reason });
      this.log.debug(
        { client: `${rinfo.address}:${rinfo.port}`, reason: d.error.reason, detail: d.error.detail, bytes: msg.length },
        'dropped malformed datagram',
      );
      return;
    }
    const p = d.packet;
    if (p.op !== Opcode.RRQ && p.op !== Opcode.WRQ) {
      this.metrics.dropped.inc({ reason: 'unexpected' });
      this.log.debug(
        { client: `${rinfo.address}:${rinfo.port}`, op: p.op },
        'dropped non-request packet on the listening port',
      );
      return;
    }
    void this.onRequest(l, p, rinfo);
  }

  private refuse(l: Listener, rinfo: RemoteInfo, code: number, message: string): void {
    this.metrics.refused.inc({ code: String(code) });
    if (!this.errorLimiter.allow(rinfo.address)) return; // a spoofed source must not become a flood target
    try {
      l.socket.send(encodeError(code, message), rinfo.port, rinfo.address);
    } catch {
      /* listener closed meanwhile */
    }
  }

  private async onRequest(l: Listener, req: RequestPacket, rinfo: RemoteInfo): Promise<void> {
    const client = `${rinfo.address}:${rinfo.port}`;
    const id = randomBytes(4).toString('hex');
    const log = this.log.child({ client, transfer: id });
    if (req.op === Opcode.WRQ) {
      log.info({ file: req.filename }, 'write request refused (read-only server)');
      this.refuse(l, rinfo, ErrorCode.ACCESS_VIOLATION, 'Access violation: write requests are not accepted');
      return;
    }
    if (this.byClient.has(client)) {
      log.debug({ file: req.filename }, 'repeated request from a running transfer ignored');
      return;
    }
    const limits = this.opts.limits;
    if (this.byClient.size >= limits['max-transfers']) {
      log.warn({ file: req.filename, max: limits['max-transfers'] }, 'request refused: too many transfers');
      this.refuse(l, rinfo, ErrorCode.NOT_DEFINED, 'Server busy: too many transfers, try again later');
      return;
    }
    const mine = this.perAddress.get(rinfo.address) ?? 0;
    if (mine >= limits['max-transfers-per-client']) {
      log.warn(
        { file: req.filename, max: limits['max-transfers-per-client'] },
        'request refused: too many transfers from this client',
      );
      this.refuse(l, rinfo, ErrorCode.NOT_DEFINED, 'Too many transfers from this address, try again later');
      return;
    }
    if (req.mode !== 'octet' && req.mode !== 'netascii') {
      log.info({ file: req.filename, mode: req.mode }, 'request refused: unsupported mode');
      // Nothing the client sent is echoed back (a reflected request must not carry its text).
      this.refuse(l, rinfo, ErrorCode.ILLEGAL_OPERATION, 'Illegal TFTP operation: only octet and netascii modes');
      return;
    }
    if (this.unverified.size >= limits['max-unverified-transfers']) {
      // Dropped without an answer: these requests' sources are unproven, an ERROR could be reflection.
      this.metrics.dropped.inc({ reason: 'unverified-cap' });
      log.warn(
        { file: req.filename, max: limits['max-unverified-transfers'] },
        'request dropped: too many transfers waiting for their first ACK',
      );
      return;
    }
    // Reserve the slot before any await so that caps hold under bursts.
    this.byClient.set(client, null);
    this.unverified.add(client);
    this.perAddress.set(rinfo.address, mine + 1);
    let transfer: TftpTransfer | null = null;
    try {
      transfer = await this.prepare(l, req, rinfo, id, log);
    } catch (e) {
      log.error({ err: e, file: req.filename }, 'request failed');
      this.refuse(l, rinfo, ErrorCode.NOT_DEFINED, 'Internal server error');
    }
    if (!transfer) {
      this.unreserve(client, rinfo.address);
      return;
    }
    if (this.closed) {
      transfer.abort('shutdown', 'server shutting down');
      return;
    }
    this.byClient.set(client, transfer);
    this.metrics.active.inc();
    await transfer.start();
  }

  private unreserve(client: string, address: string): void {
    this.byClient.delete(client);
    this.unverified.delete(client);
    const n = (this.perAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, n);
    if (this.closed && this.byClient.size === 0) this.drained?.();
  }

  /** Resolves and opens the file and negotiates options; refuses (and returns null) on failure. */
  private async prepare(
    l: Listener,
    req: RequestPacket,
    rinfo: RemoteInfo,
    id: string,
    log: Logger,
  ): Promise<TftpTransfer | null> {
    let file: RequestedFile;
    try {
      const origin = { clientAddress: rinfo.address, clientPort: rinfo.port, requestId: id, log };
      file = await openRequestedFile(req, this.opts.source, origin, this.opts.netasciiTsizeLimit ?? 16 * 1024 * 1024);
    } catch (e) {
      if (!(e instanceof TftpRefusal)) throw e;
      this.refuse(l, rinfo, e.code, e.message);
      return null;
    }
    const { transferSize, makeSource, nativeSource } = file;
    const limits = this.opts.limits;
    const negotiated = negotiateOptions(req.options, {
      maxBlksize: limits['max-blksize'],
      linkBlksize: l.linkBlksize,
      maxWindowsize: limits['max-windowsize'],
      maxWindowBytes: limits['max-window-bytes'],
      defaultTimeoutMs: limits['timeout-ms'],
      transferSize,
    });
    const plane = this.plane;
    log.info(
      {
        file: req.filename,
        mode: req.mode,
        size: transferSize,
        options: Object.fromEntries(req.options),
        blksize: negotiated.blksize,
        windowsize: negotiated.windowsize,
        dataPlane: plane ? 'native' : 'js',
      },
      'transfer starting',
    );
    const client = `${rinfo.address}:${rinfo.port}`;
    const common = {
      id,
      clientAddress: rinfo.address,
      clientPort: rinfo.port,
      localAddress: l.address,
      negotiated,
      maxRetries: limits.retries,
      minRtoMs: this.opts.minRtoMs ?? 20,
      maxRtoMs: this.opts.maxRtoMs ?? 3000,
      readAheadBytes: readAheadFor(this.activeTransfers()),
      transferSize,
      maxSilenceMs: limits['max-silence-ms'],
      firstAckTimeoutMs: limits['first-ack-timeout-ms'],
      onFirstAck: () => this.unverified.delete(client),
      log,
      metrics: this.metrics,
      onEnd: (_t: unknown, outcome: TransferOutcome) => this.onEnd(client, rinfo.address, outcome, log),
    };
    if (plane)
      return new NativeTransfer({
        ...common,
        plane,
        source: nativeSource,
        busyPollUs: limits['busy-poll-us'],
      });
    return new JsTransfer({ ...common, source: makeSource(negotiated.blksize), rings: this.rings });
  }

  private onEnd(client: string, address: string, outcome: TransferOutcome, log: Logger): void {
    this.unreserve(client, address);
    this.metrics.active.dec();
    const ms = Math.round(outcome.ms);
    if (outcome.ok) {
      log.info(
        { bytes: outcome.bytes, blocks: outcome.blocks, ms, busyPollHits: outcome.busyPollHits },
        'transfer completed',
      );
    } else if (outcome.reason === 'io-error' || outcome.reason === 'socket-error') {
      log.warn({ reason: outcome.reason, detail: outcome.detail, bytes: outcome.bytes, ms }, 'transfer failed');
    } else {
      log.info({ reason: outcome.reason, detail: outcome.detail, bytes: outcome.bytes, ms }, 'transfer ended early');
    }
  }
}
