/**
 * Prometheus metrics of the TFTP server (names `statelesx_tftp_*`), created once per process
 * through the shared helpers in src/metrics.ts.
 */
import { counter, gauge } from '../../metrics.js';

/** Why a datagram was dropped without an answer (or with only ERROR 5 for a foreign TID). */
export type DropReason =
  | 'truncated'
  | 'oversized'
  | 'malformed'
  | 'unknown-opcode'
  | 'unknown-tid'
  | 'unexpected'
  /** an RRQ beyond `tftp.max-unverified-transfers` (transfers whose client has not ACKed yet) */
  | 'unverified-cap';
/** Why a transfer ended without the last block being acknowledged. */
export type FailReason = 'timeout' | 'client-error' | 'io-error' | 'socket-error' | 'shutdown';

/** The TFTP metric set; see each field's help text. */
export function tftpMetrics() {
  return {
    started: counter('tftp_transfers_started_total', 'TFTP read transfers started (file found, first packet sent)'),
    completed: counter('tftp_transfers_completed_total', 'TFTP transfers whose last block was acknowledged'),
    failed: counter('tftp_transfers_failed_total', 'TFTP transfers that ended early, by reason', ['reason'] as const),
    refused: counter('tftp_requests_refused_total', 'TFTP requests answered with an ERROR packet, by TFTP error code', [
      'code',
    ] as const),
    bytesSent: counter('tftp_bytes_sent_total', 'TFTP DATA payload bytes sent, retransmissions included'),
    retransmitted: counter(
      'tftp_retransmitted_blocks_total',
      'TFTP DATA blocks (and OACKs) sent again after a timeout or a go-back ACK',
    ),
    active: gauge('tftp_active_transfers', 'TFTP transfers in progress'),
    dropped: counter(
      'tftp_dropped_packets_total',
      'TFTP datagrams dropped (malformed, foreign TID, unexpected opcode), by reason',
      ['reason'] as const,
    ),
  };
}

export type TftpMetrics = ReturnType<typeof tftpMetrics>;
