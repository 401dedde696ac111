package dev.portcullis.policy;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;

/**
 * Who may connect: an immutable set of {@code allow}/{@code deny} CIDR rules, decided without a
 * socket.
 *
 * <pre>{@code
 * AccessPolicy policy = AccessPolicy.parse("""
 *     allow 10.0.0.0/8
 *     deny  10.66.0.0/16      # the lab network
 *     allow 2001:db8::/32
 *     """);
 * policy.decide("10.66.1.2");   // deny (deny 10.66.0.0/16)
 * policy.decide("10.1.2.3");    // allow (allow 10.0.0.0/8)
 * policy.decide("192.0.2.1");   // deny (default)
 * }</pre>
 *
 * <h2>Semantics</h2>
 *
 * <ul>
 *   <li>The most specific matching rule (longest prefix) wins, whatever order the rules were
 *       written in. At equal length, {@code deny} wins.
 *   <li>When no rule matches, the peer is denied if the policy has any {@code allow} rule, and
 *       allowed if it has only {@code deny} rules (a block list). An empty policy denies everyone.
 *   <li>IPv4-mapped IPv6 peers ({@code ::ffff:a.b.c.d}) are matched as their IPv4 address. A rule
 *       of one family never matches a peer of the other.
 * </ul>
 *
 * <p>Rules are compiled into flat sorted arrays of address intervals, so a lookup is a binary
 * search whose cost grows with the logarithm of the rule count, and allocates nothing.
 *
 * <h2>Text form</h2>
 *
 * One rule a line, {@code allow CIDR} or {@code deny CIDR}; blank lines and everything after
 * {@code #} are ignored. {@link #toString()} writes this form, and {@link #parse} reads it back.
 */
public final class AccessPolicy {
  private final List<Rule> rules;
  private final Decision defaultDecision;
  private final Decision[] decisions;
  private final IntervalTable v4;
  private final IntervalTable v6;
  private final List<CredentialRule> credentialRules;
  private final Decision credentialDefault;
  private final Decision[] credentialDecisions;
  private final Decision denyUnknownPeer;
  private final Limits limits;

  private AccessPolicy(List<Rule> rules) {
    this(rules, List.of(), Limits.NONE);
  }

  private AccessPolicy(List<Rule> rules, List<CredentialRule> credentialRules) {
    this(rules, credentialRules, Limits.NONE);
  }

  private AccessPolicy(List<Rule> rules, List<CredentialRule> credentialRules, Limits limits) {
    this.limits = Objects.requireNonNull(limits, "limits");
    this.credentialRules = List.copyOf(credentialRules);
    boolean anyLocalAllow = false;
    this.credentialDecisions = new Decision[this.credentialRules.size()];
    for (int i = 0; i < this.credentialRules.size(); i++) {
      CredentialRule r = this.credentialRules.get(i);
      anyLocalAllow |= r.isAllow();
      credentialDecisions[i] = new Decision(r.isAllow(), r).slot(rules.size() + 1 + i);
    }
    this.credentialDefault = new Decision(!anyLocalAllow && !this.credentialRules.isEmpty(), (Rule) null)
        .slot(rules.size() + 1 + this.credentialRules.size());
    this.denyUnknownPeer = new Decision(false, (Rule) null).slot(rules.size() + 2 + this.credentialRules.size());
    this.rules = List.copyOf(rules);
    boolean anyAllow = false;
    for (Rule r : this.rules) {
      anyAllow |= r.isAllow();
    }
    this.defaultDecision = new Decision(!anyAllow && !this.rules.isEmpty(), (Rule) null).slot(this.rules.size());
    this.decisions = new Decision[this.rules.size() + 1];
    for (int i = 0; i < this.rules.size(); i++) {
      decisions[i] = new Decision(this.rules.get(i).isAllow(), this.rules.get(i)).slot(i);
    }
    decisions[this.rules.size()] = defaultDecision;
    this.v4 = IntervalTable.build(this.rules, 4);
    this.v6 = IntervalTable.build(this.rules, 6);
  }

  /**
   * A policy of these rules; order does not matter.
   *
   * @param rules the rules, none null
   * @return the compiled policy
   * @throws NullPointerException if the collection or any rule is null
   */
  public static AccessPolicy of(Collection<Rule> rules) {
    Objects.requireNonNull(rules, "rules");
    for (Rule r : rules) {
      Objects.requireNonNull(r, "rules contains null");
    }
    return new AccessPolicy(new ArrayList<>(rules));
  }

  /**
   * A policy of these rules; order does not matter.
   *
   * @param rules the rules, none null
   * @return the compiled policy
   * @throws NullPointerException if any rule is null
   */
  public static AccessPolicy of(Rule... rules) {
    return of(Arrays.asList(rules));
  }

  /**
   * A policy that allows every IPv4 and IPv6 peer ({@code allow 0.0.0.0/0}, {@code allow ::/0}).
   *
   * @return the open policy
   */
  public static AccessPolicy allowAll() {
    return new AccessPolicy(List.of(Rule.allow(Cidr.parse("0.0.0.0/0")), Rule.allow(Cidr.parse("::/0"))),
        List.of(CredentialRule.allowAnyLocalPeer()));
  }

  /**
   * A builder that collects rules; each rule is checked as it is added.
   *
   * @return a new, empty builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Parses policy text: one rule a line ({@code allow 10.0.0.0/8}, {@code deny ::1}), {@code #}
   * comments and blank lines ignored.
   *
   * @param text the policy text; lines end with {@code \n} or {@code \r\n}
   * @return the policy; empty (denying everyone) if the text has no rules
   * @throws IllegalArgumentException whose message starts with {@code line N:} and quotes (a
   *     prefix of) the bad line; see {@link #load(Path, long)} for how much is quoted
   */
  public static AccessPolicy parse(String text) {
    return parse(text, "line ", false);
  }

  /**
   * The policy TCP Wrappers' {@code hosts.allow} and {@code hosts.deny} describe for every daemon
   * ({@code ALL}), with exactly their decisions; see {@link HostsFiles} for what is read and what
   * is refused.
   *
   * @param hostsAllow the {@code hosts.allow} file
   * @param hostsDeny the {@code hosts.deny} file
   * @return the equivalent policy
   * @throws IOException if a file cannot be read
   * @throws IllegalArgumentException naming the file, the line and what is not an address rule
   */
  public static AccessPolicy fromHostsFiles(Path hostsAllow, Path hostsDeny) throws IOException {
    return HostsFiles.read(hostsAllow, hostsDeny).toPolicy();
  }

  /**
   * The largest policy file {@link #load(Path)} reads: 16 MiB. A policy of 100,000 IPv6 rules with
   * a comment on each line is about 5 MiB; a larger file is refused before it is read (and a file
   * that grows past the limit while it is read, as it is read).
   */
  public static final long DEFAULT_MAX_FILE_BYTES = 16L << 20;

  /** The longest rule line, comment excluded, that is parsed at all; a longer one is refused as it is. */
  static final int MAX_LINE_CHARS = 1024;

  /**
   * Reads policy text from a UTF-8 file of at most {@link #DEFAULT_MAX_FILE_BYTES}, as {@link
   * #load(Path, long)}.
   *
   * @param file the policy file; a leading byte-order mark is skipped
   * @return the policy
   * @throws IOException if the file cannot be read, is not a regular file, is larger than {@link
   *     #DEFAULT_MAX_FILE_BYTES} or is not UTF-8
   * @throws IllegalArgumentException whose message starts with {@code FILE:N:} and quotes (a
   *     prefix of) the bad line
   */
  public static AccessPolicy load(Path file) throws IOException {
    return load(file, DEFAULT_MAX_FILE_BYTES);
  }

  /**
   * Reads policy text from a UTF-8 file, as {@link #parse}, refusing anything that is not a
   * policy file:
   *
   * <ul>
   *   <li>Only a regular file is read (a symbolic link is followed). A FIFO, device, socket or
   *       directory at the path is refused without being opened, so it cannot block this call
   *       (but one swapped in between that check and the open can: Java cannot open a file
   *       without blocking, so a caller that must never block, such as a file watcher, calls this
   *       on a thread of its own with a timeout).
   *   <li>A file larger than {@code maxBytes} is refused before it is read; one that grows past
   *       it while it is read is refused after {@code maxBytes + 1} bytes. The file is read once.
   *   <li>An error quotes at most the first 80 characters of the bad line (or of a long word in
   *       it), with the line's length; a line longer than 1,024 characters (comment excluded) is
   *       refused without being parsed.
   *   <li>If the first line that is not blank or a comment does not start with {@code allow},
   *       {@code deny} or {@code limit}, the file is not a policy (a key, a password file, a
   *       symbolic link to either): the error names the file and the line number and quotes
   *       nothing of it.
   * </ul>
   *
   * <pre>{@code
   * AccessPolicy policy = AccessPolicy.load(Path.of("/etc/app/office.policy"), 64L << 20);
   * }</pre>
   *
   * @param file the policy file; a leading byte-order mark is skipped
   * @param maxBytes the largest file to read, at least 1
   * @return the policy
   * @throws IOException if the file cannot be read, is not a regular file, is larger than {@code
   *     maxBytes} or is not UTF-8; the message names the file and says which
   * @throws IllegalArgumentException whose message starts with {@code FILE:N:} and says what is
   *     wrong; also if {@code maxBytes} is below 1
   */
  public static AccessPolicy load(Path file, long maxBytes) throws IOException {
    String text = PolicyFiles.read(file, maxBytes);
    if (text.startsWith("\uFEFF")) {
      text = text.substring(1); // a byte-order mark some editors write; invisible in error messages
    }
    return parse(text, file + ":", true);
  }

  private static AccessPolicy parse(String text, String where, boolean file) {
    Objects.requireNonNull(text, "text");
    List<Rule> rules = new ArrayList<>();
    List<CredentialRule> credentialRules = new ArrayList<>();
    Limits limits = Limits.NONE;
    String[] lines = text.split("\r?\n", -1);
    boolean first = true;
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i];
      int hash = line.indexOf('#');
      String content = (hash >= 0 ? line.substring(0, hash) : line).strip();
      if (content.isEmpty()) {
        continue;
      }
      if (file && first && !startsWithKeyword(content)) {
        // Perhaps not a policy at all (a key, a password file): nothing of it goes into a message or a log.
        throw new IllegalArgumentException(where + (i + 1) + ": does not start with 'allow', 'deny' or 'limit',"
            + " so this is not a policy file (the line is not quoted, in case the file holds something else)");
      }
      first = false;
      if (content.length() > MAX_LINE_CHARS) {
        throw new IllegalArgumentException(where + (i + 1) + ": " + PolicyFiles.quote(content)
            + " is too long for a rule (at most " + MAX_LINE_CHARS + " characters)");
      }
      try {
        if (content.startsWith("limit ") || content.startsWith("limit\t") || content.equals("limit")) {
          limits = limits.with(Limits.parseLine(content));
        } else if (CredentialRule.looksLike(content)) {
          credentialRules.add(CredentialRule.parse(content));
        } else {
          rules.add(Rule.parse(content));
        }
      } catch (IllegalArgumentException e) {
        String why = PolicyFiles.shorten(e.getMessage(), content);
        // The cause's message would quote the whole line: keep it only when nothing was cut.
        throw new IllegalArgumentException(where + (i + 1) + ": " + why, why.equals(e.getMessage()) ? e : null);
      }
    }
    return new AccessPolicy(rules, credentialRules, limits);
  }

  private static boolean startsWithKeyword(String content) {
    String word = content.split("[ \t]", 2)[0];
    return word.equals("allow") || word.equals("deny") || word.equals("limit");
  }

  /**
   * The {@code limit ...} lines of the policy text; none unless the text or the builder had some.
   *
   * @return the limits, {@link Limits#NONE} when there are none
   */
  public Limits limits() {
    return limits;
  }

  /**
   * The rules as given (duplicates included), in the order given.
   *
   * @return the rules, unmodifiable
   */
  public List<Rule> rules() {
    return rules;
  }

  /**
   * Whether the policy has no rules at all.
   *
   * @return {@code true} if there are no rules (the policy then denies everyone)
   */
  public boolean isEmpty() {
    return rules.isEmpty() && credentialRules.isEmpty();
  }

  /**
   * How many distinct decisions this policy can make: one per rule, plus the defaults; see {@link
   * Decision#slot()}.
   *
   * @return the number of slots
   */
  public int decisionSlots() {
    return rules.size() + credentialRules.size() + 3;
  }

  /**
   * What a decision slot stands for, as a rule in text form or a default.
   *
   * @param slot {@code 0 .. decisionSlots() - 1}
   * @return such as {@code allow 10.0.0.0/8}, {@code default (address)} or {@code deny uid 0}
   * @throws IndexOutOfBoundsException for another number
   */
  public String slotName(int slot) {
    int n = rules.size();
    int m = credentialRules.size();
    java.util.Objects.checkIndex(slot, decisionSlots());
    if (slot < n) {
      return rules.get(slot).toString();
    }
    if (slot == n) {
      return "default (address)";
    }
    if (slot <= n + m) {
      return credentialRules.get(slot - n - 1).toString();
    }
    return slot == n + m + 1 ? "default (local peer)" : "unreadable local peer credentials";
  }

  /**
   * The rules on Unix domain socket peers ({@code allow uid 1000}), in the order given.
   *
   * @return the credential rules, unmodifiable
   */
  public List<CredentialRule> credentialRules() {
    return credentialRules;
  }

  /**
   * Decides for a Unix domain socket peer: the uid rules that match decide (deny on a tie), else
   * the gid rules that match, else an {@code allow|deny uid *} rule, else the default for local peers: deny if there is any credential
   * {@code allow} rule or no credential rule at all, otherwise allow. Address rules play no part.
   *
   * @param peer the peer's credentials, or null if they could not be read (always denied)
   * @return the decision, never null
   */
  public Decision decide(PeerCredentials peer) {
    if (peer == null) {
      return denyUnknownPeer;
    }
    Decision byUid = null;
    Decision byGid = null;
    Decision any = null;
    for (int i = 0; i < credentialRules.size(); i++) {
      CredentialRule r = credentialRules.get(i);
      if (!r.matches(peer)) {
        continue;
      }
      Decision d = credentialDecisions[i];
      switch (r.kind()) {
        case UID -> byUid = stronger(byUid, d);
        case GID -> byGid = stronger(byGid, d);
        case ANY -> any = stronger(any, d);
      }
    }
    return byUid != null ? byUid : byGid != null ? byGid : any != null ? any : credentialDefault;
  }

  private static Decision stronger(Decision current, Decision candidate) {
    return current == null || (current.isAllowed() && !candidate.isAllowed()) ? candidate : current;
  }

  /**
   * What is decided for a peer that no rule matches.
   *
   * @return deny if the policy has any {@code allow} rule or no rules, otherwise allow
   */
  public Decision defaultDecision() {
    return defaultDecision;
  }

  /**
   * Decides for one peer address.
   *
   * @param peer an IPv4 or IPv6 address; IPv4-mapped IPv6 addresses are matched as IPv4
   * @return the decision, never null
   */
  public Decision decide(InetAddress peer) {
    Objects.requireNonNull(peer, "peer");
    return decideIpv6(IpAddresses.high(peer), IpAddresses.low(peer)); // an IPv4 address mapped, decided as IPv4
  }

  /**
   * Decides for an address literal, parsed as strictly as rules are (no DNS).
   *
   * @param address an IP address literal such as {@code 10.1.2.3} or {@code 2001:db8::1}
   * @return the decision, never null
   * @throws IllegalArgumentException if {@code address} is not an IP address literal
   */
  public Decision decide(String address) {
    IpLiterals.Parsed p = IpLiterals.parse(Objects.requireNonNull(address, "address"), address);
    return p.family() == 4 ? decideIpv4((int) p.lo()) : decideIpv6(p.hi(), p.lo());
  }

  /**
   * Decides for a raw IPv4 address (big-endian: {@code 10.0.0.1} is {@code 0x0A000001}). Allocates
   * nothing; this is the form transports call on every accepted connection.
   *
   * @param address the IPv4 address as a big-endian int
   * @return the decision, never null
   */
  public Decision decideIpv4(int address) {
    return decisions[v4.lookupIpv4(address)];
  }

  /**
   * Decides for a raw IPv6 address given as its high and low 64 bits. IPv4-mapped addresses are
   * decided as IPv4. Allocates nothing.
   *
   * @param high the address's high 64 bits
   * @param low the address's low 64 bits
   * @return the decision, never null
   */
  public Decision decideIpv6(long high, long low) {
    if (IpAddresses.isIpv4Mapped(high, low)) {
      return decideIpv4((int) low);
    }
    return decisions[v6.lookupIpv6(high, low)];
  }

  /**
   * Whether some IPv4 address is allowed: false when no rule lets any IPv4 peer in, such as a policy
   * whose {@code allow} rules are all IPv6 (the default then denies every IPv4 peer), or whose IPv4
   * {@code allow} rules are all overridden by {@code deny} rules. A server refuses such a policy
   * when its peers are IPv4.
   *
   * <pre>{@code
   * AccessPolicy.parse("allow ::1").allowsAnyIpv4();   // false
   * }</pre>
   *
   * @return {@code true} if at least one IPv4 address is allowed
   */
  public boolean allowsAnyIpv4() {
    return v4.anyAddress(i -> decisions[i].isAllowed());
  }

  /**
   * Whether some IPv6 address outside the IPv4-mapped block ({@code ::ffff:0:0/96}, decided as
   * IPv4) is allowed; see {@link #allowsAnyIpv4()}.
   *
   * @return {@code true} if at least one such IPv6 address is allowed
   */
  public boolean allowsAnyIpv6() {
    return v6.anyAddress(i -> decisions[i].isAllowed());
  }

  /**
   * The address ranges whose decision (allow or deny) differs between this policy and {@code
   * candidate}: exact, computed from the two rule sets, IPv4 ranges first, then IPv6 (the
   * IPv4-mapped block, decided as IPv4, is not repeated), each with the rule that decides it in
   * both. Neighbouring ranges decided by the same two rules are merged. This is what a policy
   * change would do before it is live; {@code RunningServer.shadow} shows it on live traffic.
   *
   * @param candidate the policy that would replace this one
   * @return the changed ranges, in address order; empty if the two decide alike everywhere
   */
  public List<PolicyChange> changesTo(AccessPolicy candidate) {
    return PolicyChange.between(this, Objects.requireNonNull(candidate, "candidate"));
  }

  /** Equal when both hold the same set of rules, whatever their order. */
  @Override
  public boolean equals(Object o) {
    return o instanceof AccessPolicy p && new HashSet<>(p.rules).equals(new HashSet<>(rules))
        && new HashSet<>(p.credentialRules).equals(new HashSet<>(credentialRules)) && p.limits.equals(limits);
  }

  @Override
  public int hashCode() {
    return new HashSet<>(rules).hashCode() * 31 + new HashSet<>(credentialRules).hashCode();
  }

  /** The policy text, one rule a line, which {@link #parse} reads back. */
  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder();
    for (Rule r : rules) {
      sb.append(r).append('\n');
    }
    for (CredentialRule r : credentialRules) {
      sb.append(r).append('\n');
    }
    sb.append(limits.toText());
    return sb.toString();
  }

  /** Collects rules for an {@link AccessPolicy}; each is checked as it is added. */
  public static final class Builder {
    private final List<Rule> rules = new ArrayList<>();
    private final List<CredentialRule> credentialRules = new ArrayList<>();
    private Limits limits = Limits.NONE;

    private Builder() {}

    /**
     * Adds {@code allow CIDR}; throws {@link IllegalArgumentException} for a malformed prefix.
     *
     * @param cidr a prefix such as {@code 10.0.0.0/8}, or a bare address
     * @return this builder
     * @throws IllegalArgumentException if the prefix is malformed
     */
    public Builder allow(String cidr) {
      return rule(Rule.allow(Cidr.parse(java.util.Objects.requireNonNull(cidr, "allow(cidr): cidr is null"))));
    }

    /**
     * Adds {@code deny CIDR}; throws {@link IllegalArgumentException} for a malformed prefix.
     *
     * @param cidr a prefix such as {@code 10.66.0.0/16}, or a bare address
     * @return this builder
     * @throws IllegalArgumentException if the prefix is malformed
     */
    public Builder deny(String cidr) {
      return rule(Rule.deny(Cidr.parse(java.util.Objects.requireNonNull(cidr, "deny(cidr): cidr is null"))));
    }

    /**
     * Adds one rule.
     *
     * @param rule the rule, not null
     * @return this builder
     */
    public Builder rule(Rule rule) {
      rules.add(Objects.requireNonNull(rule, "rule"));
      return this;
    }

    /**
     * Adds every rule of {@code policy}.
     *
     * @param policy the policy whose rules to add
     * @return this builder
     */
    public Builder rules(AccessPolicy policy) {
      rules.addAll(policy.rules());
      credentialRules.addAll(policy.credentialRules());
      limits = limits.with(policy.limits());
      return this;
    }

    /**
     * Adds one rule on Unix domain socket peers.
     *
     * @param rule the rule, not null
     * @return this builder
     */
    public Builder rule(CredentialRule rule) {
      credentialRules.add(Objects.requireNonNull(rule, "rule"));
      return this;
    }

    /**
     * The rules added so far, as an immutable policy.
     *
     * @return a new policy; later additions do not change it
     */
    public AccessPolicy build() {
      return new AccessPolicy(rules, credentialRules, limits);
    }

    /**
     * Sets limits, as {@code limit ...} lines would; each limit given replaces the one before.
     *
     * @param more the limits to set
     * @return this builder
     */
    public Builder limits(Limits more) {
      limits = limits.with(more);
      return this;
    }
  }
}
