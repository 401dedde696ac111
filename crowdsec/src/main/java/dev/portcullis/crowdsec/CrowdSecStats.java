package dev.portcullis.crowdsec;

import java.util.Map;

/**
 * A snapshot of a {@link Bouncer}'s counters.
 *
 * @param polls answers of the Local API read and applied
 * @param failures polls that failed (unreachable, an HTTP error, a malformed or oversized answer);
 *     the decisions already in force stay
 * @param decisionsInForce the decisions held now (each enforced as a ban until it ends or is deleted)
 * @param ignored decisions not enforced, by {@code type/scope} ({@code captcha/Ip}, {@code
 *     ban/Country}), and {@code invalid} for a value that is no address or range; at most
 *     {@value Bouncer#MAX_IGNORED_KINDS} kinds apart, the rest as {@code other/other}
 * @param dropped decisions not taken because {@link Bouncer.Builder#maxDecisions} were held
 * @param refused bans the server refused (its penalty box full, or no penalty box)
 * @param failing whether the last poll failed
 */
public record CrowdSecStats(long polls, long failures, int decisionsInForce, Map<String, Long> ignored,
    long dropped, long refused, boolean failing) {
  /** Copies the map. */
  public CrowdSecStats {
    ignored = Map.copyOf(ignored);
  }
}
