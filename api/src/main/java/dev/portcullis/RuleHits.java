package dev.portcullis;

import dev.portcullis.policy.AccessPolicy;

/**
 * How often each decision of one access policy was made while it was in force: a live view of the
 * server's own counters, for a reader that polls often and must not copy every rule's count each
 * time (a metrics scrape). {@link #hits} is one array read; {@link RunningServer#ruleHits()}, by
 * contrast, builds a map of every rule.
 *
 * <pre>{@code
 * RuleHits hits = server.currentRuleHits();
 * AccessPolicy policy = hits.policy();
 * for (int slot = 0; slot < policy.decisionSlots(); slot++) {
 *     System.out.println(policy.slotName(slot) + " decided " + hits.hits(slot) + " times");
 * }
 * }</pre>
 *
 * <p>A view belongs to one policy. After {@link RunningServer#updatePolicy} (or {@link
 * RunningServer#promote}) the server counts into a new view, and this one stops moving (give or
 * take a decision the old policy was making at that moment). {@link RunningServer#currentRuleHits()}
 * returns the same object for as long as its policy is in force, so comparing the two with {@code
 * ==} says whether the policy was replaced; {@link RunningServer#addPolicyListener} says when.
 */
public interface RuleHits {
  /**
   * The policy these counts are for.
   *
   * @return the policy, never null
   */
  AccessPolicy policy();

  /**
   * How often the decision in {@code slot} was made since {@link #policy()} was put in force: a
   * rule's or a default's (see {@link AccessPolicy#slotName}, {@link
   * dev.portcullis.policy.Decision#slot()}). Reads the live counter; allocates nothing.
   *
   * @param slot {@code 0 .. policy().decisionSlots() - 1}
   * @return the count so far
   * @throws IndexOutOfBoundsException for another number
   */
  long hits(int slot);
}
