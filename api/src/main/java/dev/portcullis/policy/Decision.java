package dev.portcullis.policy;

import java.util.Optional;

/**
 * What an {@link AccessPolicy} decided for one peer, and why: the rule that matched, or the
 * policy's default when none did. Decisions are made once per policy and shared, so deciding
 * allocates nothing.
 */
public final class Decision {
  private final boolean allowed;
  private final Rule rule;
  private final CredentialRule credentialRule;
  private int slot = -1;

  Decision(boolean allowed, Rule rule) {
    this.allowed = allowed;
    this.rule = rule;
    this.credentialRule = null;
  }

  Decision(boolean allowed, CredentialRule rule) {
    this.allowed = allowed;
    this.rule = null;
    this.credentialRule = rule;
  }

  Decision slot(int s) {
    this.slot = s;
    return this;
  }

  /**
   * A dense number for this decision within the policy that made it, {@code 0 ..
   * policy.decisionSlots() - 1}: each rule's decision and each default has its own, so a server
   * can count hits per rule in an array without allocating. {@link AccessPolicy#slotName} names it.
   *
   * @return the slot
   */
  public int slot() {
    return slot;
  }

  /**
   * Whether the peer may connect.
   *
   * @return {@code true} if the peer is allowed
   */
  public boolean isAllowed() {
    return allowed;
  }

  /**
   * The address rule that matched, or empty when the policy's default or a credential rule decided.
   *
   * @return the matching address rule, or empty
   */
  public Optional<Rule> rule() {
    return Optional.ofNullable(rule);
  }

  /**
   * The credential rule that matched a Unix domain socket peer, or empty.
   *
   * @return the matching credential rule, or empty
   */
  public Optional<CredentialRule> credentialRule() {
    return Optional.ofNullable(credentialRule);
  }

  /**
   * Whether no rule matched and the policy's default decided.
   *
   * @return {@code true} for the default decision
   */
  public boolean isDefault() {
    return rule == null && credentialRule == null;
  }

  /**
   * The matching rule in canonical form ({@code allow 10.0.0.0/8}), or {@code default}.
   *
   * @return the reason, never null
   */
  public String reason() {
    return rule != null ? rule.toString() : credentialRule != null ? credentialRule.toString() : "default";
  }

  /** {@code allow (allow 10.0.0.0/8)} or {@code deny (default)}. */
  @Override
  public String toString() {
    return (allowed ? "allow" : "deny") + " (" + reason() + ")";
  }
}
