/**
 * Login back-off per account (issue 16, finding 12). The login rate limit counts per client
 * address; guesses spread over many addresses were only slowed by it. Here every account name
 * also has a budget: after {@link FREE_FAILURES} failed logins in a row, the next attempt for that
 * name — from any address, with any password — waits 1 s, then 2 s, 4 s … up to
 * {@link MAX_BACKOFF_MS}; a successful login clears it. The wait is short on purpose: anyone can
 * fail logins for a known name, and a long lock would let them keep the admin out.
 *
 * Names are counted whether or not they exist (the answer must not tell them apart), in memory,
 * at most {@link MAX_TRACKED} names (the oldest entry is dropped first).
 */

/** Failed logins in a row an account gets before it backs off. */
export const FREE_FAILURES = 10;
/** Longest wait, in ms. */
export const MAX_BACKOFF_MS = 5 * 60_000;
/** Account names tracked at once. */
export const MAX_TRACKED = 10_000;

interface Entry {
  failures: number;
  /** Epoch ms before which the account's next attempt is refused. */
  until: number;
}

/** Failed-login counts and waits per account name (case-insensitive). */
export class AccountBackoff {
  private readonly entries = new Map<string, Entry>();

  /** How long (ms) an attempt for `username` at `now` must still wait; 0 when it may go ahead. */
  waitMs(username: string, now: number): number {
    const e = this.entries.get(key(username));
    return e ? Math.max(0, e.until - now) : 0;
  }

  /** Records a failed login for `username` at `now` (epoch ms). */
  failed(username: string, now: number): void {
    const k = key(username);
    const e = this.entries.get(k) ?? { failures: 0, until: 0 };
    this.entries.delete(k); // re-insert: Map order is the eviction order
    e.failures++;
    if (e.failures >= FREE_FAILURES) e.until = now + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (e.failures - FREE_FAILURES));
    this.entries.set(k, e);
    if (this.entries.size > MAX_TRACKED) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Clears the account's failures after a successful login. */
  succeeded(username: string): void {
    this.entries.delete(key(username));
  }
}

function key(username: string): string {
  return username.toLowerCase();
}
