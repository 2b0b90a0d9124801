/**
 * The TFTP server's limits, as plain data. The keys are the config file's `tftp` section
 * (src/config/schema.ts documents each one and its default): the composition root passes that
 * section as it is, tests and the standalone runner build it, and this folder never reads a config file.
 */

/** Caps, timeouts and data-plane choice of `createTftpServer` (server.ts) (times in ms, sizes in bytes). */
export interface TftpLimits {
  /** Concurrent transfers in all; requests beyond are answered ERROR 0 (busy). */
  'max-transfers': number;
  /** Concurrent transfers from one client address. */
  'max-transfers-per-client': number;
  /** Initial retransmission timeout; adapts to the measured round trip. */
  'timeout-ms': number;
  /** Retransmissions of one block (or OACK) before the transfer is given up. */
  retries: number;
  /** Most silence a transfer may hold its slot, whatever timeout the client negotiated (RFC 2349). */
  'max-silence-ms': number;
  /** Most wait for the client's first ACK (of the OACK or of DATA 1). */
  'first-ack-timeout-ms': number;
  /** Transfers whose client has not ACKed yet, all clients; requests beyond are dropped. */
  'max-unverified-transfers': number;
  /** Largest blksize granted (RFC 2348), 512..65464. */
  'max-blksize': number;
  /** Largest windowsize granted (RFC 7440). */
  'max-windowsize': number;
  /** Largest window in bytes (windowsize × blksize); the windowsize granted shrinks to fit. */
  'max-window-bytes': number;
  /** Where DATA phases run: `native` (a thread per transfer; js when the addon is missing) or `js`. */
  'data-plane': 'native' | 'js';
  /** Native data plane: spin this many µs for an ACK before sleeping (0: off). */
  'busy-poll-us': number;
}
