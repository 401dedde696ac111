package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.spi.KernelFilterMode;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.spi.LogCapture;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The kernel guard on sockets another server opened: a plain JDK server (a blocking accept thread
 * that answers "ok") guarded by a policy never accepts a denied peer, whose SYN the kernel drops;
 * live policy updates, bans, their expiry and detach change that at once; and every way of not
 * finding a socket says which address or descriptor it looked for.
 */
@Timeout(60)
class KernelGuardTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  private static final AccessPolicy LOCALHOST_ONLY = AccessPolicy.parse("allow 127.0.0.1\n");

  /** A JDK server: one thread accepting on a blocking channel, answering "ok" and closing. */
  static final class JdkServer implements AutoCloseable {
    final ServerSocketChannel channel;
    final AtomicInteger accepted = new AtomicInteger();
    private final Thread acceptor;

    JdkServer(ServerSocketChannel channel) {
      this.channel = channel;
      this.acceptor = new Thread(() -> {
        while (channel.isOpen()) {
          try (SocketChannel c = channel.accept()) {
            accepted.incrementAndGet();
            c.write(ByteBuffer.wrap("ok".getBytes(StandardCharsets.US_ASCII)));
          } catch (IOException e) {
            // closed: the loop ends; a client gone early: the next one
          }
        }
      }, "jdk-server");
      acceptor.setDaemon(true);
      acceptor.start();
    }

    static JdkServer on(String address) throws IOException {
      return new JdkServer(ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getByName(address), 0)));
    }

    InetSocketAddress address() throws IOException {
      return (InetSocketAddress) channel.getLocalAddress();
    }

    /** The server's port at {@code host}, for a wildcard-bound server. */
    InetSocketAddress at(String host) throws IOException {
      return new InetSocketAddress(InetAddress.getByName(host), address().getPort());
    }

    @Override
    public void close() throws Exception {
      channel.close();
      acceptor.join(5000);
    }
  }

  /** Connects from {@code from}, reads the reply: "ok" from a served client. */
  static String served(String from, SocketAddress to) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      s.connect(to, 5000);
      s.setSoTimeout(5000);
      return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
    }
  }

  /** The kernel dropped the SYN: no SYN-ACK, so connect times out rather than being refused. */
  static void dropped(String from, SocketAddress to) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      assertThrows(SocketTimeoutException.class, () -> s.connect(to, 400),
          from + " -> " + to + ": the kernel dropped its SYN, so connect times out");
    }
  }

  private static KernelFilterMode best() {
    return EbpfFilterTest.ebpfAllowed() ? KernelFilterMode.EBPF : KernelFilterMode.CLASSIC;
  }

  private static void guardsAJdkChannel(KernelFilterMode expected) throws Exception {
    try (JdkServer server = JdkServer.on("127.0.0.1");
        KernelGuard guard = KernelGuard.attach(server.channel, LOCALHOST_ONLY)) {
      assertEquals(expected, guard.mode());
      assertEquals("ok", served("127.0.0.1", server.address()));
      dropped("127.0.0.2", server.address());
      assertEquals("ok", served("127.0.0.1", server.address()));
      assertEquals(2, server.accepted.get(), "the JDK server never accepted the denied peer");

      guard.updatePolicy(AccessPolicy.parse("allow 127.0.0.2\n"));
      assertEquals("ok", served("127.0.0.2", server.address()), "the new policy is in the kernel on return");
      dropped("127.0.0.1", server.address());
      assertEquals(3, server.accepted.get());

      assertTrue(guard.ban("127.0.0.2", Duration.ofMinutes(5)));
      assertEquals(List.of(Cidr.parse("127.0.0.2/32")), guard.bans());
      dropped("127.0.0.2", server.address());
      assertTrue(guard.lift("127.0.0.2"));
      assertEquals(List.of(), guard.bans());
      assertEquals("ok", served("127.0.0.2", server.address()), "lifted at once");
      assertEquals(4, server.accepted.get());

      // A banned block is dropped whole, even where the policy allows a longer prefix inside it.
      guard.updateBans(List.of(Cidr.parse("127.0.0.0/8")));
      dropped("127.0.0.2", server.address());
      guard.updateBans(List.of());
      assertEquals(expected, guard.mode());

      guard.detach();
      assertEquals(KernelFilterMode.USER_SPACE, guard.mode());
      assertEquals("ok", served("127.0.0.1", server.address()), "detached: the socket takes every peer again");
      assertEquals(5, server.accepted.get());
      assertThrows(IllegalStateException.class, () -> guard.ban("127.0.0.1", Duration.ofSeconds(1)));
    }
  }

  @Test
  void aGuardedJdkChannelNeverAcceptsADeniedPeerAndFollowsUpdatesBansAndDetach() throws Exception {
    guardsAJdkChannel(best());
  }

  @Test
  void classicBpfGuardsAJdkChannelToo() throws Exception {
    KernelFilterTest.classicOnly(() -> guardsAJdkChannel(KernelFilterMode.CLASSIC));
  }

  @Test
  void aGuardedServerSocketDropsDeniedPeers() throws Exception {
    try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        KernelGuard guard = KernelGuard.attach(server, LOCALHOST_ONLY)) {
      assertEquals(best(), guard.mode());
      SocketAddress to = server.getLocalSocketAddress();
      dropped("127.0.0.2", to);
      try (Socket client = new Socket()) {
        client.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
        client.connect(to, 5000);
        server.setSoTimeout(5000);
        try (Socket first = server.accept()) {
          assertEquals(InetAddress.getByName("127.0.0.1"), first.getInetAddress(),
              "the first connection the server accepts is the allowed one; the denied one never queued");
        }
      }
    }
  }

  @Test
  void aBanEndsByItself() throws Exception {
    try (JdkServer server = JdkServer.on("127.0.0.1");
        KernelGuard guard = KernelGuard.attach(server.channel, AccessPolicy.allowAll())) {
      assertTrue(guard.ban("127.0.0.2", Duration.ofMillis(300)));
      dropped("127.0.0.2", server.address());
      assertTrue(Clients.await(() -> guard.bans().isEmpty(), Duration.ofSeconds(10)), "the ban expired");
      assertEquals("ok", served("127.0.0.2", server.address()), "and the kernel lets it in again");
      assertEquals(1, log.lines("banned 127.0.0.2/32 for 300ms").size(), log.text());
      assertEquals(1, log.lines("the ban of 127.0.0.2/32 ended").size(), log.text());
    }
  }

  @Test
  void bansPastTheBoundAreRefused() throws Exception {
    try (JdkServer server = JdkServer.on("127.0.0.1");
        KernelGuard guard = KernelGuard.attach(server.channel, AccessPolicy.allowAll()).maxBans(2)) {
      assertTrue(guard.ban("127.0.0.2", Duration.ofMinutes(1)));
      assertTrue(guard.ban("127.0.0.3", Duration.ofMinutes(1)));
      assertFalse(guard.ban("127.0.0.4", Duration.ofMinutes(1)), "the third ban is past the bound");
      assertTrue(guard.ban("127.0.0.2", Duration.ofMinutes(2)), "extending a ban held is not a new one");
      assertEquals(2, guard.bans().size());
      assertEquals("ok", served("127.0.0.4", server.address()), "the refused ban is not in the kernel");
      assertEquals(1, log.lines("ban of 127.0.0.4/32 refused: the guard holds 2 bans, its bound").size(), log.text());
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> guard.ban("127.0.0.5", Duration.ZERO));
      assertTrue(e.getMessage().contains("positive"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> guard.ban("127.0.0.300", Duration.ofSeconds(1)));
      assertTrue(e.getMessage().contains("127.0.0.300"), e.getMessage());
    }
  }

  @Test
  void aDualStackChannelIsGuardedForIpv6AndIpv4Peers() throws Exception {
    try (JdkServer server = JdkServer.on("::");
        KernelGuard guard = KernelGuard.attach(server.channel, AccessPolicy.parse("allow ::1\n"))) {
      assertEquals(best(), guard.mode());
      assertEquals("ok", served("::1", server.at("::1")));
      dropped("127.0.0.1", server.at("127.0.0.1"));
      guard.updatePolicy(LOCALHOST_ONLY);
      assertEquals("ok", served("127.0.0.1", server.at("127.0.0.1")));
      dropped("::1", server.at("::1"));
      assertEquals(2, server.accepted.get());
    }
  }

  @Test
  void withSoReusePortEveryListeningSocketOnTheAddressIsGuarded() throws Exception {
    ServerSocketChannel first = ServerSocketChannel.open();
    first.setOption(StandardSocketOptions.SO_REUSEPORT, true);
    first.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
    ServerSocketChannel second = ServerSocketChannel.open();
    second.setOption(StandardSocketOptions.SO_REUSEPORT, true);
    second.bind(first.getLocalAddress());
    try (JdkServer a = new JdkServer(first); JdkServer b = new JdkServer(second);
        KernelGuard guard = KernelGuard.attach(first, LOCALHOST_ONLY)) {
      assertEquals(2, guard.descriptors().size(), "both sockets on " + a.address() + ": " + guard.descriptors());
      for (int i = 0; i < 3; i++) {
        dropped("127.0.0.2", a.address()); // the kernel picks a socket by the source's hash; each is guarded
      }
      assertEquals(0, a.accepted.get() + b.accepted.get());
      assertEquals("ok", served("127.0.0.1", a.address()));
    }
  }

  @Test
  void aDescriptorThatCannotBeGuardedIsRefusedWithItsAddress() throws Exception {
    ServerSocketChannel closed = ServerSocketChannel.open().bind(new InetSocketAddress(
        InetAddress.getByName("127.0.0.1"), 0));
    String address = "127.0.0.1:" + ((InetSocketAddress) closed.getLocalAddress()).getPort();
    closed.close();
    SocketException e = assertThrows(SocketException.class, () -> KernelGuard.attach(closed, LOCALHOST_ONLY));
    assertTrue(e.getMessage().contains(address) && e.getMessage().contains("closed"), e.getMessage());

    ServerSocket closedSocket = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
    String socketAddress = "127.0.0.1:" + closedSocket.getLocalPort();
    closedSocket.close();
    e = assertThrows(SocketException.class, () -> KernelGuard.attach(closedSocket, LOCALHOST_ONLY));
    assertTrue(e.getMessage().contains(socketAddress) && e.getMessage().contains("closed"), e.getMessage());

    e = assertThrows(SocketException.class, () -> KernelGuard.attach(ServerSocketChannel.open(), LOCALHOST_ONLY));
    assertTrue(e.getMessage().contains("not bound"), e.getMessage());

    int fd = LibC.socket(LibC.AF_INET, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0);
    try {
      byte[] sa = SockAddr.encode(InetAddress.getByName("127.0.0.1"), 0);
      assertEquals(0, LibC.bind(fd, sa, sa.length));
      SocketAddress bound = Sockets.localAddress(fd);
      e = assertThrows(SocketException.class, () -> KernelGuard.attachFd(fd, LOCALHOST_ONLY));
      assertEquals("fd " + fd + " (" + dev.portcullis.policy.IpAddresses.format(bound) + ") is not listening"
          + " (SO_ACCEPTCONN is 0): guard a server's listening socket once it listens", e.getMessage());
    } finally {
      LibC.close(fd);
    }
    e = assertThrows(SocketException.class, () -> KernelGuard.attachFd(fd, LOCALHOST_ONLY));
    assertEquals("fd " + fd + " is not an open descriptor of this process", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> KernelGuard.attachFd(-1, LOCALHOST_ONLY));
  }

  @Test
  void aPolicyNoFilterHoldsIsRefusedAndSaysWhy() throws Exception {
    AccessPolicy.Builder b = AccessPolicy.builder().allow("127.0.0.1");
    for (int i = 0; i < 2000; i++) {
      b.allow("10." + (i >> 8) + "." + (i & 0xFF) + ".1"); // every allowed /32 splits the denied space
    }
    AccessPolicy big = b.build();
    KernelFilterTest.classicOnly(() -> {
      try (JdkServer server = JdkServer.on("127.0.0.1")) {
        SocketException e = assertThrows(SocketException.class, () -> KernelGuard.attach(server.channel, big));
        assertTrue(e.getMessage().startsWith("The kernel guard on " + dev.portcullis.policy.IpAddresses.format(
            server.address()) + " (fd ") && e.getMessage().contains("eBPF not used (-Dportcullis.kernelFilter=classic)")
            && e.getMessage().contains("more than one classic BPF program holds"), e.getMessage());
        assertEquals("ok", served("127.0.0.2", server.address()), "nothing was left attached");
        assertTrue(log.lines("more than one classic BPF program holds (1362); nothing filters its peers").size() >= 1,
            log.text());

        try (KernelGuard guard = KernelGuard.attach(server.channel, LOCALHOST_ONLY)) {
          e = assertThrows(SocketException.class, () -> guard.updatePolicy(big));
          assertTrue(e.getMessage().contains("more than one classic BPF program holds"), e.getMessage());
          assertEquals(KernelFilterMode.USER_SPACE, guard.mode(), "the old policy is not left in the kernel");
          assertEquals("ok", served("127.0.0.2", server.address()));
          guard.updatePolicy(LOCALHOST_ONLY);
          assertEquals(KernelFilterMode.CLASSIC, guard.mode());
          dropped("127.0.0.2", server.address());
        }
      }
    });
  }

  @Test
  void aDescriptorGuardsThatSocketAlone() throws Exception {
    try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
      int fd = KernelGuard.listening((InetSocketAddress) server.getLocalSocketAddress())[0];
      try (KernelGuard guard = KernelGuard.attachFd(fd, LOCALHOST_ONLY)) {
        assertEquals(List.of(fd), guard.descriptors());
        dropped("127.0.0.2", server.getLocalSocketAddress());
      }
    }
  }

  @Test
  void aGuardWhoseSocketWasClosedSaysSoAndLetsGoOfItsMaps() throws Exception {
    try (JdkServer server = JdkServer.on("127.0.0.1")) {
      warmUp(server);
    }
    long before = Clients.openDescriptors();
    JdkServer server = JdkServer.on("127.0.0.1");
    KernelGuard guard = KernelGuard.attach(server.channel, LOCALHOST_ONLY);
    server.close();
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> guard.updatePolicy(AccessPolicy.allowAll()));
    assertTrue(e.getMessage().contains("no longer the socket"), e.getMessage());
    guard.close();
    assertTrue(Clients.openDescriptors() <= before, "no descriptor left behind: " + before + " before, "
        + Clients.openDescriptors() + " after");
  }

  /** A first round opens what the JVM and JNA keep for good (/dev/urandom, libffi's file). */
  private static void warmUp(JdkServer server) throws Exception {
    try (KernelGuard guard = KernelGuard.attach(server.channel, LOCALHOST_ONLY)) {
      guard.ban("127.0.0.3", Duration.ofMinutes(1));
      guard.updatePolicy(AccessPolicy.parse("allow 127.0.0.2\n"));
    }
  }

  @Test
  void attachAndDetachLeaveNoDescriptorBehind() throws Exception {
    try (JdkServer server = JdkServer.on("127.0.0.1")) {
      warmUp(server);
      long before = Clients.openDescriptors();
      for (int i = 0; i < 3; i++) {
        try (KernelGuard guard = KernelGuard.attach(server.channel, LOCALHOST_ONLY)) {
          guard.ban("127.0.0.3", Duration.ofMinutes(1));
          guard.updatePolicy(AccessPolicy.parse("allow 127.0.0.2\n"));
        }
      }
      assertTrue(Clients.openDescriptors() <= before, "no descriptor left behind: " + before + " before, "
          + Clients.openDescriptors() + " after");
      assertEquals("ok", served("127.0.0.2", server.address()));
    }
  }
}
