package dev.portcullis.bench.jmh;

import io.netty.handler.ipfilter.IpFilterRuleType;
import io.netty.handler.ipfilter.IpSubnetFilter;
import io.netty.handler.ipfilter.IpSubnetFilterRule;
import java.lang.reflect.Field;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * Netty's {@link IpSubnetFilter} with its decision opened for direct calls.
 *
 * <p>In Netty 4.1.118 the filter's constructor sorts each family's rules by network address and
 * keeps a rule only if its network address is not inside the rule kept before it; {@code
 * accept(ctx, address)} then binary-searches the kept rules and never touches {@code ctx}. Calling
 * it with a null context measures exactly the work the filter does per connection, without a
 * channel. The dropping step is why Netty disagrees with longest-prefix semantics on nested rules:
 * with {@code allow 10.0.0.0/8} and {@code deny 10.66.0.0/16} the deny is discarded at
 * construction.
 */
final class NettySubnetMatcher extends IpSubnetFilter {

  /**
   * @param acceptIfNotFound the decision for a peer no rule matches
   * @param rules the rules; copied, because Netty sorts the list it is given in place
   */
  NettySubnetMatcher(boolean acceptIfNotFound, List<IpSubnetFilterRule> rules) {
    super(acceptIfNotFound, new ArrayList<>(rules));
  }

  /**
   * The filter for {@code rules}, with Portcullis' default (deny unmatched peers when any rule
   * allows) so that the two differ only in how they treat overlapping rules.
   */
  static NettySubnetMatcher of(NestedRuleSet rules) {
    List<IpSubnetFilterRule> list = new ArrayList<>(rules.size());
    for (int i = 0; i < rules.size(); i++) {
      list.add(new IpSubnetFilterRule(rules.network(i), rules.prefixLength(i), type(rules.isAllow(i))));
    }
    return new NettySubnetMatcher(!rules.hasAllow(), list);
  }

  /** The filter built from CIDR text, as a user would write it; Netty parses the text. */
  static NettySubnetMatcher parse(String[] cidrs, boolean[] allow) {
    List<IpSubnetFilterRule> list = new ArrayList<>(cidrs.length);
    boolean anyAllow = false;
    for (int i = 0; i < cidrs.length; i++) {
      list.add(new IpSubnetFilterRule(cidrs[i], type(allow[i])));
      anyAllow |= allow[i];
    }
    return new NettySubnetMatcher(!anyAllow, list);
  }

  private static IpFilterRuleType type(boolean allow) {
    return allow ? IpFilterRuleType.ACCEPT : IpFilterRuleType.REJECT;
  }

  /** Whether the filter lets {@code peer} connect. */
  boolean accepts(InetSocketAddress peer) {
    return accept(null, peer);
  }

  /**
   * How many rules of each family the filter kept after dropping nested ones, {@code {ipv4,
   * ipv6}}; read by reflection, for reports only.
   */
  int[] retainedRules() {
    return new int[] {length("ipv4Rules"), length("ipv6Rules")};
  }

  private int length(String field) {
    try {
      Field f = IpSubnetFilter.class.getDeclaredField(field);
      f.setAccessible(true);
      Object[] rules = (Object[]) f.get(this);
      return rules == null ? 0 : rules.length;
    } catch (ReflectiveOperationException | RuntimeException e) {
      return -1; // a later Netty may name the field differently; the count is informative only
    }
  }
}
