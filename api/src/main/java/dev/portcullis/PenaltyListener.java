package dev.portcullis;

import dev.portcullis.policy.Cidr;

/**
 * Told of every ban the penalty box makes or is given, and of every ban lifted, whatever the
 * cause: offences (failed handshakes, rate-limit refusals, {@link RunningServer#reportOffence}),
 * external bans ({@link RunningServer#ban}), expiry, {@link RunningServer#lift} and {@link
 * RunningServer#liftPenalty}. What a CrowdSec watcher, an audit log or a kernel guard of another
 * socket follows.
 *
 * <pre>{@code
 * server.addPenaltyListener(new PenaltyListener() {
 *   public void banned(Penalty p, String reason, boolean external) {
 *     if (!external) {
 *       audit.record("banned " + p.source() + " until " + p.until() + ": " + reason);
 *     }
 *   }
 *
 *   public void lifted(Cidr range, String reason) {
 *     audit.record("lifted " + range + ": " + reason);
 *   }
 * });
 * }</pre>
 *
 * <p>Calls come in the order the bans and lifts happened, one at a time, on a daemon thread of the
 * penalty box's own ({@code portcullis-penalty-events}): never on an event loop, never while a
 * lock of the penalty box is held, so a listener may block briefly or call back into the server
 * ({@link RunningServer#penalties}, {@link RunningServer#ban}). An exception it throws is logged
 * and ignored. At most {@code 10,000} events wait for a slow listener; past that, new events are
 * dropped, counted and said in a WARN (the bans themselves are in force all the same).
 */
public interface PenaltyListener {
  /**
   * A ban began, or an external ban was given again (replacing the earlier one of that range).
   *
   * @param penalty the ban, with its range, end and reason
   * @param reason why (the same as {@link Penalty#reason()})
   * @param external true for a ban given with {@link RunningServer#ban} (for example from
   *     CrowdSec), false for one the penalty box made from offences (handshake failures, rate-limit
   *     offences, {@link RunningServer#reportOffence})
   */
  void banned(Penalty penalty, String reason, boolean external);

  /**
   * A ban ended: it expired ({@code "the ban ended"}), was lifted ({@link RunningServer#lift} with
   * its reason, {@link RunningServer#liftPenalty}), or was dropped to make room in a full penalty
   * box.
   *
   * @param range the range, or source, whose ban ended
   * @param reason why it ended
   */
  default void lifted(Cidr range, String reason) {}
}
