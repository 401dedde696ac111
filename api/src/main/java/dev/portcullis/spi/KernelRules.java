package dev.portcullis.spi;

import dev.portcullis.policy.Cidr;
import java.util.List;
import java.util.Objects;

/**
 * What a kernel-side filter is asked to hold, in a form any transport can compile without knowing
 * the policy that made it: the address blocks with their decision, the decision for an address no
 * block covers, and a way to decide one address as the server would (the longest matching block
 * wins; at equal length a deny wins). A transport uses the blocks to find where decisions change
 * and {@link #allows} to decide each piece, so its filter never drops a peer the server admits.
 *
 * <pre>{@code
 * KernelRules rules = KernelRules.of(AccessPolicy.parse("allow 10.0.0.0/8"));
 * rules.blocks();          // [allow 10.0.0.0/8]
 * rules.defaultAllow();    // false
 * rules.allowsIpv4(0x0A000001); // true: 10.0.0.1
 * }</pre>
 */
public final class KernelRules {
  /**
   * One block and its decision.
   *
   * @param cidr the block
   * @param allow whether its addresses are let in
   */
  public record Block(Cidr cidr, boolean allow) {
    /**
     * Checks the value.
     *
     * @param cidr not null
     * @param allow the decision
     */
    public Block {
      Objects.requireNonNull(cidr, "cidr");
    }

    /**
     * The block as a policy line: {@code allow 10.0.0.0/8}, {@code deny ::/0}.
     *
     * @return the text
     */
    @Override
    public String toString() {
      return (allow ? "allow " : "deny ") + cidr;
    }
  }

  /** Decides one address as the server does: the 128-bit form, IPv4 mapped into {@code ::ffff:0:0/96}. */
  @FunctionalInterface
  public interface Decider {
    /**
     * Whether an address is let in.
     *
     * @param high the address's high 64 bits
     * @param low its low 64 bits
     * @return {@code true} if allowed
     */
    boolean allows(long high, long low);
  }

  private final List<Block> blocks;
  private final boolean defaultAllow;
  private final Decider decider;

  private KernelRules(List<Block> blocks, boolean defaultAllow, Decider decider) {
    this.blocks = List.copyOf(blocks);
    this.defaultAllow = defaultAllow;
    this.decider = Objects.requireNonNull(decider, "decider");
  }

  /**
   * The rules of a set of blocks, in their given order, with a decider that must agree with them.
   *
   * @param blocks the blocks and their decisions
   * @param defaultAllow the decision where no block matches
   * @param decider decides one address as the blocks do
   * @return the rules
   */
  public static KernelRules of(List<Block> blocks, boolean defaultAllow, Decider decider) {
    return new KernelRules(blocks, defaultAllow, decider);
  }

  /**
   * The address rules of a policy (its credential rules do not apply to a TCP peer).
   *
   * @param policy the policy
   * @return its rules as blocks, in the policy's order, and its decisions
   */
  public static KernelRules of(dev.portcullis.policy.AccessPolicy policy) {
    Objects.requireNonNull(policy, "policy");
    List<Block> blocks = policy.rules().stream().map(r -> new Block(r.cidr(), r.isAllow())).toList();
    return new KernelRules(blocks, policy.defaultDecision().isAllowed(),
        (high, low) -> policy.decideIpv6(high, low).isAllowed());
  }

  /**
   * The blocks and their decisions, in the order given.
   *
   * @return an immutable list
   */
  public List<Block> blocks() {
    return blocks;
  }

  /**
   * The decision for an address no block covers.
   *
   * @return {@code true} if such an address is let in
   */
  public boolean defaultAllow() {
    return defaultAllow;
  }

  /**
   * Whether an address is let in, given in 128 bits (IPv4 mapped into {@code ::ffff:0:0/96}).
   *
   * @param high the address's high 64 bits
   * @param low its low 64 bits
   * @return {@code true} if allowed
   */
  public boolean allows(long high, long low) {
    return decider.allows(high, low);
  }

  /**
   * Whether an IPv4 address is let in.
   *
   * @param address big-endian: {@code 10.0.0.1} is {@code 0x0A000001}
   * @return {@code true} if allowed
   */
  public boolean allowsIpv4(int address) {
    return decider.allows(0L, dev.portcullis.policy.IpAddresses.mappedLow(address));
  }

  /**
   * {@code KernelRules[3 blocks, default deny]}.
   *
   * @return the text
   */
  @Override
  public String toString() {
    return "KernelRules[" + blocks.size() + " block" + (blocks.size() == 1 ? "" : "s") + ", default "
        + (defaultAllow ? "allow" : "deny") + "]";
  }
}
