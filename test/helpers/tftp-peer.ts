/**
 * A raw TFTP peer on 127.0.0.1 for wire-level tests: sends hand-built packets to a port and
 * queues every decodable datagram it receives with its source (so a test sees the server's TID).
 */
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { decodePacket, Opcode, type TftpPacket } from '../../src/boot/tftp/packet.js';

/** One datagram received: decoded packet, raw bytes, and where it came from. */
export interface Received {
  packet: TftpPacket;
  raw: Buffer;
  from: RemoteInfo;
}

/** A UDP socket on 127.0.0.1 with a bounded receive queue API. */
export class RawPeer {
  readonly socket: Socket = createSocket('udp4');
  private queue: Received[] = [];
  private waiter: (() => void) | null = null;
  private closed = false;

  async open(): Promise<this> {
    await new Promise<void>((res) => this.socket.bind({ address: '127.0.0.1', port: 0 }, res));
    this.socket.on('message', (raw, from) => {
      const d = decodePacket(raw);
      if (d.ok) this.queue.push({ packet: d.packet, raw, from });
      this.waiter?.();
    });
    return this;
  }

  send(buf: Buffer, port: number): void {
    this.socket.send(buf, port, '127.0.0.1');
  }

  /** Next datagram, or null after `ms` (bounded wait). */
  async recv(ms = 3000): Promise<Received | null> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiter = () => {
          clearTimeout(t);
          res();
        };
      });
      this.waiter = null;
    }
    return this.queue.shift()!;
  }

  /**
   * Next datagram that is not a resend of DATA `block - 1` (a retransmission that overtook our
   * ACK of it on a loaded machine: legal, and skipped as a real client does), or null after `ms`.
   */
  async recvAfterDuplicates(block: number, ms = 3000): Promise<Received | null> {
    let r = await this.recv(ms);
    while (r?.packet.op === Opcode.DATA && r.packet.block === ((block - 1) & 0xffff)) r = await this.recv(ms);
    return r;
  }

  /** Closes the socket; closing again does nothing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}
