/**
 * The JS data plane's retransmission timeout (RFC 6298 §2 shape, in ms): smoothed RTT and its
 * variance from ACKs of windows that were not retransmitted (Karn's rule is the caller's), RTO =
 * srtt + max(1, 4·rttvar) within [minRto, maxRto], doubled on each timeout and back to the
 * RTT-based value on progress after a resend. The native data plane computes the same in C.
 */

/** Retransmission timeout estimator of one transfer. */
export class RtoEstimator {
  /** The current RTO, ms. */
  rto: number;
  private srtt = -1;
  private rttvar = 0;

  /**
   * @param initialMs RTO before the first sample (negotiated timeout or config `timeout-ms`)
   * @param minMs floor of the RTO
   * @param maxMs ceiling of the RTO (backoff included)
   */
  constructor(
    initialMs: number,
    private readonly minMs: number,
    private readonly maxMs: number,
  ) {
    this.rto = initialMs;
  }

  /** One round-trip sample, ms (an ACK of a window sent once). */
  sample(ms: number): void {
    if (this.srtt < 0) {
      this.srtt = ms;
      this.rttvar = ms / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms);
      this.srtt = 0.875 * this.srtt + 0.125 * ms;
    }
    this.reset();
  }

  /**
   * Progress after a resend: drop the exponential backoff and return to the RTT-based RTO (a
   * client that stalls once should not slow the rest of the transfer to the backed-off timer).
   * No-op before the first sample.
   */
  reset(): void {
    if (this.srtt < 0) return;
    const rto = Math.ceil(this.srtt + Math.max(1, 4 * this.rttvar));
    this.rto = Math.min(this.maxMs, Math.max(this.minMs, rto));
  }

  /** A timeout: doubles the RTO, up to the ceiling. */
  backoff(): void {
    this.rto = Math.min(this.maxMs, this.rto * 2);
  }
}
