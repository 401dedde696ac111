package dev.portcullis.jna;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.spi.KernelFilterMode;
import dev.portcullis.spi.KernelRules;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The kernel filter of one listening socket ({@link #attach}): the best of eBPF ({@link
 * EbpfFilter}), classic BPF and none that the kernel takes for the policy, the mode in force
 * ({@link #mode()}), and the updates; and the classic BPF compiler.
 *
 * <p>Classic BPF ({@code SO_ATTACH_FILTER}, no privilege) drops packets from denied IPv4 and IPv6
 * addresses before they reach the listening socket.
 *
 * <p>The program reads the IP version from the network header ({@code SKF_NET_OFF}); anything but
 * IPv4 and IPv6 is accepted and left to the user-space check. For IPv4 it loads the source address
 * and walks the denied ranges, three instructions each ({@code jge lo}, {@code jgt hi}, {@code ret
 * 0}), so every jump is short; past the last range it accepts. For IPv6 the denied ranges are
 * covered by the fewest prefixes, and each prefix is matched a 32-bit word of the source address
 * at a time ({@code ld}, {@code jeq}; a masked {@code and} for a partial word; 5 instructions for
 * a /64), so again every jump is short. The denied ranges come from the policy's own decisions:
 * every rule boundary starts a segment, each segment is decided by the policy, and neighbouring
 * denied segments are merged, so the kernel and user space cannot disagree.
 *
 * <p>Both families share one program of at most {@value #BPF_MAXINSNS} instructions. If both do not
 * fit, IPv4 alone is filtered when it fits (IPv6 peers are then checked in user space only), and
 * one log line says so.
 */
final class KernelFilter {
  private static final Logger log = LoggerFactory.getLogger(KernelFilter.class);

  static final int SO_ATTACH_FILTER = 26;
  static final int BPF_MAXINSNS = 4096;
  private static final int SKF_NET_OFF = -0x100000;
  private static final int LD_W_ABS = 0x20;
  private static final int LD_B_ABS = 0x30;
  private static final int ALU_RSH_K = 0x74;
  private static final int ALU_AND_K = 0x54;
  private static final int JEQ_K = 0x15;
  private static final int JGT_K = 0x25;
  private static final int JGE_K = 0x35;
  private static final int RET_K = 0x06;
  private static final int JA = 0x05;
  private static final int ACCEPT = 0xFFFF_FFFF;
  private static final int DROP = 0;

  /** The denied IPv4 ranges of the policy, as inclusive unsigned pairs {lo, hi}, merged and sorted. */
  static List<long[]> deniedIpv4(KernelRules policy) {
    TreeSet<Long> starts = new TreeSet<>();
    starts.add(0L);
    for (KernelRules.Block r : policy.blocks()) {
      Cidr c = r.cidr();
      if (!c.isIpv4()) {
        continue;
      }
      long start = IpAddresses.bits(c.network().getAddress(), 0, 4);
      long end = start + (1L << (32 - c.prefixLength()));
      starts.add(start);
      if (end <= 0xFFFF_FFFFL) {
        starts.add(end);
      }
    }
    List<long[]> denied = new ArrayList<>();
    Long[] points = starts.toArray(new Long[0]);
    for (int i = 0; i < points.length; i++) {
      long lo = points[i];
      long hi = i + 1 < points.length ? points[i + 1] - 1 : 0xFFFF_FFFFL;
      if (policy.allowsIpv4((int) lo)) {
        continue;
      }
      if (!denied.isEmpty() && denied.get(denied.size() - 1)[1] + 1 == lo) {
        denied.get(denied.size() - 1)[1] = hi;
      } else {
        denied.add(new long[] {lo, hi});
      }
    }
    return denied;
  }

  /**
   * The program as (code | jt << 16 | jf << 24, k) pairs, both families if they fit, else IPv4
   * alone; null if even IPv4 does not fit.
   */
  static int[] compile(KernelRules policy) {
    List<long[]> v4 = deniedIpv4(policy);
    List<Cidr> v6 = deniedIpv6Prefixes(policy);
    int[] both = compile(v4, v6);
    return both != null ? both : compile(v4, List.of());
  }

  /** The program for these denied IPv4 ranges and IPv6 prefixes, or null if it is too long. */
  static int[] compile(List<long[]> v4, List<Cidr> v6) {
    int v6Length = 0;
    for (Cidr c : v6) {
      v6Length += prefixLength(c);
    }
    int v4Block = 1 + 3 * v4.size() + 1;
    int v6Block = v6.isEmpty() ? 0 : v6Length + 1;
    int length = 6 + v4Block + v6Block;
    if (length > BPF_MAXINSNS) {
      return null;
    }
    int[] p = new int[2 * length];
    int i = 0;
    i = put(p, i, LD_B_ABS, 0, 0, SKF_NET_OFF);       // 0: A = version << 4 | IHL (or traffic class)
    i = put(p, i, ALU_RSH_K, 0, 0, 4);               // 1: A = version
    i = put(p, i, JEQ_K, 3, 0, 4);                   // 2: IPv4: to its block at 6
    i = put(p, i, JEQ_K, 0, 1, 6);                   // 3: IPv6: to 4, else to 5
    // 4: IPv6: a long jump past the IPv4 block (jt and jf reach 255 at most), or to 5 when no
    // IPv6 prefix is denied.
    i = put(p, i, JA, 0, 0, v6.isEmpty() ? 0 : 1 + v4Block);
    i = put(p, i, RET_K, 0, 0, ACCEPT);              // 5: neither, or nothing denied: user space decides
    i = put(p, i, LD_W_ABS, 0, 0, SKF_NET_OFF + 12); // 6: IPv4 block: A = source address
    for (long[] r : v4) {
      i = put(p, i, JGE_K, 0, 2, (int) r[0]);        // below lo: next range
      i = put(p, i, JGT_K, 1, 0, (int) r[1]);        // above hi: next range
      i = put(p, i, RET_K, 0, 0, DROP);              // inside: drop
    }
    i = put(p, i, RET_K, 0, 0, ACCEPT);
    if (!v6.isEmpty()) {
      for (Cidr c : v6) {                            // IPv6 block: the source address is at 8..23
        byte[] b = c.network().getAddress();
        int bits = c.prefixLength();
        int size = prefixLength(c);
        int left = size - 1;                         // instructions of this prefix after the current one
        for (int w = 0; w < 4 && bits > 32 * w; w++) {
          int word = (int) IpAddresses.bits(b, 4 * w, 4);
          int wordBits = Math.min(32, bits - 32 * w);
          i = put(p, i, LD_W_ABS, 0, 0, SKF_NET_OFF + 8 + 4 * w);
          left--;
          if (wordBits < 32) {
            i = put(p, i, ALU_AND_K, 0, 0, (int) (0xFFFF_FFFFL << (32 - wordBits)));
            left--;
          }
          i = put(p, i, JEQ_K, 0, left, word);       // differs: past this prefix's drop
          left--;
        }
        i = put(p, i, RET_K, 0, 0, DROP);            // every word matched: drop
      }
      i = put(p, i, RET_K, 0, 0, ACCEPT);
    }
    if (i != length) {
      throw new AssertionError("BPF program of " + i + " instructions, " + length + " expected");
    }
    return p;
  }

  /** Instructions to match one IPv6 prefix: ld and jeq per word it covers, and for a partial word an and; a ret. */
  private static int prefixLength(Cidr c) {
    int bits = c.prefixLength();
    int words = (bits + 31) / 32;
    return 2 * words + (bits % 32 != 0 ? 1 : 0) + 1;
  }

  /**
   * The denied IPv6 addresses of the policy as the fewest prefixes, in address order (a policy
   * that denies every IPv6 peer gives {@code ::/0}); the IPv4-mapped block, which never comes as an
   * IPv6 source, goes with what precedes it.
   */
  static List<Cidr> deniedIpv6Prefixes(KernelRules policy) {
    java.math.BigInteger max = java.math.BigInteger.ONE.shiftLeft(128).subtract(java.math.BigInteger.ONE);
    java.math.BigInteger mapped = java.math.BigInteger.valueOf(0xFFFF).shiftLeft(32);
    java.math.BigInteger mappedEnd = mapped.add(java.math.BigInteger.ONE.shiftLeft(32));
    TreeSet<java.math.BigInteger> starts = new TreeSet<>();
    starts.add(java.math.BigInteger.ZERO);
    starts.add(mapped);
    starts.add(mappedEnd);
    for (KernelRules.Block r : policy.blocks()) {
      Cidr c = r.cidr();
      if (c.isIpv4()) {
        continue;
      }
      java.math.BigInteger start = new java.math.BigInteger(1, c.network().getAddress());
      java.math.BigInteger end = start.add(java.math.BigInteger.ONE.shiftLeft(128 - c.prefixLength()));
      starts.add(start);
      if (end.compareTo(max) <= 0) {
        starts.add(end);
      }
    }
    List<Cidr> out = new ArrayList<>();
    java.math.BigInteger[] points = starts.toArray(new java.math.BigInteger[0]);
    java.math.BigInteger runLo = null;
    java.math.BigInteger runHi = null;
    for (int i = 0; i <= points.length; i++) {
      boolean denied = false;
      java.math.BigInteger lo = null;
      java.math.BigInteger hi = null;
      if (i < points.length) {
        lo = points[i];
        hi = i + 1 < points.length ? points[i + 1].subtract(java.math.BigInteger.ONE) : max;
        // The IPv4-mapped block never comes as an IPv6 source (Linux drops such packets, and an
        // IPv4 peer of a dual-stack socket comes as IPv4): it goes with its neighbours, so that a
        // policy denying all IPv6 compiles to ::/0 rather than to 190 prefixes around the block.
        boolean inMapped = lo.compareTo(mapped) >= 0 && lo.compareTo(mappedEnd) < 0;
        denied = inMapped ? runLo != null : !policy.allows(lo.shiftRight(64).longValue(), lo.longValue());
      }
      if (denied && runLo != null && runHi.add(java.math.BigInteger.ONE).equals(lo)) {
        runHi = hi;
        continue;
      }
      if (runLo != null) {
        out.addAll(Cidr.covering(v6(runLo), v6(runHi)));
        runLo = null;
      }
      if (denied) {
        runLo = lo;
        runHi = hi;
      }
    }
    return out;
  }

  private static java.net.InetAddress v6(java.math.BigInteger value) {
    byte[] raw = value.toByteArray();
    byte[] b = new byte[16];
    int n = Math.min(raw.length, 16);
    System.arraycopy(raw, raw.length - n, b, 16 - n, n);
    try {
      return java.net.InetAddress.getByAddress(b);
    } catch (java.net.UnknownHostException e) {
      throw new IllegalStateException(e);
    }
  }

  private static int put(int[] p, int i, int code, int jt, int jf, int k) {
    p[2 * i] = code | (jt << 16) | (jf << 24);
    p[2 * i + 1] = k;
    return i + 1;
  }

  /** How the log lines name a listening address: {@code 127.0.0.1:7000}, {@code [::]:7000}. */
  static String where(java.net.SocketAddress local) {
    return IpAddresses.format(local);
  }

  /** The system property that makes {@link #attach} skip eBPF: {@code classic}. */
  static final String MODE_PROPERTY = "portcullis.kernelFilter";

  /** The sockets filtered alike: one, or a listener's {@code SO_REUSEPORT} group (one per loop). */
  private final int[] fds;
  private final String where;
  /** What the lines say is left without a filter: a server's own check, or for a guard nothing. */
  private final String withoutFilter;
  private KernelRules policy;
  private List<Cidr> bans = List.of();
  private EbpfFilter ebpf;
  private volatile KernelFilterMode mode = KernelFilterMode.USER_SPACE;
  /** Why the mode in force is not eBPF, as the log line said it; null in eBPF mode. */
  private volatile String notEbpf;

  private KernelFilter(int[] fds, String where, String withoutFilter) {
    this.fds = fds.clone();
    this.where = where;
    this.withoutFilter = withoutFilter;
  }

  /**
   * Attaches the best filter the kernel takes for the policy to every socket of {@code fds} (a
   * listener's sockets, one per loop, which share one port): eBPF, else classic BPF, else none
   * (user space only), the same on all of them: one eBPF program and its maps serve them all, and
   * a mode that any of them refuses is given up on all. Logs one line naming the mode in force and,
   * if it is not eBPF, why. Never throws for a refusal: the user-space check decides every peer
   * anyway. Attach before {@code listen(2)}, so that no connection is queued unfiltered.
   */
  static KernelFilter attach(int[] fds, KernelRules policy, String where) {
    KernelFilter filter = new KernelFilter(fds, where, "filtering in user space only");
    filter.update(policy);
    return filter;
  }

  /**
   * {@link #attach} for a socket another server accepts on ({@link KernelGuard}): nothing checks
   * its peers in user space, so the lines say that nothing filters them when no filter is attached,
   * and {@link #problem()} says why.
   */
  static KernelFilter attachGuard(int fd, KernelRules policy, List<Cidr> bans, String where) {
    KernelFilter filter = new KernelFilter(new int[] {fd}, where, "nothing filters its peers");
    filter.bans = List.copyOf(bans);
    filter.update(policy);
    return filter;
  }

  /**
   * Why the mode in force is not eBPF (and, in {@link KernelFilterMode#USER_SPACE}, why no filter
   * is attached), as the log line said it; null in eBPF mode.
   */
  String problem() {
    return notEbpf;
  }

  /**
   * Whether classic BPF holds the policy with a deny rule per ban: both families, or IPv4 alone
   * when {@code bothFamilies} is false.
   */
  static boolean classicFits(KernelRules policy, List<Cidr> bans, boolean bothFamilies) {
    List<long[]> v4 = deniedIpv4(policy, bans);
    return compile(v4, bothFamilies ? deniedIpv6Prefixes(policy, bans) : List.of()) != null;
  }

  /**
   * The IPv4 ranges to drop: the policy's denied ones and the banned blocks, merged. A ban drops
   * its whole block even where the policy has a longer allow rule inside it, as the eBPF filter's
   * bans' trie does (a deny rule per ban would lose to that allow).
   */
  static List<long[]> deniedIpv4(KernelRules policy, List<Cidr> bans) {
    List<long[]> ranges = new ArrayList<>(deniedIpv4(policy));
    if (bans.isEmpty()) {
      return ranges;
    }
    for (Cidr c : bans) {
      if (c.isIpv4()) {
        byte[] b = c.network().getAddress();
        long start = IpAddresses.bits(b, 0, 4);
        ranges.add(new long[] {start, start + (1L << (32 - c.prefixLength())) - 1});
      }
    }
    ranges.sort((x, y) -> Long.compare(x[0], y[0]));
    List<long[]> merged = new ArrayList<>();
    for (long[] r : ranges) {
      long[] last = merged.isEmpty() ? null : merged.get(merged.size() - 1);
      if (last != null && r[0] <= last[1] + 1) {
        last[1] = Math.max(last[1], r[1]);
      } else {
        merged.add(new long[] {r[0], r[1]});
      }
    }
    return merged;
  }

  /** The IPv6 prefixes to drop: the policy's denied ones and the banned blocks not already inside one. */
  static List<Cidr> deniedIpv6Prefixes(KernelRules policy, List<Cidr> bans) {
    List<Cidr> prefixes = new ArrayList<>(deniedIpv6Prefixes(policy));
    for (Cidr c : bans) {
      if (!c.isIpv4() && prefixes.stream().noneMatch(p -> p.prefixLength() <= c.prefixLength()
          && p.contains(c.network()))) {
        prefixes.add(c);
      }
    }
    return prefixes;
  }

  /**
   * Removes the filter from the socket and lets go of the eBPF maps: the socket accepts every
   * peer the kernel would without a filter. For {@link KernelGuard#detach()}; a server's own socket
   * is closed instead.
   *
   * @return 0, or the errno of {@code SO_DETACH_FILTER} other than {@code ENOENT}
   */
  synchronized int detachAndClose() {
    int errno = 0;
    for (int fd : fds) {
      int e = Bpf.detach(fd);
      errno = errno != 0 && errno != LinuxErrno.ENOENT ? errno : e;
    }
    close();
    mode = KernelFilterMode.USER_SPACE;
    notEbpf = "detached";
    return errno == LinuxErrno.ENOENT ? 0 : errno;
  }

  /** The mode in force now. */
  KernelFilterMode mode() {
    return mode;
  }

  /**
   * Puts the new policy into the kernel. In eBPF mode the program stays and a new generation of
   * tries is switched in; if that fails, or in the other modes, the modes are tried again in order.
   * Whatever is attached afterwards decides as {@code policy} (and the bans) do, or nothing is
   * attached: an old program is never left in place.
   */
  synchronized void update(KernelRules policy) {
    this.policy = policy;
    if (ebpf != null) {
      try {
        ebpf.replace(policy);
        log.info("kernelFilter on {}: eBPF, generation {}: the kernel looks sources up in {} IPv4 and {} IPv6"
            + " entries ({} rules)", where, ebpf.generation(), ebpf.ipv4Entries(), ebpf.ipv6Entries(),
            policy.blocks().size());
        return;
      } catch (Bpf.BpfException | RuntimeException e) {
        ebpfFailed("the new generation of tries failed: " + e.getMessage());
        return;
      }
    }
    reattach();
  }

  /**
   * Replaces the banned blocks (the penalty box's bans of direct peers), dropped besides the
   * policy's denied ones. In eBPF mode only the bans' tries are rebuilt; in classic mode the
   * program is compiled again with the banned blocks among the dropped ranges
   * (a ban drops its whole block, even where the policy allows a longer prefix inside it).
   */
  synchronized void updateBans(List<Cidr> banned) {
    this.bans = List.copyOf(banned);
    if (ebpf != null) {
      try {
        ebpf.replaceBans(bans);
        log.debug("kernelFilter on {}: eBPF: {} banned block(s)", where, bans.size());
        return;
      } catch (Bpf.BpfException | RuntimeException e) {
        ebpfFailed("the new bans' tries failed: " + e.getMessage());
        return;
      }
    }
    reattach();
  }

  /** eBPF was live and an update failed: its program keeps the old tries until classic replaces it. */
  private void ebpfFailed(String cause) {
    ebpf.close();
    ebpf = null;
    classic(cause);
  }

  /** Not in eBPF mode: the best filter again, eBPF first unless it is not wanted. */
  private void reattach() {
    if ("classic".equals(System.getProperty(MODE_PROPERTY))) {
      classic("-D" + MODE_PROPERTY + "=classic");
      return;
    }
    String cause = loadEbpf();
    if (cause != null) {
      classic(cause);
    }
  }

  /** Loads and attaches the eBPF filter: null, or why it could not be used. */
  private String loadEbpf() {
    EbpfFilter f;
    try {
      f = EbpfFilter.load(policy);
    } catch (Bpf.BpfException e) {
      return e.getMessage() + (e.errno == LinuxErrno.EPERM ? ", which needs CAP_BPF or root (and before Linux 5.11 a large"
          + " enough RLIMIT_MEMLOCK)" : "");
    } catch (RuntimeException e) {
      return "loading failed: " + e; // a bug here must not keep the server from starting
    }
    if (!bans.isEmpty()) {
      try {
        f.replaceBans(bans);
      } catch (Bpf.BpfException | RuntimeException e) {
        f.close();
        return e.getMessage();
      }
    }
    int errno = 0;
    for (int i = 0; i < fds.length && errno == 0; i++) {
      errno = f.attachTo(fds[i]);
    }
    if (errno != 0) {
      detachAll(); // the sockets it did attach to drop the program (and whatever was there before)
      f.close();
      return "setsockopt(SO_ATTACH_BPF): " + LinuxErrno.name(errno) + " (" + Errors.describe(errno) + ")";
    }
    ebpf = f;
    mode = KernelFilterMode.EBPF;
    notEbpf = null;
    log.info("kernelFilter on {}: eBPF: the kernel looks sources up in {} IPv4 and {} IPv6 entries (LPM tries, {}"
        + " rules)", where, f.ipv4Entries(), f.ipv6Entries(), policy.blocks().size());
    return null;
  }

  /**
   * Classic BPF for the policy and the banned blocks, or no filter at all; one line says which,
   * and why not eBPF.
   */
  private void classic(String ebpfCause) {
    String notEbpf = "eBPF not used (" + ebpfCause + "); ";
    List<long[]> v4 = deniedIpv4(policy, bans);
    List<Cidr> v6 = deniedIpv6Prefixes(policy, bans);
    int[] program = compile(v4, v6);
    boolean withIpv6 = program != null;
    if (program == null) {
      program = compile(v4, List.of());
    }
    if (program == null) {
      detach();
      this.notEbpf = notEbpf + "the policy has " + v4.size() + " denied IPv4 ranges, more than one classic BPF"
          + " program holds (" + (BPF_MAXINSNS - 8) / 3 + ")";
      log.warn("kernelFilter on {}: {}; {}", where, this.notEbpf, withoutFilter);
      return;
    }
    int errno = 0;
    for (int i = 0; i < fds.length && errno == 0; i++) {
      errno = install(fds[i], program);
    }
    if (errno != 0) {
      detach();
      this.notEbpf = notEbpf + "setsockopt(SO_ATTACH_FILTER) failed: " + LinuxErrno.name(errno) + " ("
          + Errors.describe(errno) + ")";
      log.warn("kernelFilter on {}: {}; {}", where, this.notEbpf, withoutFilter);
      return;
    }
    this.notEbpf = notEbpf + "classic BPF";
    if (withIpv6) {
      mode = KernelFilterMode.CLASSIC;
      log.info("kernelFilter on {}: {}classic BPF: the kernel drops packets from {} denied IPv4 range(s) and {}"
          + " denied IPv6 prefix(es) ({} instructions)", where, notEbpf, v4.size(), v6.size(), program.length / 2);
    } else {
      mode = KernelFilterMode.CLASSIC_IPV4;
      log.warn("kernelFilter on {}: {}classic BPF: the kernel drops packets from {} denied IPv4 range(s) ({}"
          + " instructions); the {} denied IPv6 prefixes do not fit beside them, so for IPv6 peers: {}", where,
          notEbpf, v4.size(), program.length / 2, v6.size(), withoutFilter);
    }
  }

  /** Removes whatever filter is attached, so no old policy stays in the kernel. */
  private void detach() {
    detachAll();
    mode = KernelFilterMode.USER_SPACE;
  }

  private void detachAll() {
    for (int fd : fds) {
      int errno = Bpf.detach(fd);
      if (errno != 0 && errno != LinuxErrno.ENOENT) {
        log.warn("kernelFilter on {}: setsockopt(SO_DETACH_FILTER) failed: {} ({})", where, LinuxErrno.name(errno),
            Errors.describe(errno));
      }
    }
  }

  /** Lets go of the eBPF maps; called when the socket is closed. */
  synchronized void close() {
    if (ebpf != null) {
      ebpf.close();
      ebpf = null;
    }
  }

  /**
   * The program a listening TCP socket gets when it stops accepting: it drops every packet that
   * opens a handshake (SYN without ACK) and lets the rest through, so the handshakes under way
   * still complete into the accept queue while no new one starts. A socket filter sees the packet
   * from its TCP header on: byte 13 holds the flags.
   */
  static int[] handshakesUnderWayOnly() {
    int[] p = new int[2 * 5];
    int i = 0;
    i = put(p, i, LD_B_ABS, 0, 0, 13);     // A = TCP flags
    i = put(p, i, ALU_AND_K, 0, 0, 0x12);  // A = SYN | ACK bits
    i = put(p, i, JEQ_K, 0, 1, 0x02);      // SYN alone: a new handshake
    i = put(p, i, RET_K, 0, 0, DROP);
    put(p, i, RET_K, 0, 0, ACCEPT);
    return p;
  }

  /**
   * Attaches {@link #handshakesUnderWayOnly()} to the listening TCP socket {@code fd}, replacing
   * the policy's program: true if the kernel took it.
   */
  static boolean stopNewHandshakes(int fd) {
    return install(fd, handshakesUnderWayOnly()) == 0;
  }

  /** {@code SO_ATTACH_FILTER} with the program: 0, or the errno. */
  private static int install(int fd, int[] program) {
    int count = program.length / 2;
    Memory insns = new Memory(8L * count);
    for (int i = 0; i < count; i++) {
      // struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; } in native byte order
      int word = program[2 * i];
      insns.setShort(8L * i, (short) (word & 0xFFFF));
      insns.setByte(8L * i + 2, (byte) ((word >>> 16) & 0xFF));
      insns.setByte(8L * i + 3, (byte) ((word >>> 24) & 0xFF));
      insns.setInt(8L * i + 4, program[2 * i + 1]);
    }
    // struct sock_fprog { unsigned short len; struct sock_filter *filter; }: 16 bytes on 64-bit
    Memory fprog = new Memory(16);
    fprog.clear();
    fprog.setShort(0, (short) count);
    fprog.setPointer(8, insns);
    int[] asInts = fprog.getIntArray(0, 4);
    int errno = LibC.setsockopt(fd, LibC.SOL_SOCKET, SO_ATTACH_FILTER, asInts, 16) < 0 ? Errors.lastErrno() : 0;
    Pointer.nativeValue(insns); // keep the program reachable until the kernel has copied it
    return errno;
  }
}
