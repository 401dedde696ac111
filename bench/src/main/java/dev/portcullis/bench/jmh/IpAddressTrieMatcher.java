package dev.portcullis.bench.jmh;

import inet.ipaddr.IPAddress;
import inet.ipaddr.IPAddressString;
import inet.ipaddr.format.util.AssociativeAddressTrie.AssociativeTrieNode;
import inet.ipaddr.ipv4.IPv4Address;
import inet.ipaddr.ipv4.IPv4AddressAssociativeTrie;
import inet.ipaddr.ipv6.IPv6Address;
import inet.ipaddr.ipv6.IPv6AddressAssociativeTrie;

/**
 * Longest-prefix policy lookup on the IPAddress library's associative tries: each rule's prefix
 * block maps to its action ({@code true} = allow), a prefix written both ways maps to deny, and a
 * lookup is {@code longestPrefixMatchNode}. This gives the same semantics as Portcullis, so the two
 * are compared like for like.
 */
final class IpAddressTrieMatcher {
  private final IPv4AddressAssociativeTrie<Boolean> ipv4 = new IPv4AddressAssociativeTrie<>();
  private final IPv6AddressAssociativeTrie<Boolean> ipv6 = new IPv6AddressAssociativeTrie<>();
  private boolean anyAllow;
  private boolean defaultAllow;

  private IpAddressTrieMatcher() {}

  /** The tries for {@code rules}, from their raw network addresses. */
  static IpAddressTrieMatcher of(NestedRuleSet rules) {
    IpAddressTrieMatcher m = new IpAddressTrieMatcher();
    for (int i = 0; i < rules.size(); i++) {
      IPAddress block;
      if (rules.family() == 4) {
        block = new IPv4Address((int) rules.networkLo(i), rules.prefixLength(i));
      } else {
        block = new IPv6Address(rules.networkHi(i), rules.networkLo(i), rules.prefixLength(i));
      }
      m.add(block, rules.isAllow(i));
    }
    return m;
  }

  /** The tries built from CIDR text; the library parses the text. */
  static IpAddressTrieMatcher parse(String[] cidrs, boolean[] allow) {
    IpAddressTrieMatcher m = new IpAddressTrieMatcher();
    for (int i = 0; i < cidrs.length; i++) {
      m.add(new IPAddressString(cidrs[i]).getAddress(), allow[i]);
    }
    return m;
  }

  private void add(IPAddress address, boolean allow) {
    IPAddress block = address.toPrefixBlock();
    Boolean value = allow;
    if (block instanceof IPv4Address) {
      ipv4.remap((IPv4Address) block, old -> old == null ? value : old && value);
    } else {
      ipv6.remap((IPv6Address) block, old -> old == null ? value : old && value);
    }
    anyAllow |= allow;
    defaultAllow = !anyAllow; // with at least one rule: a block list allows the unmatched
  }

  /** Whether an IPv4 peer may connect. */
  boolean acceptsIpv4(IPv4Address peer) {
    AssociativeTrieNode<IPv4Address, Boolean> node = ipv4.longestPrefixMatchNode(peer);
    return node == null ? defaultAllow : node.getValue();
  }

  /** Whether an IPv6 peer may connect. */
  boolean acceptsIpv6(IPv6Address peer) {
    AssociativeTrieNode<IPv6Address, Boolean> node = ipv6.longestPrefixMatchNode(peer);
    return node == null ? defaultAllow : node.getValue();
  }
}
