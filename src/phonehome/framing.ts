/**
 * TCP framing of a phone-home message: bytes up to and including the first `\n`, at most
 * {@link MAX_MESSAGE_BYTES} (plus a CR LF), and the legacy message a client sent without a newline.
 */
import { MAX_MESSAGE_BYTES, parsePhoneHomeLine } from './parse.js';

/** What a received chunk made of the message: complete (the bytes through the newline), too long, or not yet complete. */
export type FrameState = { state: 'complete'; bytes: Buffer } | { state: 'oversized' } | { state: 'partial' };

/** The bytes of one message as they arrive on a connection. */
export class MessageFrame {
  private readonly chunks: Buffer[] = [];
  /** Bytes received so far. */
  size = 0;

  /** Adds a received chunk; bytes after the first newline are dropped (one message per connection). */
  push(chunk: Buffer): FrameState {
    const nl = chunk.indexOf(0x0a);
    if (nl >= 0) {
      this.chunks.push(chunk.subarray(0, nl + 1));
      this.size += nl + 1;
      return { state: 'complete', bytes: this.bytes() };
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    return this.size > MAX_MESSAGE_BYTES + 2 ? { state: 'oversized' } : { state: 'partial' };
  }

  /** The bytes received so far, as one buffer. */
  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

/**
 * True when `bytes` (received without a newline, the client still open) are exactly one complete
 * legacy message — 1.0 `<uuid>` or 1.1 `<hostname>:<uuid>` — with no whitespace anywhere (so no
 * extension keys and nothing that announces more to come) and a full, valid, non-nil UUID.
 */
export function isCompleteLegacyMessage(bytes: Uint8Array): boolean {
  if (bytes.length === 0 || bytes.some((b) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d)) return false;
  const parsed = parsePhoneHomeLine(bytes);
  return parsed.ok && (parsed.message.form === '1.0' || parsed.message.form === '1.1');
}
