package dev.portcullis.policy;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * An immutable set of network prefixes asked one question: does it hold this address? The trusted
 * proxies of the PROXY protocol step, the sources the penalty box never bans and the relays whose
 * per-source limits count the client they name are each one of these.
 *
 * <pre>{@code
 * CidrSet proxies = CidrSet.of(List.of(Cidr.parse("10.0.0.1/32"), Cidr.parse("2001:db8::/32")));
 * proxies.contains(InetAddress.getByName("10.0.0.1"));          // true
 * proxies.contains(InetAddress.getByName("::ffff:10.0.0.1"));   // true: mapped peers are IPv4
 * }</pre>
 *
 * <p>Lookups take the time of an {@link AccessPolicy} decision (a binary search over the ranges),
 * whatever the number of prefixes; IPv4-mapped IPv6 addresses are looked up as their IPv4 address.
 */
public final class CidrSet {
  private static final CidrSet EMPTY = new CidrSet(List.of());

  private final List<Cidr> ranges;
  private final AccessPolicy lookup; // allow-only; null when empty

  private CidrSet(List<Cidr> ranges) {
    this.ranges = List.copyOf(ranges);
    List<Rule> rules = new ArrayList<>();
    for (Cidr c : this.ranges) {
      rules.add(Rule.allow(c));
    }
    this.lookup = rules.isEmpty() ? null : AccessPolicy.of(rules);
  }

  /**
   * The set of these prefixes.
   *
   * @param ranges the prefixes, in any order; duplicates and overlaps are allowed
   * @return the set; empty if {@code ranges} is
   * @throws NullPointerException if {@code ranges} or one of its elements is null
   */
  public static CidrSet of(Collection<Cidr> ranges) {
    Objects.requireNonNull(ranges, "ranges");
    return ranges.isEmpty() ? EMPTY : new CidrSet(List.copyOf(ranges));
  }

  /**
   * The set that holds nothing.
   *
   * @return the empty set
   */
  public static CidrSet empty() {
    return EMPTY;
  }

  /**
   * The prefixes, as given.
   *
   * @return the prefixes, unmodifiable
   */
  public List<Cidr> ranges() {
    return ranges;
  }

  /**
   * Whether the set holds no prefix.
   *
   * @return true if empty
   */
  public boolean isEmpty() {
    return lookup == null;
  }

  /**
   * Whether a prefix of the set holds an address.
   *
   * @param address an IPv4 or IPv6 address; IPv4-mapped IPv6 addresses are looked up as IPv4
   * @return true if one prefix holds it
   */
  public boolean contains(InetAddress address) {
    Objects.requireNonNull(address, "address");
    return lookup != null && lookup.decide(address).isAllowed();
  }

  /**
   * Whether a prefix of the set holds an address given as its 128 bits ({@link IpAddresses#high},
   * {@link IpAddresses#low}; an IPv4 address mapped into {@code ::ffff:0:0/96}).
   *
   * @param high the high 64 bits
   * @param low the low 64 bits
   * @return true if one prefix holds it
   */
  public boolean contains(long high, long low) {
    return lookup != null && lookup.decideIpv6(high, low).isAllowed();
  }

  /**
   * The prefix of the set that holds all of {@code range}, if any.
   *
   * @param range a prefix
   * @return the first prefix of the set, as given, that holds every address of {@code range}; null if none
   */
  public Cidr covering(Cidr range) {
    for (Cidr c : ranges) {
      if (c.isIpv4() == range.isIpv4() && c.prefixLength() <= range.prefixLength() && c.contains(range.network())) {
        return c;
      }
    }
    return null;
  }

  /**
   * Whether a prefix of the set shares an address with {@code range}.
   *
   * @param range a prefix
   * @return true if they overlap
   */
  public boolean overlaps(Cidr range) {
    for (Cidr c : ranges) {
      if (c.isIpv4() == range.isIpv4() && (c.contains(range.network()) || range.contains(c.network()))) {
        return true;
      }
    }
    return false;
  }

  /**
   * A prefix of the set that holds every address ({@code 0.0.0.0/0} or {@code ::/0}), if any.
   *
   * @return that prefix, or null
   */
  public Cidr everywhere() {
    for (Cidr c : ranges) {
      if (c.prefixLength() == 0) {
        return c;
      }
    }
    return null;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof CidrSet other && ranges.equals(other.ranges);
  }

  @Override
  public int hashCode() {
    return ranges.hashCode();
  }

  @Override
  public String toString() {
    return ranges.toString();
  }
}
