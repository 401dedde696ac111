package dev.portcullis.crowdsec;

import dev.portcullis.policy.Cidr;
import java.time.Duration;

/**
 * Where a {@link Bouncer} puts the bans it reads: a running server's penalty box, or an admission
 * chain an adapter or a kernel guard runs. Both calls come from the bouncer's own thread, never
 * from the accept path.
 */
public interface BanTarget {
  /**
   * Bans {@code range} for {@code duration}, replacing an earlier ban of the same range given here.
   *
   * @param range the address or range
   * @param duration how long, positive
   * @param reason why, for the server's log and its list of bans ({@code crowdsec: SCENARIO})
   * @throws RuntimeException if the target refuses (no penalty box, or it is full); the bouncer
   *     counts it
   */
  void ban(Cidr range, Duration duration, String reason);

  /**
   * Lifts the ban of exactly {@code range}.
   *
   * @param range the address or range
   * @param reason why
   * @return whether there was one
   */
  boolean lift(Cidr range, String reason);
}
