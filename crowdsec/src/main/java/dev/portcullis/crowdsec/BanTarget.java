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

  /**
   * A running server's penalty box ({@link dev.portcullis.RunningServer#ban}, {@link
   * dev.portcullis.RunningServer#lift}); bans reach its kernel filter too, where one is attached.
   *
   * @param server the server, started with {@code penalties(...)}
   * @return the target
   */
  static BanTarget of(dev.portcullis.RunningServer server) {
    java.util.Objects.requireNonNull(server, "server");
    return new BanTarget() {
      @Override
      public void ban(Cidr range, Duration duration, String reason) {
        server.ban(range, duration, reason);
      }

      @Override
      public boolean lift(Cidr range, String reason) {
        return server.lift(range, reason);
      }
    };
  }

  /**
   * The penalty box of an admission chain an adapter (Netty, Jetty) or a kernel guard runs.
   *
   * @param chain the chain, built with {@code penalties(...)}
   * @return the target
   */
  static BanTarget of(dev.portcullis.admission.AdmissionChain chain) {
    java.util.Objects.requireNonNull(chain, "chain");
    return new BanTarget() {
      @Override
      public void ban(Cidr range, Duration duration, String reason) {
        chain.ban(range, duration, reason);
      }

      @Override
      public boolean lift(Cidr range, String reason) {
        return chain.lift(range, reason);
      }
    };
  }
}
