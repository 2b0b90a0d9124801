/**
 * A per-key rate limit (token bucket per key, in memory), for intakes that anyone on the boot LAN
 * can reach: each key may take `perMinute` events in a burst and then `perMinute` a minute. The
 * keys kept are bounded ({@link MAX_KEYS}; the least recently used goes first), so spoofed keys
 * cost memory only up to that bound; a key that is dropped starts again with a full bucket.
 */

/** Keys tracked at once. */
export const MAX_KEYS = 10_000;

interface Bucket {
  tokens: number;
  /** Epoch ms of the last refill. */
  at: number;
}

/** Token buckets by key (a source address). `perMinute` 0 refuses everything. */
export class KeyedRateLimit {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * @param perMinute events a key may take per minute (and in one burst)
   * @throws RangeError when perMinute is negative or not finite
   */
  constructor(private readonly perMinute: number) {
    if (!(perMinute >= 0) || !Number.isFinite(perMinute))
      throw new RangeError(`rate limit must be a finite count per minute ≥ 0, got ${perMinute}`);
  }

  /**
   * Takes one event for `key` at `now` (epoch ms).
   * @returns true when allowed, false when the key is over its rate (nothing is taken then)
   */
  take(key: string, now: number): boolean {
    const b = this.buckets.get(key) ?? { tokens: this.perMinute, at: now };
    this.buckets.delete(key); // re-insert: Map order is the eviction order (least recently used first)
    b.tokens = Math.min(this.perMinute, b.tokens + (Math.max(0, now - b.at) * this.perMinute) / 60_000);
    b.at = now;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(key, b);
    if (this.buckets.size > MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value!);
    return ok;
  }
}
