/**
 * Per-boot phone-home tokens. When a host's boot config is rendered, {@link BootTokens.issue}
 * makes a random 128-bit token for it (put on the kernel command line as `statelesx.token=`);
 * the initiator sends it back and {@link BootTokens.verify} checks it: known, for this host,
 * not expired, not used before (single use: a replay is refused).
 *
 * Anyone on the boot LAN can request boot configs, so issuing keeps `boot_tokens` bounded:
 * expired rows are deleted on every issue, and each host keeps only its newest few tokens.
 */
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import type { TokenStore } from '../store/index.js';

/** Kernel command-line key that carries the token (boot.cfg `kernelopt`, iPXE/pxelinux APPEND). */
export const TOKEN_KERNEL_ARG = 'statelesx.token';

/**
 * Most unused tokens kept per host: every render of a host's boot config issues one, and the
 * host phones home with the one from the config it booted, normally the newest. Older unused
 * tokens (a newer boot superseded them) are deleted beyond this many; so are used tokens (kept
 * only so that a replay is named `replayed`) beyond this many. 16, not fewer: one boot can render
 * several command-line files (pxelinux config, boot.cfg, its TFTP tsize probes, an iPXE retry), and
 * the one the kernel got must still be valid when the initiator phones home.
 */
export const MAX_UNUSED_TOKENS_PER_HOST = 16;

export type TokenCheck =
  { ok: true; hostUuid: string } | { ok: false; reason: 'missing' | 'unknown' | 'expired' | 'replayed' | 'other-host' };

function hash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export class BootTokens {
  /**
   * @param repo the token table
   * @param ttlMs how long a token stays valid after issue, in milliseconds
   * @param keepPerHost unused (and used) tokens kept per host, default {@link MAX_UNUSED_TOKENS_PER_HOST}
   */
  constructor(
    private readonly repo: TokenStore,
    private readonly ttlMs: number,
    private readonly keepPerHost = MAX_UNUSED_TOKENS_PER_HOST,
  ) {}

  /**
   * Issues a new token for `hostUuid` (SMBIOS form): 22 base64url characters, 128 random bits.
   * The table stays bounded whoever asks for boot configs: every token expired before `now` is
   * deleted, and the host's older tokens beyond `keepPerHost` (see {@link MAX_UNUSED_TOKENS_PER_HOST}).
   */
  issue(hostUuid: string, now = Date.now()): string {
    const token = randomBytes(16).toString('base64url');
    this.repo.insertBounded(
      { tokenHash: hash(token), hostUuid, createdAt: now, expiresAt: now + this.ttlMs },
      this.keepPerHost,
    );
    return token;
  }

  /**
   * Checks a token presented by a phone-home and, when valid, consumes it.
   * @param token as sent by the host (undefined when absent)
   * @param claimedUuid the UUID the message claims (SMBIOS form)
   */
  verify(token: string | undefined, claimedUuid: string, now = Date.now()): TokenCheck {
    if (!token) return { ok: false, reason: 'missing' };
    const row = this.repo.get(hash(token));
    if (!row) return { ok: false, reason: 'unknown' };
    const a = Buffer.from(row.hostUuid);
    const b = Buffer.from(claimedUuid);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: 'other-host' };
    if (row.expiresAt < now) return { ok: false, reason: 'expired' };
    if (!this.repo.markUsed(row.tokenHash, now)) return { ok: false, reason: 'replayed' };
    return { ok: true, hostUuid: row.hostUuid };
  }

  /**
   * Gives back a token that {@link verify} consumed at `usedAt` (epoch ms) when the action it
   * authorised could not be done (the configure job was not queued), so that the host's retry
   * with the same token is accepted. A later consumption is never undone.
   * @returns false when the token is unknown or was not consumed at `usedAt`
   */
  release(token: string, usedAt: number): boolean {
    return this.repo.markUnused(hash(token), usedAt);
  }
}
