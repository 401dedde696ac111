package dev.portcullis.admission;

/**
 * Why a gate of an {@link AdmissionChain} turned a connection away, or {@link #NONE} when none
 * did. A constant, so deciding and returning it allocates nothing.
 */
public enum Refusal {
  /** Admitted: no gate refused. */
  NONE,
  /** The address policy denied the peer (at accept, or after the handshake for the client a proxy named). */
  DENIED,
  /** The peer's source is serving a ban of the penalty box. */
  BANNED,
  /** The limit on open connections in all was reached. */
  TOTAL_LIMITED,
  /** The limit on open connections per source was reached. */
  SOURCE_LIMITED,
  /** The source's rate limit (its token bucket) was empty. */
  RATE_LIMITED,
  /** The cap on connections in their handshake was reached, and none was old enough to give way. */
  HANDSHAKES_LIMITED;

  /**
   * Whether a gate refused.
   *
   * @return {@code false} for {@link #NONE} only
   */
  public boolean refused() {
    return this != NONE;
  }

  /** Whether this is a refusal by the limits gate (counted in {@code ServerStats.limited}). */
  boolean byLimits() {
    return this == TOTAL_LIMITED || this == SOURCE_LIMITED || this == RATE_LIMITED || this == HANDSHAKES_LIMITED;
  }

  /** {@code total}, {@code per-source}, {@code rate}: how a refusal line names a limit. */
  String label() {
    switch (this) {
      case TOTAL_LIMITED:
        return "total";
      case SOURCE_LIMITED:
        return "per-source";
      case RATE_LIMITED:
        return "rate";
      case HANDSHAKES_LIMITED:
        return "pending-handshakes";
      default:
        return name().toLowerCase(java.util.Locale.ROOT);
    }
  }
}
