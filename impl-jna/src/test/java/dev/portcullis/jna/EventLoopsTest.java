package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handler;
import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.ServerStats;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.spi.Channel;
import dev.portcullis.spi.Endpoint;
import dev.portcullis.spi.InheritedSocket;
import dev.portcullis.spi.Listener;
import dev.portcullis.spi.SpreadProbe;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Several event loops on one listening socket, on real loopback sockets: connections spread over
 * the loops for every kind of endpoint, the limits and statistics are exact across loops under
 * concurrent connects, a policy swap is atomic, and a graceful shutdown drains every loop and loses
 * none of the connections the kernel had queued.
 */
@Timeout(120)
class EventLoopsTest {
  private final JnaTransport transport = new JnaTransport();
  private final ExecutorService clients = Executors.newCachedThreadPool();

  @AfterEach
  void stopClients() {
    clients.shutdownNow();
  }

  // ---- spreading, for every kind of listening socket

  /** A {@link SpreadProbe} that also checks the loops' thread names. */
  private static final class Spread {
    final SpreadProbe probe = new SpreadProbe();
    final Map<Channel, Thread> acceptedOn = probe.acceptedOn;
    final CountDownLatch firstIn = probe.firstIn;
    final CountDownLatch otherLoop = probe.otherLoop;

    /**
     * Connects with {@code connect} until a connection is accepted on another loop than the first
     * (which holds its loop meanwhile): the second one with one shared socket, where the kernel
     * wakes an idle loop; with a {@code SO_REUSEPORT} socket per loop, the first that the kernel
     * hashes to the other loop's socket (at most 16: each has even odds). Asserts two loops, named
     * as {@code top -H} should show them. Returns how many connections it made.
     */
    int assertSpreads(Callable<AutoCloseable> connect) throws Exception {
      List<AutoCloseable> made = new ArrayList<>();
      try {
        made.add(connect.call());
        assertTrue(firstIn.await(10, TimeUnit.SECONDS), "first accepted");
        for (int i = 0; i < 16 && !otherLoop.await(made.size() == 1 ? 0 : 200, TimeUnit.MILLISECONDS); i++) {
          made.add(connect.call());
        }
        assertTrue(otherLoop.await(10, TimeUnit.SECONDS), "a later one went to another loop: " + acceptedOn);
      } finally {
        for (AutoCloseable c : made) {
          c.close();
        }
      }
      Set<Thread> loops = new HashSet<>(acceptedOn.values());
      assertEquals(2, loops.size(), "two loops: " + loops);
      for (Thread t : loops) {
        assertTrue(t.getName().startsWith("portcullis-loop-"), t.getName());
      }
      return made.size();
    }
  }

  @Test
  void tcpConnectionsSpreadOverTwoNamedLoops() throws Exception {
    Spread spread = new Spread();
    try (Listener l = transport.open(new Endpoint.Tcp(Optional.of(InetAddress.getByName("127.0.0.1")), 0, 64),
        2, spread.probe)) {
      int made = spread.assertSpreads(() -> Clients.connect("127.0.0.1", l.localAddress()));
      dev.portcullis.spi.AcceptCounts counts = l.capability(dev.portcullis.spi.AcceptCounts.class).orElseThrow();
      assertTrue(Clients.await(() -> counts.acceptedPerLoop()[0] + counts.acceptedPerLoop()[1] == made,
          Duration.ofSeconds(10)), "the loops' counts add up to the " + made + " connections");
      long[] perLoop = counts.acceptedPerLoop();
      assertTrue(perLoop[0] >= 1 && perLoop[1] >= 1, "each loop counted what it accepted: " + perLoop[0] + ", "
          + perLoop[1]);
      int port = ((InetSocketAddress) l.localAddress()).getPort();
      Set<String> names = new HashSet<>();
      spread.acceptedOn.values().forEach(t -> names.add(t.getName()));
      assertEquals(Set.of("portcullis-loop-" + port + "-1", "portcullis-loop-" + port + "-2"), names);
    }
  }

  @Test
  void handlerThreadsOfAServerOnPortZeroCarryTheBoundPort() throws Exception {
    AtomicReference<String> name = new AtomicReference<>();
    CountDownLatch handled = new CountDownLatch(1);
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").transport(transport)
        .handle(conn -> {
          name.set(Thread.currentThread().getName());
          handled.countDown();
        })
        .start()) {
      int port = ((InetSocketAddress) server.localAddress()).getPort();
      try (Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
        assertTrue(handled.await(10, TimeUnit.SECONDS), "handled");
      }
      assertTrue(name.get().startsWith("portcullis-handler-" + port + "-"),
          "named after the bound port " + port + ", as the loops are: " + name.get());
    }
  }

  @Test
  void unixConnectionsSpreadOverTwoLoops(@TempDir Path dir) throws Exception {
    Path path = dir.resolve("s.sock");
    Spread spread = new Spread();
    try (Listener l = transport.open(new Endpoint.UnixPath(path, 0600, java.util.OptionalInt.empty(),
        java.util.OptionalInt.empty(), 16), 2, spread.probe)) {
      spread.assertSpreads(() -> {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(path));
        return ch;
      });
    }
    assertTrue(Files.notExists(path), "the file goes with the listener");
  }

  @Test
  void anInheritedListenerSpreadsOverTwoLoops() throws Exception {
    int fd = LibC.socket(LibC.AF_INET, LibC.SOCK_STREAM, 0);
    byte[] sa = SockAddr.encode(InetAddress.getByName("127.0.0.1"), 0);
    assertEquals(0, LibC.bind(fd, sa, sa.length));
    assertEquals(0, LibC.listen(fd, 16));
    Spread spread = new Spread();
    try (Listener l = transport.open(new Endpoint.Inherited(new InheritedSocket(fd, false, "fd " + fd + " (test)")), 2,
        spread.probe)) {
      spread.assertSpreads(() -> Clients.connect("127.0.0.1", l.localAddress()));
    }
  }

  // ---- limits hold exactly across loops

  /** Writes "hi" and holds the connection until the latch opens. */
  private static Handler holding(CountDownLatch release) {
    return conn -> {
      conn.output().write("hi".getBytes(StandardCharsets.US_ASCII));
      conn.output().flush();
      try {
        release.await(60, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    };
  }

  /** Connects from {@code from}: the socket if the server greeted it, null if it closed or reset it. */
  private static Socket greeted(String from, SocketAddress server) throws IOException {
    Socket s = Clients.connect(from, server);
    s.setSoTimeout(30_000);
    try {
      if (s.getInputStream().readNBytes(2).length == 2) {
        return s;
      }
    } catch (SocketException reset) {
      // refused
    }
    s.close();
    return null;
  }

  /** {@code n} concurrent connects from {@code from}; returns the greeted sockets. */
  private List<Socket> connectAtOnce(int n, String from, SocketAddress server) throws Exception {
    CountDownLatch go = new CountDownLatch(1);
    List<Future<Socket>> futures = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      futures.add(clients.submit(() -> {
        go.await();
        return greeted(from, server);
      }));
    }
    go.countDown();
    List<Socket> served = new ArrayList<>();
    for (Future<Socket> f : futures) {
      Socket s = f.get(60, TimeUnit.SECONDS);
      if (s != null) {
        served.add(s);
      }
    }
    return served;
  }

  private static void closeAll(List<Socket> sockets) throws IOException {
    for (Socket s : sockets) {
      s.close();
    }
  }

  private static void assertSettles(RunningServer server) throws InterruptedException {
    assertTrue(Clients.await(() -> server.stats().openConnections() == 0, Duration.ofSeconds(30)),
        "every connection released: " + server.stats());
    ServerStats stats = server.stats();
    assertEquals(stats.accepted(), stats.outcomes(), "every accepted connection has one outcome: " + stats);
  }

  @Test
  void maxConnectionsHoldsExactlyAcrossTwoLoopsUnderConcurrentConnects() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").eventLoops(2)
        .maxConnections(10).handle(holding(release)).start()) {
      List<Socket> served = connectAtOnce(200, "127.0.0.1", server.localAddress());
      assertEquals(10, served.size(), "exactly the limit is served");
      ServerStats stats = server.stats();
      assertEquals(200, stats.accepted());
      long[] perLoop = server.acceptedPerLoop();
      assertEquals(2, perLoop.length);
      assertEquals(200, perLoop[0] + perLoop[1], "the loops' counts add up to accepted: " + perLoop[0] + " + "
          + perLoop[1]);
      assertEquals(190, stats.limited());
      assertEquals(10, stats.openConnections());
      release.countDown();
      closeAll(served);
      assertSettles(server);
      assertEquals(10, server.stats().handled());
    }
  }

  @Test
  void maxConnectionsPerSourceHoldsExactlyAcrossTwoLoops() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").eventLoops(2)
        .maxConnectionsPerSource(3).handle(holding(release)).start()) {
      Future<List<Socket>> other = clients.submit(() -> connectAtOnce(50, "127.0.0.2", server.localAddress()));
      List<Socket> one = connectAtOnce(50, "127.0.0.1", server.localAddress());
      List<Socket> two = other.get(60, TimeUnit.SECONDS);
      assertEquals(3, one.size(), "127.0.0.1 gets exactly its three");
      assertEquals(3, two.size(), "127.0.0.2 gets exactly its three");
      assertEquals(94, server.stats().limited());
      release.countDown();
      closeAll(one);
      closeAll(two);
      assertSettles(server);
    }
  }

  @Test
  void thePendingHandshakeCapHoldsExactlyAcrossTwoLoops() throws Exception {
    // A PROXY-protocol step waits for a header that never comes: every admitted connection stays pending.
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").eventLoops(2)
        .handshake(Handshakes.proxyProtocol().trustedFrom("127.0.0.0/8")).handshakeTimeout(Duration.ofSeconds(60))
        .maxPendingHandshakes(5).handle(conn -> { }).start()) {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<Socket>> futures = new ArrayList<>();
      for (int i = 0; i < 100; i++) {
        futures.add(clients.submit(() -> {
          go.await();
          return Clients.connect("127.0.0.1", server.localAddress());
        }));
      }
      go.countDown();
      List<Socket> sockets = new ArrayList<>();
      for (Future<Socket> f : futures) {
        sockets.add(f.get(60, TimeUnit.SECONDS));
      }
      assertTrue(Clients.await(() -> server.stats().accepted() == 100 && server.stats().limited() == 95,
          Duration.ofSeconds(30)), "95 refused by the cap: " + server.stats());
      assertEquals(5, server.stats().pendingHandshakes(), "exactly the cap pending");
      closeAll(sockets);
      assertTrue(Clients.await(() -> server.stats().pendingHandshakes() == 0, Duration.ofSeconds(30)));
      assertSettles(server);
    }
  }

  // ---- statistics and policy

  /** Sends "ping", half-closes, reads to the end: the reply, or null if refused. */
  private static String exchange(String from, SocketAddress to) {
    try {
      return Clients.exchange(from, to, "ping");
    } catch (IOException e) {
      return null;
    }
  }

  @Test
  void statsStayExactAfterAMixedRunOnTwoLoops() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1/32").eventLoops(2)
        .handleOnLoop((conn, data) -> conn.write(data)).start()) {
      List<Future<String>> results = new ArrayList<>();
      for (int i = 0; i < 120; i++) {
        String from = i % 3 == 0 ? "127.0.0.2" : "127.0.0.1";
        results.add(clients.submit(() -> exchange(from, server.localAddress())));
      }
      int echoed = 0;
      int refused = 0;
      for (Future<String> f : results) {
        String reply = f.get(60, TimeUnit.SECONDS);
        if ("ping".equals(reply)) {
          echoed++;
        } else {
          assertNull(reply);
          refused++;
        }
      }
      assertEquals(80, echoed);
      assertEquals(40, refused);
      assertSettles(server);
      ServerStats stats = server.stats();
      assertEquals(120, stats.accepted());
      assertEquals(40, stats.denied());
      assertEquals(80, stats.handled());
    }
  }

  @Test
  void aConnectionAcceptedAfterUpdatePolicyReturnsIsDecidedByTheNewPolicyOnEveryLoop() throws Exception {
    AccessPolicy allowTwo = AccessPolicy.builder().allow("127.0.0.1/32").allow("127.0.0.2/32").build();
    AccessPolicy denyTwo = AccessPolicy.builder().allow("127.0.0.1/32").build();
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").policy(allowTwo).eventLoops(2)
        .handleOnLoop((conn, data) -> conn.write(data)).start()) {
      for (int round = 0; round < 6; round++) {
        boolean allowed = round % 2 == 1;
        server.updatePolicy(allowed ? allowTwo : denyTwo);
        List<Future<String>> results = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
          results.add(clients.submit(() -> exchange("127.0.0.2", server.localAddress())));
        }
        for (Future<String> f : results) {
          assertEquals(allowed ? "ping" : null, f.get(60, TimeUnit.SECONDS), "round " + round);
        }
      }
      assertSettles(server);
      assertEquals(48, server.stats().denied());
      assertEquals(48, server.stats().handled());
    }
  }

  // ---- shutdown

  @Test
  void shutdownDrainsTheConnectionsOfEveryLoop() throws Exception {
    AtomicInteger served = new AtomicInteger();
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").eventLoops(2)
        .handleOnLoop((conn, data) -> {
          conn.write(data);
          served.incrementAndGet();
        }).start()) {
      List<Socket> open = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        open.add(Clients.connect("127.0.0.1", server.localAddress()));
      }
      assertTrue(Clients.await(() -> server.stats().openConnections() == 20, Duration.ofSeconds(30)));
      Future<Boolean> shutdown = clients.submit(() -> server.shutdown(Duration.ofSeconds(30)));
      assertTrue(Clients.await(() -> {
        try (Socket s = new Socket()) {
          s.connect(server.localAddress(), 1000);
          return false;
        } catch (IOException refused) {
          return true;
        }
      }, Duration.ofSeconds(30)), "no longer accepting");
      // Idle (nothing in flight), each is closed on its own loop once its first-bytes wait is over.
      for (Socket s : open) {
        s.setSoTimeout(20_000);
        assertEquals(-1, s.getInputStream().read(), "an idle connection is closed by the shutdown");
        s.close();
      }
      assertTrue(shutdown.get(60, TimeUnit.SECONDS), "every connection finished within the grace period");
      assertEquals(0, served.get());
    }
  }

  /**
   * The reported fault: 30 clients doing short echo exchanges, and a graceful shutdown in the middle.
   * A client whose {@code connect()} succeeded and whose data was sent must get its echo, never a
   * reset; clients that could not connect any more are fine.
   */
  @ParameterizedTest
  @ValueSource(strings = {"handle", "handleOnLoop"})
  void aGracefulShutdownUnderLoadResetsNoConnectedClient(String style) throws Exception {
    Server.TcpBuilder builder = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").eventLoops(2);
    if (style.equals("handle")) {
      builder.handle(conn -> conn.input().transferTo(conn.output()));
    } else {
      builder.handleOnLoop((conn, data) -> conn.write(data));
    }
    RunningServer server = builder.start();
    SocketAddress at = server.localAddress();
    AtomicBoolean stop = new AtomicBoolean();
    AtomicInteger exchanges = new AtomicInteger();
    List<String> lost = java.util.Collections.synchronizedList(new ArrayList<>());
    List<Future<?>> running = new ArrayList<>();
    for (int c = 0; c < 30; c++) {
      running.add(clients.submit(() -> {
        byte[] ping = "ping".getBytes(StandardCharsets.US_ASCII);
        while (!stop.get()) {
          Socket s = new Socket();
          try {
            s.connect(at, 5000);
          } catch (IOException refused) {
            s.close();
            return null; // the server stopped listening: fine
          }
          try (s) {
            s.setSoTimeout(30_000);
            s.getOutputStream().write(ping);
            s.shutdownOutput();
            byte[] reply = s.getInputStream().readAllBytes();
            if (reply.length != ping.length) {
              lost.add("got " + reply.length + " bytes back");
            } else {
              exchanges.incrementAndGet();
            }
          } catch (IOException e) {
            lost.add(e.toString());
          }
        }
        return null;
      }));
    }
    assertTrue(Clients.await(() -> exchanges.get() > 300, Duration.ofSeconds(60)), "load is running");
    Thread.sleep(300);
    assertTrue(server.shutdown(Duration.ofSeconds(10)), "drained within the grace period");
    stop.set(true);
    for (Future<?> f : running) {
      f.get(60, TimeUnit.SECONDS);
    }
    assertEquals(List.of(), lost, "connected clients that lost their exchange");
    ServerStats stats = server.stats();
    assertEquals(stats.accepted(), stats.outcomes(), stats.toString());
    assertNotNull(stats);
  }
}
