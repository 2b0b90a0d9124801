/**
 * Connection limits of the TCP phone-home listener: open connections overall and per source
 * address, with the `initiator_open_connections` gauge.
 */
import type { Socket } from 'node:net';
import { gauge } from '../metrics.js';

/** Why a connection over a limit is refused (the `reason` of the rejected count). */
export type LimitReason = 'too-many-from-source' | 'too-many-connections';

/** The open connections of one listener, overall and by source address. */
export class ConnectionLimits {
  /** Every open connection (destroyed on close of the listener). */
  readonly open = new Set<Socket>();
  private readonly bySource = new Map<string, number>();
  private readonly openGauge = gauge('initiator_open_connections', 'Open TCP phone-home connections');

  constructor(
    private readonly maxConnections: number,
    private readonly perSource: number,
  ) {}

  /**
   * Counts a new connection from `address` (counted even when refused, until {@link release}).
   * @returns its number among the open ones from that address, and the limit it exceeds, if any
   */
  admit(socket: Socket, address: string): { fromSource: number; refused?: LimitReason } {
    this.open.add(socket);
    this.openGauge.set(this.open.size);
    const count = (this.bySource.get(address) ?? 0) + 1;
    this.bySource.set(address, count);
    if (this.open.size > this.maxConnections || count > this.perSource) {
      return { fromSource: count, refused: count > this.perSource ? 'too-many-from-source' : 'too-many-connections' };
    }
    return { fromSource: count };
  }

  /** Forgets a closed connection. */
  release(socket: Socket, address: string): void {
    this.open.delete(socket);
    this.openGauge.set(this.open.size);
    const n = (this.bySource.get(address) ?? 1) - 1;
    if (n <= 0) this.bySource.delete(address);
    else this.bySource.set(address, n);
  }
}
