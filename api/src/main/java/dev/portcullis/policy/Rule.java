package dev.portcullis.policy;

import java.util.Objects;

/**
 * One access rule: {@code allow} or {@code deny} a {@link Cidr}. Immutable; {@link #toString()}
 * gives the policy-text form ({@code allow 10.0.0.0/8}) that {@link #parse} reads back.
 */
public final class Rule {
  /** What a rule does to the peers it matches. */
  public enum Action {
    /** Matching peers may connect. */
    ALLOW,
    /** Matching peers are refused. */
    DENY;

    /**
     * The lower-case keyword used in policy text: {@code allow} or {@code deny}.
     *
     * @return the keyword
     */
    public String keyword() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  private final Action action;
  private final Cidr cidr;

  private Rule(Action action, Cidr cidr) {
    this.action = Objects.requireNonNull(action, "action");
    this.cidr = Objects.requireNonNull(cidr, "cidr");
  }

  /**
   * A rule that allows {@code cidr}.
   *
   * @param cidr the prefix to allow
   * @return the rule
   * @throws NullPointerException if {@code cidr} is null
   */
  public static Rule allow(Cidr cidr) {
    return new Rule(Action.ALLOW, cidr);
  }

  /**
   * A rule that denies {@code cidr}.
   *
   * @param cidr the prefix to deny
   * @return the rule
   * @throws NullPointerException if {@code cidr} is null
   */
  public static Rule deny(Cidr cidr) {
    return new Rule(Action.DENY, cidr);
  }

  /**
   * Parses one rule in policy-text form, {@code allow 10.0.0.0/8} or {@code deny ::1}; words are
   * separated by spaces or tabs.
   *
   * @param text one rule, such as {@code allow 10.0.0.0/8}; leading and trailing blanks are ignored
   * @return the rule
   * @throws IllegalArgumentException naming the text and what is wrong
   */
  public static Rule parse(String text) {
    Objects.requireNonNull(text, "text");
    String[] words = text.strip().split("[ \t]+");
    if (words.length != 2) {
      throw new IllegalArgumentException("'" + text + "' is not a rule: expected 'allow CIDR' or 'deny CIDR'"
          + " (or, for Unix domain socket peers, 'allow uid|gid|user|group X')");
    }
    Action action;
    switch (words[0]) {
      case "allow" -> action = Action.ALLOW;
      case "deny" -> action = Action.DENY;
      default -> throw new IllegalArgumentException("'" + text + "' starts with '" + words[0]
          + "'; a rule starts with 'allow' or 'deny'");
    }
    return new Rule(action, Cidr.parse(words[1]));
  }

  /**
   * Whether the rule allows or denies.
   *
   * @return the action, never null
   */
  public Action action() {
    return action;
  }

  /**
   * The prefix the rule matches.
   *
   * @return the prefix, never null
   */
  public Cidr cidr() {
    return cidr;
  }

  /**
   * Whether this is an {@code allow} rule.
   *
   * @return {@code true} for {@code allow}, {@code false} for {@code deny}
   */
  public boolean isAllow() {
    return action == Action.ALLOW;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Rule r && r.action == action && r.cidr.equals(cidr);
  }

  @Override
  public int hashCode() {
    return 31 * action.hashCode() + cidr.hashCode();
  }

  /** {@code allow 10.0.0.0/8}, the form policy text uses. */
  @Override
  public String toString() {
    return action.keyword() + " " + cidr;
  }
}
