/**
 * Rate limit of the ERROR replies the TFTP listening sockets send (issue 16 finding 9): a refused
 * request's source address is unproven (UDP), so without a limit a stream of spoofed 20-byte
 * requests turns the server into a reflector aimed at that address. Token buckets: one per
 * destination address (a PXE client probing its pxelinux.cfg names a few times a second is far
 * below it) and one for all destinations. Replies over the limit are not sent; the request is
 * still counted and logged by the caller.
 */

/** Bucket size and refill, replies per second. */
export interface ReplyLimits {
  perAddress: number;
  total: number;
}

/** Defaults: 32 replies per second to one address (burst 32), 512 per second in all. */
export const DEFAULT_REPLY_LIMITS: ReplyLimits = { perAddress: 32, total: 512 };

/** Token buckets per destination address and in all; addresses idle for a second are forgotten. */
export class ReplyLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private total: { tokens: number; at: number };
  private swept = 0;

  constructor(
    private readonly limits: ReplyLimits = DEFAULT_REPLY_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.total = { tokens: limits.total, at: now() };
  }

  /** Takes one token for a reply to `address`; false when it must not be sent. */
  allow(address: string): boolean {
    const now = this.now();
    if (now - this.swept > 1000) this.sweep(now);
    let b = this.buckets.get(address);
    if (!b) this.buckets.set(address, (b = { tokens: this.limits.perAddress, at: now }));
    refill(b, now, this.limits.perAddress);
    refill(this.total, now, this.limits.total);
    if (b.tokens < 1 || this.total.tokens < 1) return false;
    b.tokens--;
    this.total.tokens--;
    return true;
  }

  /** Drops buckets that are full again (their address sent nothing for a second): the map stays small. */
  private sweep(now: number): void {
    this.swept = now;
    for (const [a, b] of this.buckets) if (now - b.at >= 1000) this.buckets.delete(a);
  }
}

function refill(b: { tokens: number; at: number }, now: number, perSecond: number): void {
  b.tokens = Math.min(perSecond, b.tokens + ((now - b.at) * perSecond) / 1000);
  b.at = now;
}
