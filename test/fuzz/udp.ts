/**
 * UDP helpers for the live fuzz loops: sockets bound on 127.0.0.0/8 only, bounded waits.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';

/** A bound UDP socket on a loopback address. */
export function loopbackSocket(address = '127.0.0.1', port = 0): Promise<Socket> {
  if (!address.startsWith('127.')) throw new Error(`fuzz sockets bind to 127.0.0.0/8 only, not ${address}`);
  return new Promise((res, rej) => {
    const s = createSocket('udp4');
    s.once('error', rej);
    s.bind({ address, port }, () => {
      s.off('error', rej);
      s.on('error', () => undefined);
      res(s);
    });
  });
}

/** Sends and resolves once the datagram left (errors swallowed: fuzz traffic may be refused). */
export function send(s: Socket, buf: Buffer, port: number, address = '127.0.0.1'): Promise<void> {
  if (!address.startsWith('127.')) throw new Error(`fuzz traffic goes to 127.0.0.0/8 only, not ${address}`);
  return new Promise((res) => s.send(buf, port, address, () => res()));
}

/**
 * Waits for the first datagram on `s` that `accept` returns a value for.
 * @throws Error naming `what` after `ms`
 */
export function receive<T>(
  s: Socket,
  ms: number,
  what: string,
  accept: (msg: Buffer, r: RemoteInfo) => T | undefined,
): Promise<T> {
  return new Promise((res, rej) => {
    const onMsg = (msg: Buffer, r: RemoteInfo) => {
      const v = accept(msg, r);
      if (v === undefined) return;
      clearTimeout(t);
      s.off('message', onMsg);
      res(v);
    };
    const t = setTimeout(() => {
      s.off('message', onMsg);
      rej(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
    s.on('message', onMsg);
  });
}

/** Closes quietly. */
export function closeSocket(s: Socket): Promise<void> {
  return new Promise((res) => {
    try {
      s.close(() => res());
    } catch {
      res();
    }
  });
}

/** Yields to the event loop (lets the server drain its receive queue). */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Every UDP socket the process creates while `track` is on (Node's `udp.socket` diagnostics
 * channel): lets a test count the datagrams a server's own sockets received without touching it.
 */
export class SocketTracker {
  /** The sockets seen (only without a `created` callback: a long-lived tracker must not retain them). */
  readonly sockets: Socket[] = [];
  private readonly onSocket = (m: unknown): void => {
    const s = (m as { socket: Socket }).socket;
    if (this.created) this.created(s);
    else this.sockets.push(s);
  };

  /** @param created called for every socket as it is created (then {@link sockets} stays empty) */
  constructor(private readonly created?: (s: Socket) => void) {
    subscribe('udp.socket', this.onSocket);
  }

  /** Stops tracking (sockets already seen stay in {@link sockets}). */
  stop(): void {
    unsubscribe('udp.socket', this.onSocket);
  }
}

/** Options of {@link flood}. */
export interface FloodOptions {
  /** Stop once `received()` reached this many datagrams. */
  target: number;
  /** Next datagram to send. */
  next: () => Buffer;
  /** Sending sockets (round-robin). */
  from: readonly Socket[];
  /** Destination port on 127.0.0.1. */
  port: number;
  /** Datagrams the server's sockets have received from the flood so far (counted on its sockets). */
  received: () => number;
  /** Called about every `every` received datagrams (memory samples, probes), awaited. */
  checkpoint?: (received: number) => Promise<void>;
  every?: number;
  /** Datagrams per burst (default 32: libuv reads up to 32 per poll per socket). */
  burst?: number;
  /** Longest wait for a burst to be read before its missing datagrams count as lost (ms, default 200). */
  settleMs?: number;
}

/** What {@link flood} did: datagrams handed to the kernel, received by the server, lost in between. */
export interface FloodResult {
  /** Sends whose callback reported success. */
  sent: number;
  /** Sends the kernel refused (callback error). */
  sendErrors: number;
  /** Datagrams the server's sockets received (as counted by `received`). */
  received: number;
  /** Sent but never received within `settleMs` (receive-buffer overflow). */
  lost: number;
  /** Wall time in total / spent in checkpoints (ms). */
  ms: number;
  checkpointMs: number;
}

/**
 * Pushes datagrams at a server on 127.0.0.1 in bursts until it has *received* `target` of them:
 * after each burst it yields until the server read the whole burst (or `settleMs` passed), so the
 * count is of datagrams the server loop actually handled, not of sends or replies.
 */
export async function flood(o: FloodOptions): Promise<FloodResult> {
  const burst = o.burst ?? 32;
  const settleMs = o.settleMs ?? 200;
  const every = o.every ?? Math.max(1, Math.floor(o.target / 64));
  const t0 = performance.now();
  let sent = 0;
  let sendErrors = 0;
  let pending = 0;
  let lost = 0;
  let nextCheck = every;
  let checkpointMs = 0;
  let k = 0;
  const done = (e: Error | null): void => {
    pending--;
    if (e) sendErrors++;
    else sent++;
  };
  while (o.received() < o.target) {
    const base = o.received();
    const n = Math.min(burst, o.target - base);
    const errs0 = sendErrors;
    for (let i = 0; i < n; i++) {
      pending++;
      o.from[k++ % o.from.length]!.send(o.next(), o.port, '127.0.0.1', done);
    }
    const t = performance.now();
    while ((pending > 0 || o.received() < base + n - (sendErrors - errs0)) && performance.now() - t < settleMs)
      await tick();
    lost += Math.max(0, base + n - (sendErrors - errs0) - o.received());
    if (o.checkpoint && o.received() >= nextCheck) {
      nextCheck += every;
      const c0 = performance.now();
      await o.checkpoint(o.received());
      checkpointMs += performance.now() - c0;
    }
  }
  while (pending > 0) await tick();
  return { sent, sendErrors, received: o.received(), lost, ms: performance.now() - t0, checkpointMs };
}
