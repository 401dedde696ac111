package dev.portcullis.jna;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Rule;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Compiles an access policy into a classic BPF socket filter ({@code SO_ATTACH_FILTER}) that drops
 * packets from denied IPv4 addresses before they reach the listening socket.
 *
 * <p>The program reads the IP version from the network header ({@code SKF_NET_OFF}); anything but
 * IPv4 is accepted and left to the user-space check. For IPv4 it loads the source address and
 * walks the denied ranges, three instructions each ({@code jge lo}, {@code jgt hi}, {@code ret 0}),
 * so every jump is short; past the last range it accepts. The denied ranges come from the policy's
 * own decisions: every IPv4 rule boundary starts a segment, each segment is decided by {@link
 * AccessPolicy#decideIpv4}, and neighbouring denied segments are merged, so the kernel and user
 * space cannot disagree.
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
  private static final int ACCEPT = 0xFFFF_FFFF;
  private static final int DROP = 0;

  private KernelFilter() {}

  /** The denied IPv4 ranges of the policy, as inclusive unsigned pairs {lo, hi}, merged and sorted. */
  static List<long[]> deniedIpv4(AccessPolicy policy) {
    TreeSet<Long> starts = new TreeSet<>();
    starts.add(0L);
    for (Rule r : policy.rules()) {
      Cidr c = r.cidr();
      if (!c.isIpv4()) {
        continue;
      }
      byte[] b = c.network().getAddress();
      long start = ((b[0] & 0xFFL) << 24) | ((b[1] & 0xFFL) << 16) | ((b[2] & 0xFFL) << 8) | (b[3] & 0xFFL);
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
      if (policy.decideIpv4((int) lo).isAllowed()) {
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

  /** The program as (code | jt << 16 | jf << 24, k) pairs, or null if it would be too long. */
  static int[] compile(AccessPolicy policy) {
    List<long[]> denied = deniedIpv4(policy);
    int length = 5 + 3 * denied.size() + 1;
    if (length > BPF_MAXINSNS) {
      return null;
    }
    int[] p = new int[2 * length];
    int i = 0;
    i = put(p, i, LD_B_ABS, 0, 0, SKF_NET_OFF);       // A = version << 4 | IHL
    i = put(p, i, ALU_RSH_K, 0, 0, 4);               // A = version
    i = put(p, i, JEQ_K, 1, 0, 4);                   // IPv4? skip the accept
    i = put(p, i, RET_K, 0, 0, ACCEPT);              // not IPv4: user space decides
    i = put(p, i, LD_W_ABS, 0, 0, SKF_NET_OFF + 12); // A = source address
    for (long[] r : denied) {
      i = put(p, i, JGE_K, 0, 2, (int) r[0]);        // below lo: next range
      i = put(p, i, JGT_K, 1, 0, (int) r[1]);        // above hi: next range
      i = put(p, i, RET_K, 0, 0, DROP);              // inside: drop
    }
    put(p, i, RET_K, 0, 0, ACCEPT);
    return p;
  }

  private static int put(int[] p, int i, int code, int jt, int jf, int k) {
    p[2 * i] = code | (jt << 16) | (jf << 24);
    p[2 * i + 1] = k;
    return i + 1;
  }

  /**
   * Attaches the policy's filter to {@code fd}; on any refusal logs one line and returns false,
   * leaving the socket to the user-space check.
   */
  static boolean attach(int fd, AccessPolicy policy, String where) {
    int[] program = compile(policy);
    if (program == null) {
      log.warn("kernelFilter on {}: the policy has {} denied IPv4 ranges, more than one BPF program holds"
          + " ({}); filtering in user space only", where, deniedIpv4(policy).size(), (BPF_MAXINSNS - 6) / 3);
      return false;
    }
    int errno = install(fd, program);
    if (errno != 0) {
      log.warn("kernelFilter on {}: setsockopt(SO_ATTACH_FILTER) failed: {} ({}); filtering in user space only",
          where, LinuxErrno.name(errno), Errors.describe(errno));
      return false;
    }
    log.info("kernelFilter on {}: the kernel drops packets from {} denied IPv4 range(s) ({} instructions)", where,
        deniedIpv4(policy).size(), program.length / 2);
    return true;
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
