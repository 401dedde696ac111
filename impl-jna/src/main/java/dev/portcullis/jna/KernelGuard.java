package dev.portcullis.jna;

import dev.portcullis.spi.KernelFilterMode;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Durations;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.spi.KernelRules;
import dev.portcullis.spi.LogThrottle;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Portcullis policy and a ban list in the kernel, in front of a listening socket that another
 * server opened: a JDK {@link ServerSocketChannel} or {@link ServerSocket} (what Jetty, Tomcat,
 * Netty's NIO transport and gRPC's Netty server listen on), a Netty epoll server channel, or any
 * listening TCP descriptor. The same socket filter as {@code Server.kernelFilter()}: eBPF where
 * the process may load it, else classic BPF. A denied peer's SYN is dropped by the kernel, so it
 * never completes the TCP handshake, and the guarded server never accepts it, never sees it and
 * never counts it.
 *
 * <pre>{@code
 * ServerSocketChannel channel = ServerSocketChannel.open().bind(new InetSocketAddress(8080));
 * KernelGuard guard = KernelGuard.attach(channel, AccessPolicy.parse("allow 10.0.0.0/8\n"));
 * guard.mode();                                  // EBPF, or CLASSIC without CAP_BPF
 * guard.ban("10.1.2.3", Duration.ofMinutes(10)); // dropped in the kernel for ten minutes
 * guard.updatePolicy(AccessPolicy.load(Path.of("/etc/myapp/access.rules"))); // live
 * guard.lift("10.1.2.3");
 * guard.detach();                                // the socket takes every peer again
 * }</pre>
 *
 * <p>For a Netty epoll server, pass the descriptor (the guard takes an {@code int}, so this module
 * does not depend on Netty): {@code KernelGuard.attachFd(((EpollServerSocketChannel)
 * bound.channel()).fd().intValue(), policy)}. Jetty's {@code ServerConnector.getTransport()} is the
 * {@code ServerSocketChannel} to pass once the connector is started.
 *
 * <p><b>Finding the socket.</b> A JDK channel does not tell its descriptor, so {@link
 * #attach(ServerSocketChannel, AccessPolicy)} looks for it with public means: it lists {@code
 * /proc/self/fd} and keeps the sockets that are listening ({@code SO_ACCEPTCONN}) and bound
 * ({@code getsockname}) to the channel's local address (the wildcard {@code 0.0.0.0} and {@code ::}
 * match each other, as the JDK binds a dual-stack socket to {@code ::} when asked for {@code
 * 0.0.0.0}). When several match, which only {@code SO_REUSEPORT} allows (for example one socket per
 * event loop), the guard attaches to <em>all</em> of them: they share the port and the kernel
 * spreads the connections among them, so they are one service, and guarding some of them would let
 * denied peers in through the others. {@link #descriptors()} lists what it attached to. The guard
 * remembers each socket's inode, so a descriptor number that the guarded server closed and the
 * process reused for another socket is never touched: the next call says the socket is gone.
 *
 * <p><b>Bans.</b> {@link #ban(String, Duration)} drops a block (an address or a CIDR) until the
 * duration passes; one daemon thread, {@code portcullis-kernel-guard-bans}, shared by every guard,
 * lifts bans when they expire. At most {@link #DEFAULT_MAX_BANS} bans per guard (change it with
 * {@link #maxBans(int)}): a ban past the bound is refused ({@code ban} returns false and one
 * throttled line says so), so a flood of offenders cannot make the guard hold without bound.
 * {@link #updateBans(Collection)} is for a ban list kept elsewhere (a penalty box): it replaces
 * that list whole; the kernel drops both. Each change rebuilds the bans' trie (eBPF) or the
 * program (classic), so a change costs time in the number of bans.
 *
 * <p><b>Fed by a penalty box.</b> An {@link dev.portcullis.admission.AdmissionChain} with a penalty
 * box (the Netty or Jetty adapter's, or one of your own) says when its bans change; hand its
 * {@code directBans()} to the guard from a {@link dev.portcullis.PenaltyListener}, which is called
 * off the event loops, so bans from failed handshakes, from the application's {@code
 * reportOffence} and from external {@code ban}s (CrowdSec) are dropped in the kernel:
 *
 * <pre>{@code
 * AdmissionChain chain = AdmissionChain.builder().policy(policy)
 *     .penalties(Penalties.after(5, Duration.ofMinutes(1))).build();
 * KernelGuard guard = KernelGuard.attach(channel, policy);
 * chain.addPenaltyListener(new PenaltyListener() {
 *   public void banned(Penalty p, String reason, boolean external) {
 *     guard.updateBans(chain.directBans());
 *   }
 *
 *   public void lifted(Cidr range, String reason) {
 *     guard.updateBans(chain.directBans());
 *   }
 * });
 * // ... in a request handler:
 * chain.reportOffence(clientAddress, 1, "bad login"); // the fifth within a minute: dropped in the kernel
 * }</pre>
 *
 * Expired bans leave the list when the chain's housekeeping ({@code sweepPenalties()}, once a
 * second) lifts them. The guard's own {@link #ban} and the penalty box's bans are kept apart.
 *
 * <p><b>What it cannot do.</b>
 * <ul>
 *   <li>It decides on the socket's peer, the source address of the packets: behind a proxy or a
 *       load balancer that does not keep the client's address, every connection comes from the
 *       proxy, and the guard can allow or deny only the proxy. Use it for what reaches the socket
 *       directly, and decide on the relayed client in the server (Portcullis's PROXY protocol
 *       step, or the Netty and Jetty adapters).
 *   <li>eBPF needs {@code CAP_BPF} (or root) and Linux 5.11+. Without it, classic BPF holds the
 *       policy and the bans in one program of at most 4,096 instructions: about 1,300 denied IPv4
 *       ranges; a ban that does not fit is refused, a policy that does not fit is refused ({@link
 *       #updatePolicy} throws and no filter stays attached), and where the IPv6 prefixes do not fit
 *       beside the IPv4 ranges only IPv4 is filtered ({@link KernelFilterMode#CLASSIC_IPV4}: IPv6
 *       peers are then not filtered at all).
 *   <li>It filters TCP sockets (IPv4, IPv6, dual-stack), not Unix domain sockets, and only the
 *       address: no limits, no handshake, no rule hits (the guarded server never sees a denied
 *       peer to count it).
 *   <li>It filters what arrives after it is attached: connections already in the accept queue or
 *       accepted stay.
 * </ul>
 *
 * <p>Thread-safe: every method may be called from any thread. Linux only.
 */
public final class KernelGuard implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(KernelGuard.class);

  /** How many bans a guard holds unless {@link #maxBans(int)} says otherwise: 10,000. */
  public static final int DEFAULT_MAX_BANS = 10_000;

  /** The one thread that lifts expired bans, for every guard; made when the first ban is. */
  private static ScheduledThreadPoolExecutor expirer;

  /** One guarded socket: its descriptor, the socket's inode when attached, and its filter. */
  private static final class Target {
    final int fd;
    final String inode;
    final KernelFilter filter;

    Target(int fd, String inode, KernelFilter filter) {
      this.fd = fd;
      this.inode = inode;
      this.filter = filter;
    }
  }

  private final String where;
  private final List<Target> targets;
  private AccessPolicy policy;
  /** The guard's own bans and when each ends ({@link System#nanoTime()}). */
  private final Map<Cidr, Long> timed = new TreeMap<>();
  /** The bans given with {@link #updateBans}, kept by whoever gave them. */
  private List<Cidr> given = List.of();
  private int maxBans = DEFAULT_MAX_BANS;
  private ScheduledFuture<?> expiry;
  private long expiryAt;
  private String gone; // why the guard no longer holds its sockets, or null
  private final LogThrottle refusedBans = LogThrottle.every(10, TimeUnit.SECONDS);
  private long refusedBanCount;

  private KernelGuard(String where, List<Target> targets, AccessPolicy policy) {
    this.where = where;
    this.targets = targets;
    this.policy = policy;
  }

  /**
   * Guards the listening socket of a JDK channel, as Jetty's {@code ServerConnector}, Tomcat's NIO
   * connector, Netty's {@code NioServerSocketChannel} and gRPC's Netty server open it: finds its
   * descriptor (and any other listening socket of this process on the same address, see the class
   * comment) and attaches the policy's filter.
   *
   * <pre>{@code
   * KernelGuard guard = KernelGuard.attach(channel, AccessPolicy.parse("allow 127.0.0.1\n"));
   * }</pre>
   *
   * @param channel a bound TCP channel of this process, open
   * @param policy what the kernel lets through; the policy's default decides what no rule names
   * @return the guard, attached; {@link #detach()} or {@link #close()} removes it
   * @throws SocketException if the channel is closed, not bound, not TCP, if no listening socket
   *     of this process is bound to its address, or if the kernel takes no filter for the policy
   *     (the message names the address and says why)
   */
  public static KernelGuard attach(ServerSocketChannel channel, AccessPolicy policy) throws SocketException {
    Objects.requireNonNull(channel, "channel");
    Objects.requireNonNull(policy, "policy");
    SocketAddress local;
    try {
      local = channel.getLocalAddress();
    } catch (IOException e) {
      SocketAddress last = lastAddress(channel);
      throw new SocketException("The ServerSocketChannel" + (last == null ? "" : " on " + IpAddresses.format(last))
          + " is closed: there is no socket to guard");
    }
    if (local == null) {
      throw new SocketException("The ServerSocketChannel is not bound: bind it (it then listens) before guarding it");
    }
    return attachTo(local, "ServerSocketChannel", policy);
  }

  /**
   * Guards the listening socket of a JDK {@link ServerSocket}, as {@link #attach(ServerSocketChannel,
   * AccessPolicy)} does a channel's.
   *
   * <pre>{@code
   * ServerSocket server = new ServerSocket(8080);
   * KernelGuard guard = KernelGuard.attach(server, AccessPolicy.parse("allow 192.168.0.0/16\n"));
   * }</pre>
   *
   * @param socket a bound server socket of this process, open
   * @param policy what the kernel lets through
   * @return the guard, attached
   * @throws SocketException if the socket is closed or not bound, if no listening socket of this
   *     process is bound to its address, or if the kernel takes no filter for the policy
   */
  public static KernelGuard attach(ServerSocket socket, AccessPolicy policy) throws SocketException {
    Objects.requireNonNull(socket, "socket");
    Objects.requireNonNull(policy, "policy");
    SocketAddress local = socket.getLocalSocketAddress(); // still the address once closed
    if (socket.isClosed()) {
      throw new SocketException("The ServerSocket" + (local == null ? "" : " on " + IpAddresses.format(local))
          + " is closed: there is no socket to guard");
    }
    if (local == null) {
      throw new SocketException("The ServerSocket is not bound: bind it before guarding it");
    }
    return attachTo(local, "ServerSocket", policy);
  }

  /**
   * Guards the listening TCP socket with descriptor {@code fd}: a Netty epoll server channel's
   * ({@code ((EpollServerSocketChannel) channel).fd().intValue()}), one inherited from systemd, or
   * any other this process holds. Only that descriptor is guarded, even with {@code SO_REUSEPORT}.
   *
   * <pre>{@code
   * int fd = ((EpollServerSocketChannel) bootstrap.bind(8080).sync().channel()).fd().intValue();
   * KernelGuard guard = KernelGuard.attachFd(fd, AccessPolicy.parse("allow 10.0.0.0/8\n"));
   * }</pre>
   *
   * @param fd an open descriptor of this process: a TCP socket (IPv4 or IPv6), listening
   * @param policy what the kernel lets through
   * @return the guard, attached
   * @throws SocketException if {@code fd} is not open, not a socket, not TCP, not listening, or if
   *     the kernel takes no filter for the policy; the message names the descriptor and its address
   * @throws IllegalArgumentException if {@code fd} is negative
   */
  public static KernelGuard attachFd(int fd, AccessPolicy policy) throws SocketException {
    Objects.requireNonNull(policy, "policy");
    if (fd < 0) {
      throw new IllegalArgumentException("fd " + fd + " is not a descriptor: descriptors are 0 or more");
    }
    String what = "fd " + fd;
    int[] value = new int[1];
    if (LibC.getsockopt(fd, LibC.SOL_SOCKET, LibC.SO_TYPE, value, new int[] {4}) < 0) {
      int errno = Errors.lastErrno();
      if (errno == LinuxErrno.EBADF) {
        throw new SocketException(what + " is not an open descriptor of this process");
      }
      if (errno == LinuxErrno.ENOTSOCK) {
        throw new SocketException(what + " is not a socket (" + link(fd) + ")");
      }
      throw Errors.exception("getsockopt(" + what + ", SO_TYPE)", errno);
    }
    int domain = Sockets.getInt(fd, LibC.SOL_SOCKET, LibC.SO_DOMAIN, "SO_DOMAIN");
    if (domain != LibC.AF_INET && domain != LibC.AF_INET6) {
      throw new SocketException(what + " is a socket of family " + domain + (domain == LibC.AF_UNIX
          ? " (a Unix domain socket)" : "") + "; the kernel guard filters TCP sockets (AF_INET, AF_INET6)");
    }
    SocketAddress local = Sockets.localAddress(fd);
    if (value[0] != LibC.SOCK_STREAM) {
      throw new SocketException(what + " (" + IpAddresses.format(local) + ") is not a stream socket (SO_TYPE "
          + value[0] + "); the kernel guard filters TCP listening sockets");
    }
    if (Sockets.getInt(fd, LibC.SOL_SOCKET, LibC.SO_ACCEPTCONN, "SO_ACCEPTCONN") == 0) {
      throw new SocketException(what + " (" + IpAddresses.format(local) + ") is not listening (SO_ACCEPTCONN is 0):"
          + " guard a server's listening socket once it listens");
    }
    return attach(IpAddresses.format(local), new int[] {fd}, policy);
  }

  /** The address a closed channel was bound to, if the JDK still knows it. */
  private static SocketAddress lastAddress(ServerSocketChannel channel) {
    try {
      return channel.socket().getLocalSocketAddress();
    } catch (RuntimeException e) { // a Unix domain channel has no ServerSocket
      return null;
    }
  }

  private static KernelGuard attachTo(SocketAddress local, String kind, AccessPolicy policy) throws SocketException {
    if (!(local instanceof InetSocketAddress)) {
      throw new SocketException("The " + kind + " on " + IpAddresses.format(local) + " is not a TCP socket; the kernel"
          + " guard filters TCP sockets (AF_INET, AF_INET6)");
    }
    InetSocketAddress address = (InetSocketAddress) local;
    int[] fds = listening(address);
    if (fds.length == 0) {
      throw new SocketException("No listening socket of this process is bound to " + IpAddresses.format(address)
          + " (looked in /proc/self/fd): is the " + kind + " closed, or not listening yet?");
    }
    return attach(IpAddresses.format(address), fds, policy);
  }

  /**
   * The descriptors in {@code /proc/self/fd} of TCP sockets listening on {@code address} (the
   * wildcards {@code 0.0.0.0} and {@code ::} match each other), in ascending order.
   */
  static int[] listening(InetSocketAddress address) throws SocketException {
    List<Integer> found = new ArrayList<>();
    try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
      for (Path p : fds) {
        int fd;
        try {
          fd = Integer.parseInt(p.getFileName().toString());
        } catch (NumberFormatException e) {
          continue;
        }
        if (!link(fd).startsWith("socket:")) {
          continue;
        }
        int[] value = new int[1];
        if (LibC.getsockopt(fd, LibC.SOL_SOCKET, LibC.SO_ACCEPTCONN, value, new int[] {4}) < 0 || value[0] == 0) {
          continue;
        }
        byte[] sa = new byte[SockAddr.STORAGE_LENGTH];
        int[] length = {sa.length};
        if (LibC.getsockname(fd, sa, length) < 0) {
          continue;
        }
        int family = SockAddr.family(sa);
        if ((family == LibC.AF_INET || family == LibC.AF_INET6) && same(SockAddr.decode(sa), address)) {
          found.add(fd);
        }
      }
    } catch (IOException e) {
      throw new SocketException("Cannot list /proc/self/fd to find the socket on " + IpAddresses.format(address)
          + ": " + e.getMessage() + " (the kernel guard needs Linux's /proc)");
    }
    return found.stream().mapToInt(Integer::intValue).sorted().toArray();
  }

  private static boolean same(InetSocketAddress a, InetSocketAddress b) {
    if (a.getPort() != b.getPort()) {
      return false;
    }
    InetAddress x = a.getAddress();
    InetAddress y = b.getAddress();
    if (x == null || y == null) {
      return false;
    }
    return x.isAnyLocalAddress() && y.isAnyLocalAddress() || Arrays.equals(x.getAddress(), y.getAddress());
  }

  /** What {@code /proc/self/fd/N} points to ({@code socket:[12345]}), or "" if it is not open. */
  private static String link(int fd) {
    try {
      return Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
    } catch (IOException | UnsupportedOperationException e) {
      return "";
    }
  }

  private static KernelGuard attach(String address, int[] fds, AccessPolicy policy) throws SocketException {
    String where = "kernel guard on " + address + " (" + (fds.length == 1 ? "fd " + fds[0] : "fds "
        + Arrays.stream(fds).mapToObj(Integer::toString).collect(Collectors.joining(", "))) + ")";
    List<Target> targets = new ArrayList<>();
    for (int fd : fds) {
      String inode = link(fd);
      KernelFilter filter = KernelFilter.attachGuard(fd, KernelRules.of(policy), List.of(), where);
      targets.add(new Target(fd, inode, filter));
      if (filter.mode() == KernelFilterMode.USER_SPACE) {
        String why = filter.problem();
        for (Target t : targets) {
          t.filter.detachAndClose();
        }
        throw new SocketException("The " + where + " could not attach a filter: " + why);
      }
    }
    return new KernelGuard(where, List.copyOf(targets), policy);
  }

  /**
   * The filter in force: {@link KernelFilterMode#EBPF}, {@link KernelFilterMode#CLASSIC}, {@link
   * KernelFilterMode#CLASSIC_IPV4} (IPv6 peers are not filtered), or after {@link #detach()} (or a
   * policy the kernel took no filter for) {@link KernelFilterMode#USER_SPACE}, which for a guard
   * means nothing filters. With several sockets, the weakest of their modes.
   *
   * @return the mode
   */
  public synchronized KernelFilterMode mode() {
    KernelFilterMode weakest = KernelFilterMode.EBPF;
    for (Target t : targets) {
      KernelFilterMode m = gone != null ? KernelFilterMode.USER_SPACE : t.filter.mode();
      if (m.ordinal() > weakest.ordinal()) {
        weakest = m;
      }
    }
    return weakest;
  }

  /**
   * The descriptors the guard attached to: one, or with {@code SO_REUSEPORT} every listening
   * socket of this process on the address.
   *
   * @return the descriptor numbers, ascending
   */
  public List<Integer> descriptors() {
    return targets.stream().map(t -> t.fd).collect(Collectors.toUnmodifiableList());
  }

  /**
   * The policy the kernel applies.
   *
   * @return the policy last given
   */
  public synchronized AccessPolicy policy() {
    return policy;
  }

  /**
   * Puts a new policy into the kernel. In eBPF mode the program stays and new lookup tries are
   * switched in at once; in classic mode a new program replaces the old one. Either way the new
   * policy applies to every SYN that arrives after this returns, and the old one is never left in
   * place: if the kernel takes no filter for the new policy (classic BPF without room for it),
   * no filter stays attached and this throws.
   *
   * @param policy the new policy
   * @throws SocketException if no filter could be attached for it (the message says why); {@link
   *     #mode()} is then {@link KernelFilterMode#USER_SPACE} until a policy that fits is given
   * @throws IllegalStateException if the guard is detached or its socket is closed
   */
  public synchronized void updatePolicy(AccessPolicy policy) throws SocketException {
    Objects.requireNonNull(policy, "policy");
    live("updatePolicy");
    this.policy = policy;
    KernelRules rules = KernelRules.of(policy);
    for (Target t : targets) {
      t.filter.update(rules);
    }
    for (Target t : targets) {
      if (t.filter.mode() == KernelFilterMode.USER_SPACE) {
        throw new SocketException("The " + where + " has no filter for the new policy, so nothing filters its peers:"
            + " " + t.filter.problem());
      }
    }
  }

  /**
   * Drops an address or a block in the kernel for {@code duration}, on top of the policy: {@code
   * "203.0.113.7"}, {@code "2001:db8::/48"}. Banning a block again sets its end to the later of the
   * two. The ban is logged at INFO, and so is its end.
   *
   * @param cidrOrAddress an address or a CIDR block
   * @param duration how long, positive
   * @return true if the block is banned; false if the guard holds {@link #maxBans(int)} bans
   *     already, or (classic BPF) the program has no room for one more deny range
   * @throws IllegalArgumentException if the text is no address or block (the message quotes it),
   *     or the duration is not positive
   * @throws IllegalStateException if the guard is detached or its socket is closed
   */
  public boolean ban(String cidrOrAddress, Duration duration) {
    return ban(Cidr.parse(Objects.requireNonNull(cidrOrAddress, "cidrOrAddress")), duration);
  }

  /**
   * {@link #ban(String, Duration)} for a block already parsed.
   *
   * @param block the block to drop
   * @param duration how long, positive
   * @return whether the block is banned
   */
  public synchronized boolean ban(Cidr block, Duration duration) {
    Objects.requireNonNull(block, "block");
    Objects.requireNonNull(duration, "duration");
    if (duration.isNegative() || duration.isZero()) {
      throw new IllegalArgumentException("A ban lasts a positive duration, not " + Durations.format(duration)
          + " (" + block + ")");
    }
    live("ban");
    long now = System.nanoTime();
    long until = now + Math.min(saturatedNanos(duration), Long.MAX_VALUE / 2); // nanoTime differences stay exact
    Long before = timed.get(block);
    if (before != null) {
      timed.put(block, until - before > 0 ? until : before);
      schedule();
      return true;
    }
    if (timed.size() >= maxBans) {
      refused(block, "the guard holds " + timed.size() + " bans, its bound (KernelGuard.maxBans)");
      return false;
    }
    List<Cidr> all = bansWith(block);
    if (!fits(all)) {
      refused(block, "the classic BPF program has no room for one more deny range beside the policy");
      return false;
    }
    timed.put(block, until);
    push(all);
    schedule();
    log.info("{}: banned {} for {}", where, block, Durations.format(duration));
    return true;
  }

  private static long saturatedNanos(Duration d) {
    try {
      return d.toNanos();
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }

  private void refused(Cidr block, String why) {
    refusedBanCount++;
    if (refusedBans.due()) {
      log.warn("{}: ban of {} refused: {} ({} refused so far)", where, block, why, refusedBanCount);
    }
  }

  /**
   * Lifts the guard's bans that overlap {@code cidrOrAddress}: the block itself, blocks inside it,
   * and a block that holds it ({@code lift("10.1.2.3")} lifts a ban of {@code 10.1.0.0/16}). Bans
   * given with {@link #updateBans} are not touched.
   *
   * @param cidrOrAddress an address or a CIDR block
   * @return whether any ban was lifted
   * @throws IllegalArgumentException if the text is no address or block
   * @throws IllegalStateException if the guard is detached or its socket is closed
   */
  public synchronized boolean lift(String cidrOrAddress) {
    Cidr block = Cidr.parse(Objects.requireNonNull(cidrOrAddress, "cidrOrAddress"));
    live("lift");
    List<Cidr> lifted = new ArrayList<>();
    for (Cidr c : timed.keySet()) {
      if (c.isIpv4() == block.isIpv4() && (c.contains(block.network()) || block.contains(c.network()))) {
        lifted.add(c);
      }
    }
    if (lifted.isEmpty()) {
      return false;
    }
    lifted.forEach(timed::remove);
    push(bansWith(null));
    schedule();
    log.info("{}: lifted the ban of {}", where, lifted.stream().map(Cidr::toString).collect(Collectors.joining(", ")));
    return true;
  }

  /**
   * Replaces the ban list kept elsewhere (for example a penalty box's bans of direct peers), which
   * the kernel drops beside the guard's own {@link #ban}s. The guard does not expire these: the
   * caller gives the whole list again when it changes.
   *
   * @param bans the blocks to drop; an empty list lifts them all
   * @throws IllegalArgumentException if classic BPF has no room for them beside the policy (the
   *     previous list stays in force)
   * @throws IllegalStateException if the guard is detached or its socket is closed
   */
  public synchronized void updateBans(Collection<Cidr> bans) {
    List<Cidr> next = List.copyOf(new LinkedHashSet<>(Objects.requireNonNull(bans, "bans")));
    live("updateBans");
    List<Cidr> before = given;
    given = next;
    List<Cidr> all = bansWith(null);
    if (!fits(all)) {
      given = before;
      throw new IllegalArgumentException(next.size() + " bans do not fit in one classic BPF program beside the policy"
          + " on the " + where + "; the previous " + before.size() + " stay in force (eBPF, with CAP_BPF, has no such"
          + " limit)");
    }
    push(all);
  }

  /**
   * Every block the kernel drops besides the policy: the guard's own bans still in force and those
   * given with {@link #updateBans}.
   *
   * @return the banned blocks
   */
  public synchronized List<Cidr> bans() {
    return bansWith(null);
  }

  /**
   * Sets how many bans of its own ({@link #ban}) the guard holds at most; {@link #DEFAULT_MAX_BANS}
   * unless changed. Lowering it below the number held refuses new bans until enough expire.
   *
   * @param max the bound, positive
   * @return this guard
   * @throws IllegalArgumentException if {@code max} is not positive
   */
  public synchronized KernelGuard maxBans(int max) {
    if (max <= 0) {
      throw new IllegalArgumentException("maxBans must be positive, not " + max);
    }
    this.maxBans = max;
    return this;
  }

  /**
   * Removes the filter from the socket ({@code SO_DETACH_FILTER}, which removes classic and eBPF
   * filters alike), lets go of the eBPF maps and forgets the bans: the socket takes every peer the
   * kernel would without it. The guarded server is not touched. Calling it again does nothing; if
   * the socket was closed meanwhile, only the maps are let go.
   */
  public synchronized void detach() {
    if (gone != null) {
      return;
    }
    for (Target t : targets) {
      if (!t.inode.equals(link(t.fd))) {
        t.filter.close(); // the number is another socket's now, or nobody's: only the maps are ours
        continue;
      }
      int errno = t.filter.detachAndClose();
      if (errno != 0) {
        log.warn("{}: setsockopt(fd {}, SO_DETACH_FILTER) failed: {} ({})", where, t.fd, LinuxErrno.name(errno),
            Errors.describe(errno));
      }
    }
    gone = "detached";
    timed.clear();
    given = List.of();
    if (expiry != null) {
      expiry.cancel(false);
      expiry = null;
    }
    log.info("{}: detached", where);
  }

  /** {@link #detach()}: a guard in a try-with-resources block guards for the block. */
  @Override
  public void close() {
    detach();
  }

  @Override
  public String toString() {
    return where;
  }

  /** Throws unless the guard is attached and every socket is still the one it attached to. */
  private void live(String call) {
    if (gone == null) {
      for (Target t : targets) {
        if (!t.inode.equals(link(t.fd))) {
          release("fd " + t.fd + " is no longer the socket the guard attached to (it was closed)");
          break;
        }
      }
    }
    if (gone != null) {
      throw new IllegalStateException(call + " on the " + where + ": " + gone);
    }
  }

  /** The socket went away under the guard: let go of the maps, stop the expiry. */
  private void release(String why) {
    for (Target t : targets) {
      t.filter.close();
    }
    gone = why;
    if (expiry != null) {
      expiry.cancel(false);
      expiry = null;
    }
    log.info("{}: {}; the guard let go of its filter", where, why);
  }

  /** The bans the kernel should drop: the guard's own, those given, and {@code plus}. */
  private List<Cidr> bansWith(Cidr plus) {
    LinkedHashSet<Cidr> all = new LinkedHashSet<>(timed.keySet());
    all.addAll(given);
    if (plus != null) {
      all.add(plus);
    }
    return List.copyOf(all);
  }

  /** Whether the filters in force hold these bans: always for eBPF; classic BPF by program size. */
  private boolean fits(List<Cidr> bans) {
    for (Target t : targets) {
      KernelFilterMode m = t.filter.mode();
      if ((m == KernelFilterMode.CLASSIC || m == KernelFilterMode.CLASSIC_IPV4)
          && !KernelFilter.classicFits(KernelRules.of(policy), bans, m == KernelFilterMode.CLASSIC)) {
        return false;
      }
    }
    return true;
  }

  private void push(List<Cidr> bans) {
    for (Target t : targets) {
      t.filter.updateBans(bans);
    }
  }

  /** Lifts the bans whose time is up, then waits for the next. */
  private synchronized void expire() {
    expiry = null;
    if (gone != null) {
      return;
    }
    try {
      expireNow();
    } catch (RuntimeException e) { // never lose the expiry thread's next run to a bug here
      log.warn("{}: lifting expired bans failed", where, e);
      schedule();
    }
  }

  private void expireNow() {
    for (Target t : targets) {
      if (!t.inode.equals(link(t.fd))) {
        release("fd " + t.fd + " is no longer the socket the guard attached to (it was closed)");
        return;
      }
    }
    long now = System.nanoTime();
    List<Cidr> ended = new ArrayList<>();
    timed.forEach((c, until) -> {
      if (until - now <= 0) {
        ended.add(c);
      }
    });
    if (!ended.isEmpty()) {
      ended.forEach(timed::remove);
      push(bansWith(null));
      log.info("{}: the ban of {} ended", where, ended.stream().map(Cidr::toString).collect(Collectors.joining(", ")));
    }
    schedule();
  }

  /** Makes the expiry task run when the earliest ban ends (and not at all when none is held). */
  private void schedule() {
    long next = Long.MAX_VALUE;
    boolean any = false;
    long now = System.nanoTime();
    for (long until : timed.values()) {
      long left = until - now;
      if (!any || left < next) {
        next = left;
        any = true;
      }
    }
    if (!any) {
      if (expiry != null) {
        expiry.cancel(false);
        expiry = null;
      }
      return;
    }
    long at = now + Math.max(0, next);
    if (expiry != null && expiryAt - at <= 0) {
      return; // it runs before then and schedules again
    }
    if (expiry != null) {
      expiry.cancel(false);
    }
    expiryAt = at;
    expiry = expirer().schedule(this::expire, Math.max(0, next), TimeUnit.NANOSECONDS);
  }

  private static synchronized ScheduledThreadPoolExecutor expirer() {
    if (expirer == null) {
      ScheduledThreadPoolExecutor e = new ScheduledThreadPoolExecutor(1, r -> {
        Thread t = new Thread(r, "portcullis-kernel-guard-bans");
        t.setDaemon(true);
        return t;
      });
      e.setRemoveOnCancelPolicy(true);
      // No thread outlives the bans it expires: idle for a second, the thread ends (a later ban
      // starts another), so a guard that was used once leaves no thread behind.
      e.setKeepAliveTime(1, TimeUnit.SECONDS);
      e.allowCoreThreadTimeOut(true);
      expirer = e;
    }
    return expirer;
  }
}
