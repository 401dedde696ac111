package dev.portcullis;

import java.time.Instant;

/**
 * What a shadow policy ({@link RunningServer#shadow}) would have done so far: every connection the
 * live policy decided since the shadow was set was decided by the candidate too, and these count
 * the ones where the two disagree.
 *
 * @param since when the shadow was set
 * @param decided decisions made by both policies (at accept, and again when a handshake named
 *     another peer)
 * @param wouldAllow decisions the live policy denied and the candidate would allow
 * @param wouldDeny decisions the live policy allowed and the candidate would deny
 */
public record ShadowStats(Instant since, long decided, long wouldAllow, long wouldDeny) {
  /**
   * Decisions that would flip.
   *
   * @return {@code wouldAllow + wouldDeny}
   */
  public long flips() {
    return wouldAllow + wouldDeny;
  }
}
