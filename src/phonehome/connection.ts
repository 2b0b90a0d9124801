/**
 * One TCP phone-home connection, from accept to close: `reading` (bytes framed under a deadline
 * for the whole message) → `done` (one reply written, or refused without one). A message ends at
 * its newline, at end-of-stream, or — for a bare legacy message from a client that never closes —
 * at the read deadline; anything else incomplete there is refused as `slow` (or `idle`).
 */
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { PhoneHomeOutcome, PhoneHomeRequest } from '../hosts/registry.js';
import { MAX_MESSAGE_BYTES, parsePhoneHomeLine } from './parse.js';
import { MessageFrame, isCompleteLegacyMessage } from './framing.js';
import { QUIET_SOCKET_ERRORS, endWithReply, replyLine } from './reply.js';

/** What the listener hands a parsed message to (the HostRegistry). */
export interface PhoneHomeHandler {
  /** Resolves to the outcome; rejects only when the store fails. */
  phoneHome(req: PhoneHomeRequest): Promise<PhoneHomeOutcome>;
}

/** What one connection needs from its listener. */
export interface ConnectionContext {
  socket: Socket;
  /** The client's address (IPv4-mapped IPv6 normalized). */
  address: string;
  /** The request id of this connection in logs and in the registry. */
  requestId: string;
  /** Logger bound to the client and request id. */
  log: Logger;
  handler: PhoneHomeHandler;
  /** Time the client has to send its whole message, ms. */
  readTimeoutMs: number;
  /** Counts a connection closed without a stored message. */
  reject(reason: string): void;
  /** Counts a message handed to the handler, by result. */
  handled(result: PhoneHomeOutcome['result']): void;
}

/** The state of one connection; see the module header. */
export class PhoneHomeConnection {
  private done = false;
  /**
   * A message was handed to the handler: later bytes, end-of-stream and the read deadline are
   * ignored until its reply is written. (A client that half-closes right after its newline, as
   * busybox nc does, must not get its message handled twice while the store answers.)
   */
  private answering = false;
  private readTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly frame = new MessageFrame();

  constructor(private readonly c: ConnectionContext) {
    c.socket.on('error', (e: NodeJS.ErrnoException) => {
      if (QUIET_SOCKET_ERRORS.has(e.code ?? '')) c.log.debug({ code: e.code }, 'client went away before the reply');
      else c.log.warn({ err: e }, 'socket error');
    });
  }

  /** Stops the timers: the socket closed. */
  closed(): void {
    clearTimeout(this.lingerTimer);
    clearTimeout(this.readTimer);
  }

  /** Answers `ERR busy` and closes without reading: the connection is over a limit. */
  refuseBusy(): void {
    this.done = true;
    this.lingerTimer = endWithReply(this.c.socket, 'ERR busy\n', 1000);
  }

  /** Reads one message under the read deadline and answers it. */
  serve(): void {
    const { socket, readTimeoutMs } = this.c;
    // A deadline for the whole message, not an idle timeout: a client dripping one byte at a time
    // must not hold the connection longer than readTimeoutMs.
    this.readTimer = setTimeout(() => this.onReadDeadline(), readTimeoutMs);
    this.readTimer.unref();
    socket.on('data', (chunk: Buffer) => {
      if (this.done || this.answering) return;
      const f = this.frame.push(chunk);
      if (f.state === 'complete') this.handle(f.bytes);
      else if (f.state === 'oversized')
        this.refuseInput('oversized', `more than ${MAX_MESSAGE_BYTES} bytes without a newline`, true);
    });
    socket.on('end', () => {
      if (this.done) {
        if (!socket.writableEnded) socket.end();
        return;
      }
      if (this.answering) return; // the reply ends the socket
      if (this.frame.size === 0) {
        this.refuseInput('empty', 'closed without sending anything', false);
        return;
      }
      this.handle(this.frame.bytes());
    });
  }

  private onReadDeadline(): void {
    if (this.done || this.answering) return;
    const size = this.frame.size;
    // A 2008 client piping into classic nc (no -q) sends the bare message, no newline, and never
    // closes: when the bytes so far are a complete legacy message, take them as if it had closed.
    if (size > 0) {
      const bytes = this.frame.bytes();
      if (isCompleteLegacyMessage(bytes)) {
        this.c.log.info({ bytes: size }, 'legacy phone-home without newline or close: handled at the read deadline');
        this.handle(bytes);
        return;
      }
    }
    // Slow (partial message) or idle/half-open (nothing at all): either way, nothing is stored.
    const reason = size > 0 ? 'slow' : 'idle';
    this.refuseInput(reason, `no complete message within ${this.c.readTimeoutMs} ms (${size} bytes received)`, true);
  }

  /** Parses the message, hands it to the handler and replies with the outcome. */
  private handle(bytes: Buffer): void {
    if (this.answering) return;
    this.answering = true;
    clearTimeout(this.readTimer);
    void this.answer(bytes);
  }

  /** {@link handle}'s work: never rejects (a store failure is answered `ERR internal`). */
  private async answer(bytes: Buffer): Promise<void> {
    const { c } = this;
    const parsed = parsePhoneHomeLine(bytes);
    if (!parsed.ok) {
      this.refuseInput(parsed.reason, parsed.detail, true);
      return;
    }
    let outcome: PhoneHomeOutcome;
    try {
      outcome = await c.handler.phoneHome({
        claim: parsed.message,
        address: c.address,
        transport: 'tcp',
        requestId: c.requestId,
        log: c.log,
      });
    } catch (e) {
      c.log.error({ err: e }, 'phone-home could not be handled');
      c.reject('internal');
      this.finish('ERR internal\n');
      return;
    }
    c.handled(outcome.result);
    this.finish(replyLine(outcome));
  }

  private refuseInput(reason: string, detail: string, answer: boolean): void {
    this.c.reject(reason);
    this.c.log.info({ reason, detail }, 'phone-home connection rejected');
    this.finish(answer ? `ERR ${reason}\n` : undefined);
  }

  /** Sends the one reply line and closes; a client that never reads or closes is destroyed after the timeout. */
  private finish(line: string | undefined): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.readTimer);
    this.c.socket.removeAllListeners('data');
    this.lingerTimer = endWithReply(this.c.socket, line, Math.min(this.c.readTimeoutMs, 5000));
  }
}
