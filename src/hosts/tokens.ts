/**
 * Per-boot phone-home tokens. When a host's boot config is rendered, {@link BootTokens.issue}
 * makes a random 128-bit token for it (put on the kernel command line as `statelesx.token=`);
 * the initiator sends it back and {@link BootTokens.verify} checks it: known, for this host,
 * not expired, not used before (single use: a replay is refused).
 */
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import type { TokenRepo } from '../store/tokens.js';

/** Kernel command-line key that carries the token (boot.cfg `kernelopt`, iPXE/pxelinux APPEND). */
export const TOKEN_KERNEL_ARG = 'statelesx.token';

export type TokenCheck =
  | { ok: true; hostUuid: string }
  | { ok: false; reason: 'missing' | 'unknown' | 'expired' | 'replayed' | 'other-host' };

function hash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export class BootTokens {
  /**
   * @param repo the token table
   * @param ttlMs how long a token stays valid after issue, in milliseconds
   */
  constructor(private readonly repo: TokenRepo, private readonly ttlMs: number) {}

  /** Issues a new token for `hostUuid` (SMBIOS form): 22 base64url characters, 128 random bits. */
  issue(hostUuid: string, now = Date.now()): string {
    const token = randomBytes(16).toString('base64url');
    this.repo.insert({ tokenHash: hash(token), hostUuid, createdAt: now, expiresAt: now + this.ttlMs });
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
