/**
 * Per-boot phone-home tokens. When a host's boot config is rendered, {@link BootTokens.issue}
 * gives it a 128-bit token (put on the kernel command line as `statelesx.token=`); the initiator
 * sends it back and {@link BootTokens.verify} checks it: known, for this host, not expired, not
 * used before (single use: a replay is refused).
 *
 * One live token per host per boot window. Anyone on the boot LAN can request a host's boot
 * configs, and one boot renders several (pxelinux config, boot.cfg, its TFTP size probes, an iPXE
 * retry, ks.cfg): a render within the window of the host's live token (unused, issued less than
 * half its lifetime ago, by this process) returns that same token and writes nothing, so renders
 * can never push out the token a host booted with (they used to: each render minted one and only
 * the newest 16 were kept, so 16 fetches made the real host's phone-home `token-unknown`). A new
 * token is minted only when the live one was used (the host phoned home, and is booting again),
 * is older than the window, or was issued before a restart.
 *
 * Tokens are derived, not stored: HMAC-SHA-256 under a random key held only in memory, of the host
 * UUID and the issue time, so the same token can be rendered again while the store keeps only its
 * SHA-256 (a copy of the database does not give a token away; after a restart the key is new and
 * the next render mints a new token, the old ones staying valid until they expire).
 *
 * The table stays bounded: expired rows are deleted on every mint, and a host keeps at most
 * `keepPerHost` unused and as many used tokens. Renders alone mint at most about two per host per
 * lifetime (one per window), so that trim never removes a live token because of renders.
 *
 * Several servers on one store (issue 18): each has its own key, so a render on server B does not
 * reuse A's live token but mints its own; both stay valid, and a host that booted from A may phone
 * home to B (the store holds the hash, and consuming it is one conditional UPDATE: once, on any
 * server).
 */
import { randomBytes, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { TokenStore } from '../store/index.js';

/** Kernel command-line key that carries the token (boot.cfg `kernelopt`, iPXE/pxelinux APPEND). */
export const TOKEN_KERNEL_ARG = 'statelesx.token';

/**
 * Most unused tokens kept per host (and, separately, most used tokens, kept only so that a replay
 * is named `replayed`). Renders within a boot window reuse the live token, so only restarts of the
 * server (each makes the next render mint) could ever reach this bound within a token's lifetime.
 */
export const MAX_UNUSED_TOKENS_PER_HOST = 16;

export type TokenCheck =
  { ok: true; hostUuid: string } | { ok: false; reason: 'missing' | 'unknown' | 'expired' | 'replayed' | 'other-host' };

function hash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Issues and checks per-boot phone-home tokens (see the module comment). */
export class BootTokens {
  /** HMAC key tokens are derived with: random per process, never stored. */
  private readonly key = randomBytes(32);
  /** Issues under way, by host UUID: renders of one host that arrive together share one. */
  private readonly issuing = new Map<string, Promise<string>>();

  /**
   * @param repo the token table
   * @param ttlMs how long a token stays valid after issue, in milliseconds; the boot window, in
   *   which renders return the same token, is half of it
   * @param keepPerHost unused (and used) tokens kept per host, default {@link MAX_UNUSED_TOKENS_PER_HOST}
   */
  constructor(
    private readonly repo: TokenStore,
    private readonly ttlMs: number,
    private readonly keepPerHost = MAX_UNUSED_TOKENS_PER_HOST,
  ) {}

  /** The boot window in ms: a live token younger than this is rendered again. */
  get windowMs(): number {
    return Math.floor(this.ttlMs / 2);
  }

  /**
   * The token for `hostUuid` (SMBIOS form), 22 base64url characters: the host's live token when
   * it has one (unused, issued by this process within {@link windowMs} of `now`), else a new one.
   * Minting deletes every token expired before `now` and the host's tokens beyond `keepPerHost`.
   * Concurrent calls for one host share one answer (one store round trip, one token).
   * @throws the store's error when it cannot be read or written
   */
  issue(hostUuid: string, now = Date.now()): Promise<string> {
    const pending = this.issuing.get(hostUuid);
    if (pending) return pending;
    const p = this.issueNow(hostUuid, now).finally(() => this.issuing.delete(hostUuid));
    this.issuing.set(hostUuid, p);
    return p;
  }

  private async issueNow(hostUuid: string, now: number): Promise<string> {
    const live = await this.repo.newestUnused(hostUuid, now - this.windowMs);
    if (live && live.createdAt <= now && live.expiresAt >= now) {
      const again = this.derive(hostUuid, live.createdAt);
      if (hash(again) === live.tokenHash) return again;
    }
    // Two mints for one host in one millisecond (the first already used) would derive the same
    // token: take the next millisecond.
    let createdAt = now;
    while (await this.repo.get(hash(this.derive(hostUuid, createdAt)))) createdAt++;
    const token = this.derive(hostUuid, createdAt);
    await this.repo.insertBounded(
      { tokenHash: hash(token), hostUuid, createdAt, expiresAt: createdAt + this.ttlMs },
      this.keepPerHost,
    );
    return token;
  }

  /** HMAC-SHA-256(key, `uuid` NUL `createdAt`), first 128 bits, base64url. */
  private derive(hostUuid: string, createdAt: number): string {
    return createHmac('sha256', this.key)
      .update(`${hostUuid}\0${createdAt}`)
      .digest()
      .subarray(0, 16)
      .toString('base64url');
  }

  /**
   * Checks a token presented by a phone-home and, when valid, consumes it.
   * @param token as sent by the host (undefined when absent)
   * @param claimedUuid the UUID the message claims (SMBIOS form)
   * @throws the store's error when it cannot be read or written
   */
  async verify(token: string | undefined, claimedUuid: string, now = Date.now()): Promise<TokenCheck> {
    if (!token) return { ok: false, reason: 'missing' };
    const row = await this.repo.get(hash(token));
    if (!row) return { ok: false, reason: 'unknown' };
    const a = Buffer.from(row.hostUuid);
    const b = Buffer.from(claimedUuid);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: 'other-host' };
    if (row.expiresAt < now) return { ok: false, reason: 'expired' };
    if (!(await this.repo.markUsed(row.tokenHash, now))) return { ok: false, reason: 'replayed' };
    return { ok: true, hostUuid: row.hostUuid };
  }

  /**
   * Gives back a token that {@link verify} consumed at `usedAt` (epoch ms) when the action it
   * authorised could not be done (the configure job was not queued), so that the host's retry
   * with the same token is accepted. A later consumption is never undone.
   * @returns false when the token is unknown or was not consumed at `usedAt`
   */
  release(token: string, usedAt: number): Promise<boolean> {
    return this.repo.markUnused(hash(token), usedAt);
  }
}
