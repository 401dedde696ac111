package dev.portcullis.jna;

import com.sun.jna.Memory;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.spi.KernelRules;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The policy in the kernel as an eBPF socket filter that looks the source address up in a longest
 * prefix match trie ({@code BPF_MAP_TYPE_LPM_TRIE}), one per family, so a policy of any size is
 * decided in the kernel at the cost of one trie walk per packet.
 *
 * <p><b>The tries hold the policy's own rules.</b> The policy decides by the longest matching
 * prefix, deny winning at equal length, with a default when no rule matches; an LPM trie returns
 * the value of the longest matching prefix. So each rule is one entry (allow 1, deny 0), and the
 * default is the entry for {@code /0} (see {@link #entries}: a deny and an allow of one block are
 * one deny, and a rule that decides as its parent does is left out). The kernel and user space
 * then decide every address alike by construction; {@code EbpfFilterTest} checks it on random
 * policies through {@code BPF_PROG_TEST_RUN}. A generation is written in address order with one
 * {@code BPF_MAP_UPDATE_BATCH} call (one call an entry on kernels without it); nearly all of its
 * time is the kernel inserting into the trie.
 *
 * <p><b>Two generations and a switch.</b> The program does not hold the tries: it holds two
 * {@code BPF_MAP_TYPE_ARRAY_OF_MAPS} maps, one per family, whose slot 0 names the policy's live
 * trie and slot 1 the trie of banned blocks (the penalty box's bans, {@link #replaceBans}), kept
 * apart so that a ban does not rebuild a large policy. {@link #replace} builds the next
 * generation's tries completely, then points each slot at its new trie (one atomic pointer store
 * each; a packet in flight finishes on the trie it started with) and lets go of the old ones,
 * which the kernel frees once no packet uses them. At no moment does neither the old nor the new
 * policy apply. A failure while building leaves the old generation live; a failure of the second
 * family's switch (which only a kernel out of memory could cause) leaves the families on
 * different generations until the caller replaces the program ({@link KernelFilter} falls back to
 * classic BPF).
 *
 * <p><b>The program</b>, built here instruction by instruction (no compiler at build or run
 * time): read the IP version from the network header ({@code bpf_skb_load_bytes_relative}, so it
 * works on a TCP socket whose packet data starts at the TCP header); anything but IPv4 and IPv6 is
 * accepted for user space to decide; copy the source address into a trie key on the stack; drop
 * (return 0) if the bans' trie holds it; else look it up in the policy's trie and drop on a deny
 * entry; accept otherwise. Every jump goes forward, so it loads on every kernel that has the
 * helper (4.18+); inner tries of any size need 5.11+, where older kernels refuse the switch and
 * the caller falls back to classic BPF.
 */
final class EbpfFilter implements AutoCloseable {
  private static final int FUNC_MAP_LOOKUP_ELEM = 1;
  private static final int FUNC_SKB_LOAD_BYTES_RELATIVE = 68;
  private static final int HDR_START_NET = 1;

  /** The trie key: a host-order u32 prefix length, then the address in network order. */
  static final int V4_KEY = 4 + 4;
  static final int V6_KEY = 4 + 16;

  /** The slots of each family's {@code ARRAY_OF_MAPS}: the policy's trie, and the bans' trie. */
  static final int POLICY_SLOT = 0;
  static final int BANS_SLOT = 1;

  private final int outer4;
  private final int outer6;
  private final int program;
  private int generation;
  private int entries4;
  private int entries6;
  private int bans;
  private boolean closed;

  private EbpfFilter(int outer4, int outer6, int program) {
    this.outer4 = outer4;
    this.outer6 = outer6;
    this.program = program;
  }

  /**
   * Creates the maps and the program and puts the policy in as the first generation. Nothing is
   * attached yet ({@link #attachTo}). Throws, with nothing left open, if the kernel refuses any
   * step: {@code EPERM} without {@code CAP_BPF}, {@code EINVAL} on a kernel too old for tries of
   * any size in the slot.
   */
  static EbpfFilter load(KernelRules policy) throws Bpf.BpfException {
    List<Integer> open = new ArrayList<>();
    try {
      int template4 = track(open, Bpf.mapCreate("portcullis_v4", Bpf.MAP_TYPE_LPM_TRIE, V4_KEY, 1, 1,
          Bpf.F_NO_PREALLOC, 0));
      int template6 = track(open, Bpf.mapCreate("portcullis_v6", Bpf.MAP_TYPE_LPM_TRIE, V6_KEY, 1, 1,
          Bpf.F_NO_PREALLOC, 0));
      int outer4 = track(open, Bpf.mapCreate("portcullis_gen4", Bpf.MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0, template4));
      int outer6 = track(open, Bpf.mapCreate("portcullis_gen6", Bpf.MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0, template6));
      int program = track(open, Bpf.loadSocketFilter("portcullis", program(outer4, outer6), "Apache-2.0"));
      EbpfFilter filter = new EbpfFilter(outer4, outer6, program);
      filter.replace(policy);
      filter.replaceBans(List.of());
      LibC.close(template4); // the outer maps keep what they need of it
      LibC.close(template6);
      return filter;
    } catch (Bpf.BpfException | RuntimeException e) {
      for (int fd : open) {
        LibC.close(fd);
      }
      throw e;
    }
  }

  private static int track(List<Integer> open, int fd) {
    open.add(fd);
    return fd;
  }

  /** {@code SO_ATTACH_BPF} on the socket, replacing any filter it had: 0, or the errno. */
  int attachTo(int socketFd) {
    return Bpf.attach(socketFd, program);
  }

  /**
   * Makes {@code policy} the live generation: builds both tries, then switches the slots. On a
   * failure the old generation stays live and the exception says which step failed.
   */
  synchronized void replace(KernelRules policy) throws Bpf.BpfException {
    if (closed) {
      throw new IllegalStateException("the eBPF filter is closed");
    }
    List<Entry> v4 = entries(policy, 4);
    List<Entry> v6 = entries(policy, 6);
    int next = generation + 1;
    switchIn(POLICY_SLOT, String.valueOf(next), v4, v6);
    generation = next;
    entries4 = v4.size();
    entries6 = v6.size();
  }

  /**
   * Makes {@code banned} the blocks dropped besides the policy's denied ones (the penalty box's
   * bans), in a trie of their own per family, switched in as {@link #replace} switches the
   * policy's; the policy's tries are not touched, however large.
   */
  synchronized void replaceBans(List<Cidr> banned) throws Bpf.BpfException {
    if (closed) {
      throw new IllegalStateException("the eBPF filter is closed");
    }
    List<Entry> v4 = new ArrayList<>();
    List<Entry> v6 = new ArrayList<>();
    List<Cidr> inOrder = new ArrayList<>(banned);
    inOrder.sort(null); // address order: the kernel inserts it fastest
    for (Cidr c : inOrder) {
      (c.isIpv4() ? v4 : v6).add(Entry.of(c, false));
    }
    switchIn(BANS_SLOT, "ban", v4, v6);
    bans = banned.size();
  }

  /**
   * Builds a trie per family and points {@code slot} of each family's array at it. On success the
   * slots hold the tries; on failure they are dropped. Either way our descriptors go (a slot not
   * yet switched still names the old trie).
   */
  private void switchIn(int slot, String generation, List<Entry> v4, List<Entry> v6) throws Bpf.BpfException {
    int trie4 = -1;
    int trie6 = -1;
    try {
      trie4 = trie("portcullis4_" + generation, V4_KEY, v4);
      trie6 = trie("portcullis6_" + generation, V6_KEY, v6);
      setSlot(outer4, slot, trie4);
      setSlot(outer6, slot, trie6);
    } finally {
      if (trie4 >= 0) {
        LibC.close(trie4);
      }
      if (trie6 >= 0) {
        LibC.close(trie6);
      }
    }
  }

  /** The blocks in the live bans' tries. */
  synchronized int bans() {
    return bans;
  }

  /** The live generation: 1 for the policy {@link #load} put in, one more for each replace. */
  synchronized int generation() {
    return generation;
  }

  /** The entries of the live IPv4 trie ({@link #entries}: fewer than the rules where some are redundant). */
  synchronized int ipv4Entries() {
    return entries4;
  }

  /** The entries of the live IPv6 trie. */
  synchronized int ipv6Entries() {
    return entries6;
  }

  /** The program's descriptor, for tests ({@link Bpf#testRun}). */
  int programFd() {
    return program;
  }

  /**
   * The trie entries of one family: the policy's decisions, as few entries as decide alike, in
   * the order that the kernel inserts fastest.
   *
   * <ul>
   *   <li>Every rule of the family; a deny and an allow of the same block are one deny (deny wins
   *       at equal length, as in the policy). The default is the {@code /0} entry unless a rule
   *       is {@code /0}.
   *   <li>In address order, a block before the blocks inside it (inserting in address order takes
   *       about half the kernel's time of rule order, measured with 100,000 rules).
   *   <li>An entry whose decision is its parent's (the longest entry that contains it) is left
   *       out: every address it decides, its parent decides alike, and the entries inside it are
   *       longer matches either way. The {@code /0} entry always stays.
   * </ul>
   */
  static List<Entry> entries(KernelRules policy, int family) {
    List<KernelRules.Block> rules = new ArrayList<>();
    for (KernelRules.Block r : policy.blocks()) {
      if (r.cidr().isIpv4() == (family == 4)) {
        rules.add(r);
      }
    }
    int n = rules.size();
    long[] hi = new long[n];
    long[] lo = new long[n];
    int[] bits = new int[n];
    for (int i = 0; i < n; i++) {
      Entry e = Entry.of(rules.get(i).cidr(), true);
      hi[i] = e.hi;
      lo[i] = e.lo;
      bits[i] = e.bits;
    }
    // By address, a block before the blocks inside it, so the same block's rules meet and each
    // block's enclosing blocks come before it. A sort of primitive keys: sorting the rule objects
    // themselves took longer than the kernel's inserts.
    int[] order = sortedOrder(hi, lo, bits);
    List<Entry> out = new ArrayList<>();
    java.util.ArrayDeque<Entry> enclosing = new java.util.ArrayDeque<>();
    int k = 0;
    boolean rootAllow = policy.defaultAllow();
    if (n > 0 && bits[order[0]] == 0) {
      rootAllow = true; // a /0 rule replaces the default; deny wins
      for (; k < n && bits[order[k]] == 0; k++) {
        rootAllow &= rules.get(order[k]).allow();
      }
    }
    Entry root = new Entry(family, 0, 0, 0, rootAllow);
    out.add(root);
    enclosing.push(root);
    while (k < n) {
      int first = order[k];
      boolean allow = true;
      for (; k < n && hi[order[k]] == hi[first] && lo[order[k]] == lo[first] && bits[order[k]] == bits[first]; k++) {
        allow &= rules.get(order[k]).allow(); // a deny and an allow of one block: a deny
      }
      Entry e = new Entry(family, hi[first], lo[first], bits[first], allow);
      while (!enclosing.peek().contains(e)) {
        enclosing.pop(); // never the root, which contains every block
      }
      if (enclosing.peek().allow != allow) {
        out.add(e);
      }
      enclosing.push(e);
    }
    return out;
  }

  /** The indices 0..n-1 ordered by (hi, lo) unsigned, then bits: a merge sort on primitives. */
  static int[] sortedOrder(long[] hi, long[] lo, int[] bits) {
    int n = hi.length;
    int[] a = new int[n];
    for (int i = 0; i < n; i++) {
      a[i] = i;
    }
    int[] b = new int[n];
    for (int width = 1; width < n; width *= 2) {
      for (int start = 0; start < n; start += 2 * width) {
        int mid = Math.min(start + width, n);
        int end = Math.min(start + 2 * width, n);
        int i = start;
        int j = mid;
        int o = start;
        while (i < mid && j < end) {
          b[o++] = before(a[j], a[i], hi, lo, bits) ? a[j++] : a[i++]; // stable: ties keep the left
        }
        while (i < mid) {
          b[o++] = a[i++];
        }
        while (j < end) {
          b[o++] = a[j++];
        }
      }
      int[] t = a;
      a = b;
      b = t;
    }
    return a;
  }

  private static boolean before(int x, int y, long[] hi, long[] lo, int[] bits) {
    int c = Long.compareUnsigned(hi[x], hi[y]);
    if (c == 0) {
      c = Long.compareUnsigned(lo[x], lo[y]);
    }
    return c != 0 ? c < 0 : bits[x] < bits[y];
  }

  /**
   * A trie entry: a block as a 128-bit value ({@code hi}, {@code lo}; an IPv4 address in the top
   * 32 bits of {@code hi}) and its length in bits, and its decision.
   */
  record Entry(int family, long hi, long lo, int bits, boolean allow) {
    static Entry of(Cidr c, boolean allow) {
      byte[] b = c.network().getAddress();
      long h = c.isIpv4() ? IpAddresses.bits(b, 0, 4) << 32 : IpAddresses.bits(b, 0, 8);
      long l = c.isIpv4() ? 0 : IpAddresses.bits(b, 8, 8);
      return new Entry(c.isIpv4() ? 4 : 6, h, l, c.prefixLength(), allow);
    }

    /** Whether {@code inner}'s block lies within this one's. */
    boolean contains(Entry inner) {
      if (inner.bits < bits) {
        return false;
      }
      long maskHi = bits == 0 ? 0 : bits >= 64 ? -1L : -1L << (64 - bits);
      long maskLo = bits <= 64 ? 0 : -1L << (128 - bits);
      return (inner.hi & maskHi) == hi && (inner.lo & maskLo) == lo;
    }

    /** The key's data: the address in network order, 4 or 16 bytes, written at {@code offset}. */
    void writeAddress(Memory keys, long offset) {
      if (family == 4) {
        keys.setInt(offset, Integer.reverseBytes((int) (hi >>> 32))); // big-endian in memory
      } else {
        keys.setLong(offset, Long.reverseBytes(hi));
        keys.setLong(offset + 8, Long.reverseBytes(lo));
      }
    }

    @Override
    public String toString() {
      byte[] b = new byte[family == 4 ? 4 : 16];
      for (int i = 0; i < b.length; i++) {
        b[i] = (byte) (i < 8 ? hi >>> (56 - 8 * i) : lo >>> (56 - 8 * (i - 8)));
      }
      return (allow ? "allow " : "deny ") + Cidr.of(IpAddresses.fromBytes(b), bits);
    }
  }

  private static int trie(String name, int keySize, List<Entry> entries) throws Bpf.BpfException {
    int n = entries.size();
    int fd = Bpf.mapCreate(name, Bpf.MAP_TYPE_LPM_TRIE, keySize, 1, Math.max(1, n), Bpf.F_NO_PREALLOC, 0);
    if (n == 0) {
      return fd; // an empty trie: no lookup matches
    }
    try {
      Memory keys = new Memory((long) keySize * n);
      Memory values = new Memory(n);
      for (int i = 0; i < n; i++) {
        Entry e = entries.get(i);
        keys.setInt((long) keySize * i, e.bits());
        e.writeAddress(keys, (long) keySize * i + 4);
        values.setByte(i, (byte) (e.allow() ? 1 : 0));
      }
      Bpf.updateAll(fd, keys, keySize, values, 1, n);
      return fd;
    } catch (Bpf.BpfException | RuntimeException e) {
      LibC.close(fd);
      throw e;
    }
  }

  private static void setSlot(int outer, int slot, int trie) throws Bpf.BpfException {
    Memory key = new Memory(4);
    key.setInt(0, slot);
    Memory value = new Memory(4);
    value.setInt(0, trie);
    Bpf.update(Bpf.updateAttr(outer, key, value));
  }

  @Override
  public synchronized void close() {
    if (!closed) {
      closed = true;
      LibC.close(program);
      LibC.close(outer4);
      LibC.close(outer6);
    }
  }

  // ---- the program ----

  private static final int R0 = 0;
  private static final int R1 = 1;
  private static final int R2 = 2;
  private static final int R3 = 3;
  private static final int R4 = 4;
  private static final int R5 = 5;
  private static final int R6 = 6;
  private static final int FP = 10;
  /** Stack: the version byte, the slot key (0), then the trie key (prefix length, address). */
  private static final int VERSION = -32;
  private static final int SLOT_KEY = -28;
  private static final int KEY = -24;

  /** The socket filter's instructions, {@code struct bpf_insn} in native (little-endian) order. */
  static byte[] program(int outer4, int outer6) {
    Asm a = new Asm();
    a.mov64Reg(R6, R1);                                    // r6 = the __sk_buff, kept across calls
    a.loadRelative(0, FP, VERSION, 1);                     // the first byte of the network header
    a.jumpImm(Asm.JNE, R0, 0, "accept");                   // could not read it: user space decides
    a.ldxb(R0, FP, VERSION);
    a.alu64Imm(Asm.RSH, R0, 4);                            // the IP version
    a.jumpImm(Asm.JEQ, R0, 4, "v4");
    a.jumpImm(Asm.JEQ, R0, 6, "v6");
    a.jump("accept");                                      // neither: user space decides
    a.label("v4");
    family(a, 12, 4, 32, outer4);                          // IPv4: the source address at 12
    a.label("v6");
    family(a, 8, 16, 128, outer6);                         // IPv6: the source address at 8
    a.label("accept");
    a.mov32Imm(R0, -1);                                    // keep the whole packet
    a.exit();
    return a.bytes();
  }

  private static void family(Asm a, int offset, int length, int prefixLength, int outer) {
    String policy = "policy" + prefixLength;
    String drop = "drop" + prefixLength;
    a.stw(FP, KEY, prefixLength);                          // key.prefixlen = the full address
    a.loadRelative(offset, FP, KEY + 4, length);           // key.data = the source address
    a.jumpImm(Asm.JNE, R0, 0, "accept");
    lookUpSlot(a, outer, BANS_SLOT, policy);               // r0 = the bans' trie, or to the policy
    a.mov64Reg(R1, R0);
    a.mov64Reg(R2, FP);
    a.alu64Imm(Asm.ADD, R2, KEY);
    a.call(FUNC_MAP_LOOKUP_ELEM);                          // banned: drop, whatever the policy says
    a.jumpImm(Asm.JNE, R0, 0, drop);
    a.label(policy);
    lookUpSlot(a, outer, POLICY_SLOT, "accept");           // r0 = the policy's live trie
    a.mov64Reg(R1, R0);
    a.mov64Reg(R2, FP);
    a.alu64Imm(Asm.ADD, R2, KEY);
    a.call(FUNC_MAP_LOOKUP_ELEM);                          // r0 = the longest matching rule's value
    a.jumpImm(Asm.JEQ, R0, 0, "accept");
    a.ldxb(R0, R0, 0);
    a.jumpImm(Asm.JNE, R0, 0, "accept");                   // allow
    a.label(drop);
    a.mov32Imm(R0, 0);                                     // deny: drop the packet
    a.exit();
  }

  /** {@code r0 = outer[slot]}, the trie it names; to {@code ifEmpty} when the slot holds none. */
  private static void lookUpSlot(Asm a, int outer, int slot, String ifEmpty) {
    a.stw(FP, SLOT_KEY, slot);
    a.ldMapFd(R1, outer);
    a.mov64Reg(R2, FP);
    a.alu64Imm(Asm.ADD, R2, SLOT_KEY);
    a.call(FUNC_MAP_LOOKUP_ELEM);
    a.jumpImm(Asm.JEQ, R0, 0, ifEmpty);
  }

  /** A tiny eBPF assembler: the few instructions the filter needs, with forward labels. */
  static final class Asm {
    static final int JEQ = 0x10;
    static final int JNE = 0x50;
    static final int ADD = 0x00;
    static final int RSH = 0x70;
    private static final int CLASS_JMP = 0x05;
    private static final int CLASS_ALU64 = 0x07;

    private final List<long[]> insns = new ArrayList<>(); // {code, dst, src, off, imm}
    private final Map<String, Integer> labels = new LinkedHashMap<>();
    private final Map<Integer, String> fixups = new LinkedHashMap<>();

    private void emit(int code, int dst, int src, int off, int imm) {
      insns.add(new long[] {code, dst, src, off, imm});
    }

    void label(String name) {
      labels.put(name, insns.size());
    }

    void mov64Reg(int dst, int src) {
      emit(CLASS_ALU64 | 0xb0 | 0x08, dst, src, 0, 0);
    }

    void mov64Imm(int dst, int imm) {
      emit(CLASS_ALU64 | 0xb0, dst, 0, 0, imm);
    }

    void mov32Imm(int dst, int imm) {
      emit(0x04 | 0xb0, dst, 0, 0, imm);
    }

    void alu64Imm(int op, int dst, int imm) {
      emit(CLASS_ALU64 | op, dst, 0, 0, imm);
    }

    /** {@code dst = *(u8 *)(src + off)}. */
    void ldxb(int dst, int src, int off) {
      emit(0x61 | 0x10, dst, src, off, 0);
    }

    /** {@code *(u32 *)(dst + off) = imm}. */
    void stw(int dst, int off, int imm) {
      emit(0x62, dst, 0, off, imm);
    }

    /** {@code dst = map} by descriptor: the two-slot {@code ld_imm64} the loader resolves. */
    void ldMapFd(int dst, int mapFd) {
      emit(0x18, dst, 1, 0, mapFd); // src_reg 1: BPF_PSEUDO_MAP_FD
      emit(0, 0, 0, 0, 0);
    }

    void call(int helper) {
      emit(CLASS_JMP | 0x80, 0, 0, 0, helper);
    }

    void exit() {
      emit(CLASS_JMP | 0x90, 0, 0, 0, 0);
    }

    void jumpImm(int op, int dst, int imm, String label) {
      fixups.put(insns.size(), label);
      emit(CLASS_JMP | op, dst, 0, 0, imm);
    }

    void jump(String label) {
      fixups.put(insns.size(), label);
      emit(CLASS_JMP, 0, 0, 0, 0);
    }

    /** {@code r0 = bpf_skb_load_bytes_relative(skb = r6, offset, fp + to, length, network header)}. */
    void loadRelative(int offset, int base, int to, int length) {
      mov64Reg(R1, R6);
      mov64Imm(R2, offset);
      mov64Reg(R3, base);
      alu64Imm(ADD, R3, to);
      mov64Imm(R4, length);
      mov64Imm(R5, HDR_START_NET);
      call(FUNC_SKB_LOAD_BYTES_RELATIVE);
    }

    byte[] bytes() {
      for (Map.Entry<Integer, String> f : fixups.entrySet()) {
        Integer target = labels.get(f.getValue());
        if (target == null || target <= f.getKey()) {
          throw new IllegalStateException("jump " + f.getKey() + " to " + f.getValue() + ": not a forward label");
        }
        insns.get(f.getKey())[3] = target - f.getKey() - 1;
      }
      ByteArrayOutputStream out = new ByteArrayOutputStream(insns.size() * 8);
      for (long[] i : insns) {
        out.write((int) i[0]);
        out.write((int) (i[1] | (i[2] << 4)));
        out.write((int) (i[3] & 0xFF));
        out.write((int) ((i[3] >> 8) & 0xFF));
        int imm = (int) i[4];
        out.write(imm & 0xFF);
        out.write((imm >>> 8) & 0xFF);
        out.write((imm >>> 16) & 0xFF);
        out.write((imm >>> 24) & 0xFF);
      }
      return out.toByteArray();
    }
  }
}
