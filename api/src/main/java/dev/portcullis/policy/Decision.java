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

  Decision(boolean allowed, Rule rule) {
    this.allowed = allowed;
    this.rule = rule;
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
   * The rule that matched, or empty when the policy's default decided.
   *
   * @return the matching rule, or empty
   */
  public Optional<Rule> rule() {
    return Optional.ofNullable(rule);
  }

  /**
   * Whether no rule matched and the policy's default decided.
   *
   * @return {@code true} for the default decision
   */
  public boolean isDefault() {
    return rule == null;
  }

  /**
   * The matching rule in canonical form ({@code allow 10.0.0.0/8}), or {@code default}.
   *
   * @return the reason, never null
   */
  public String reason() {
    return rule == null ? "default" : rule.toString();
  }

  /** {@code allow (allow 10.0.0.0/8)} or {@code deny (default)}. */
  @Override
  public String toString() {
    return (allowed ? "allow" : "deny") + " (" + reason() + ")";
  }
}
