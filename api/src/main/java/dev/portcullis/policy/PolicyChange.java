package dev.portcullis.policy;

import java.math.BigInteger;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.TreeSet;

/**
 * A range of addresses whose decision changes from one policy to another, as {@link
 * AccessPolicy#changesTo} computes it: exact, from the two rule sets, for IPv4 and IPv6.
 *
 * @param first the range's first address
 * @param last the range's last address (the same family)
 * @param before the old policy's decision for every address of the range
 * @param after the new policy's decision for every address of the range
 */
public record PolicyChange(InetAddress first, InetAddress last, Decision before, Decision after) {
  private static final BigInteger V4_MAX = BigInteger.ONE.shiftLeft(32).subtract(BigInteger.ONE);
  private static final BigInteger V6_MAX = BigInteger.ONE.shiftLeft(128).subtract(BigInteger.ONE);

  /**
   * Checks the range.
   *
   * @param first the first address
   * @param last the last address
   * @param before the old decision
   * @param after the new decision
   */
  public PolicyChange {
    Objects.requireNonNull(first, "first");
    Objects.requireNonNull(last, "last");
    Objects.requireNonNull(before, "before");
    Objects.requireNonNull(after, "after");
    if (first.getAddress().length != last.getAddress().length) {
      throw new IllegalArgumentException("a range is one family: " + first + " .. " + last);
    }
  }

  /**
   * Whether an allowed range becomes denied (else a denied one becomes allowed).
   *
   * @return {@code true} for allow to deny
   */
  public boolean tightens() {
    return before.isAllowed() && !after.isAllowed();
  }

  /**
   * The range as the fewest CIDR blocks that cover exactly it.
   *
   * @return the blocks, in address order
   */
  public List<Cidr> cidrs() {
    return Cidr.covering(first, last);
  }

  /** The fewest CIDR blocks that cover exactly {@code lo..hi} of a {@code bits}-bit family. */
  static List<Cidr> cover(BigInteger lo, BigInteger hi, int bits) {
    List<Cidr> out = new ArrayList<>();
    while (lo.compareTo(hi) <= 0) {
      int size = lo.signum() == 0 ? bits : Math.min(bits, lo.getLowestSetBit()); // alignment of lo
      while (size > 0 && lo.add(BigInteger.ONE.shiftLeft(size)).subtract(BigInteger.ONE).compareTo(hi) > 0) {
        size--;
      }
      out.add(Cidr.of(address(lo, bits), bits - size));
      lo = lo.add(BigInteger.ONE.shiftLeft(size));
    }
    return out;
  }

  @Override
  public String toString() {
    List<Cidr> blocks = cidrs();
    String range = blocks.size() == 1 ? blocks.get(0).toString()
        : IpAddresses.format(first) + "-" + IpAddresses.format(last) + " " + blocks;
    return range + " " + word(before) + " -> " + word(after) + " (was '" + before.reason() + "', now '" + after.reason()
        + "')";
  }

  private static String word(Decision d) {
    return d.isAllowed() ? "allow" : "deny";
  }

  /** The ranges whose allow-or-deny differs between {@code a} and {@code b}, IPv4 first, merged. */
  static List<PolicyChange> between(AccessPolicy a, AccessPolicy b) {
    List<PolicyChange> out = new ArrayList<>();
    for (int family : new int[] {4, 6}) {
      int bits = family == 4 ? 32 : 128;
      BigInteger max = family == 4 ? V4_MAX : V6_MAX;
      TreeSet<BigInteger> starts = new TreeSet<>();
      starts.add(BigInteger.ZERO);
      for (AccessPolicy p : List.of(a, b)) {
        for (Rule r : p.rules()) {
          Cidr c = r.cidr();
          if (c.family() != family) {
            continue;
          }
          BigInteger start = new BigInteger(1, c.network().getAddress());
          BigInteger end = start.add(BigInteger.ONE.shiftLeft(bits - c.prefixLength()));
          starts.add(start);
          if (end.compareTo(max) <= 0) {
            starts.add(end);
          }
        }
      }
      if (family == 6) {
        // ::ffff:0:0/96 is decided as IPv4 by both policies; its own boundaries keep it apart.
        BigInteger mapped = BigInteger.valueOf(0xFFFF).shiftLeft(32);
        starts.add(mapped);
        starts.add(mapped.add(BigInteger.ONE.shiftLeft(32)));
      }
      BigInteger[] points = starts.toArray(new BigInteger[0]);
      BigInteger runFirst = null;
      BigInteger runLast = null;
      Decision runBefore = null;
      Decision runAfter = null;
      for (int i = 0; i < points.length; i++) {
        BigInteger lo = points[i];
        BigInteger hi = i + 1 < points.length ? points[i + 1].subtract(BigInteger.ONE) : max;
        InetAddress at = address(lo, bits);
        boolean mappedRange = family == 6 && at instanceof java.net.Inet4Address; // reported as IPv4 already
        Decision before = mappedRange ? null : a.decide(at);
        Decision after = mappedRange ? null : b.decide(at);
        boolean differs = !mappedRange && before.isAllowed() != after.isAllowed();
        boolean continues = differs && runFirst != null && runLast.add(BigInteger.ONE).equals(lo)
            && runBefore.reason().equals(before.reason()) && runAfter.reason().equals(after.reason());
        if (continues) {
          runLast = hi;
          continue;
        }
        if (runFirst != null) {
          out.add(new PolicyChange(address(runFirst, bits), address(runLast, bits), runBefore, runAfter));
          runFirst = null;
        }
        if (differs) {
          runFirst = lo;
          runLast = hi;
          runBefore = before;
          runAfter = after;
        }
      }
      if (runFirst != null) {
        out.add(new PolicyChange(address(runFirst, bits), address(runLast, bits), runBefore, runAfter));
      }
    }
    return out;
  }

  /** The address whose {@code bits}-bit value this is. */
  static InetAddress address(BigInteger value, int bits) {
    byte[] raw = value.toByteArray();
    byte[] b = new byte[bits / 8];
    int n = Math.min(raw.length, b.length);
    System.arraycopy(raw, raw.length - n, b, b.length - n, n);
    try {
      return InetAddress.getByAddress(b);
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e);
    }
  }
}
