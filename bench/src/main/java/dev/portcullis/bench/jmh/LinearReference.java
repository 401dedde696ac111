package dev.portcullis.bench.jmh;

/**
 * The access-policy semantics (the AccessPolicy Javadoc and the site's policy page), written as plainly as possible so that it can be
 * trusted: scan every rule, the longest matching prefix wins, deny wins a tie, and a peer no rule
 * matches is denied when any rule allows. Linear in the rule count; for checking, never for
 * serving.
 */
final class LinearReference {
  private final NestedRuleSet rules;
  private final boolean defaultAllow;

  LinearReference(NestedRuleSet rules) {
    this.rules = rules;
    this.defaultAllow = !rules.hasAllow();
  }

  /** The index of the deciding rule for address {@code (hi, lo)}, or -1 when no rule matches. */
  int decidingRule(long hi, long lo) {
    int best = -1;
    for (int i = 0; i < rules.size(); i++) {
      if (!rules.contains(i, hi, lo)) {
        continue;
      }
      if (best < 0 || rules.prefixLength(i) > rules.prefixLength(best)
          || (rules.prefixLength(i) == rules.prefixLength(best) && !rules.isAllow(i))) {
        best = i;
      }
    }
    return best;
  }

  /** Whether address {@code (hi, lo)} may connect. */
  boolean allows(long hi, long lo) {
    int r = decidingRule(hi, lo);
    return r < 0 ? defaultAllow : rules.isAllow(r);
  }

  /** Why: the deciding rule in policy text, or {@code default}. */
  String reason(long hi, long lo) {
    int r = decidingRule(hi, lo);
    return r < 0 ? "default" : rules.ruleText(r);
  }
}
