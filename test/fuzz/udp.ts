/**
 * UDP helpers for the live fuzz loops: sockets bound on 127.0.0.0/8 only, bounded waits.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

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
export function receive<T>(s: Socket, ms: number, what: string, accept: (msg: Buffer, r: RemoteInfo) => T | undefined): Promise<T> {
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
