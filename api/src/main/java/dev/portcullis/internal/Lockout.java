package dev.portcullis.internal;

import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.policy.Rule;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Whether a policy would deny every peer a server bound to an address can ever see: the family of
 * the bound address decides whose peers arrive (IPv4 from an IPv4 address, IPv6 from an IPv6 one,
 * both from the dual-stack {@code ::}, whose IPv4 peers are decided as IPv4), and the policy must
 * allow some address of one of them. A rule that denies a whole served family ({@code deny
 * 0.0.0.0/0}, {@code deny ::/0}) shuts everyone out on purpose and is let through. Unix domain
 * sockets are decided by credentials and are not looked at here.
 */
final class Lockout {
  /** Rules a message quotes before it says how many more there are. */
  private static final int QUOTED = 3;

  private Lockout() {}

  /**
   * Why {@code policy} would deny every peer of a server bound to {@code bound}, or null if it
   * would not: {@code The policy allows only IPv6 (allow ::1), but 127.0.0.1:7000 is IPv4 and sees
   * only IPv4 peers, so it would deny every peer}.
   */
  static String reason(AccessPolicy policy, SocketAddress bound) {
    if (!(bound instanceof InetSocketAddress ip) || ip.getAddress() == null || policy.rules().isEmpty()) {
      return null; // a Unix socket, or no address rule at all: refused elsewhere, with its own words
    }
    boolean v4 = ip.getAddress() instanceof Inet4Address; // an IPv4-mapped bind address is one too
    boolean dual = !v4 && ip.getAddress().isAnyLocalAddress();
    boolean serves4 = v4 || dual;
    boolean serves6 = !v4;
    if ((serves4 && policy.allowsAnyIpv4()) || (serves6 && policy.allowsAnyIpv6())) {
      return null;
    }
    for (Rule r : policy.rules()) {
      boolean family4 = r.cidr().isIpv4();
      if (!r.isAllow() && r.cidr().prefixLength() == 0 && (family4 ? serves4 : serves6)) {
        return null; // deny 0.0.0.0/0 or deny ::/0: everyone out, on purpose
      }
    }
    String where = IpAddresses.format(ip);
    String sees = dual ? where + " sees IPv4 and IPv6 peers"
        : where + " is " + (v4 ? "IPv4" : "IPv6") + " and sees only " + (v4 ? "IPv4" : "IPv6") + " peers";
    List<Rule> servedAllows = policy.rules().stream()
        .filter(r -> r.isAllow() && (r.cidr().isIpv4() ? serves4 : serves6)).collect(Collectors.toList());
    List<Rule> otherAllows = policy.rules().stream()
        .filter(r -> r.isAllow() && !(r.cidr().isIpv4() ? serves4 : serves6)).collect(Collectors.toList());
    String what;
    if (servedAllows.isEmpty() && !otherAllows.isEmpty()) {
      what = "The policy allows only " + (v4 ? "IPv6" : "IPv4") + " (" + quote(otherAllows) + "), but " + sees;
    } else if (!servedAllows.isEmpty()) {
      what = "Every allow rule of the policy for " + where + "'s peers (" + quote(servedAllows) + ") is overridden by"
          + " a deny rule at least as specific, and " + sees;
    } else {
      List<Rule> denies = policy.rules().stream().filter(r -> !r.isAllow()).collect(Collectors.toList());
      what = "The policy's deny rules (" + quote(denies) + ") cover every address " + where + " can see";
    }
    return what + ", so it would deny every peer (to shut everyone out on purpose, say deny "
        + (serves4 ? "0.0.0.0/0" : "::/0") + ")";
  }

  /** {@code allow ::1, allow 2001:db8::/32 and 4 more}. */
  private static String quote(List<Rule> rules) {
    String shown = rules.stream().limit(QUOTED).map(Rule::toString).collect(Collectors.joining(", "));
    return rules.size() > QUOTED ? shown + " and " + (rules.size() - QUOTED) + " more" : shown;
  }
}
