package dev.portcullis.spi;

import static dev.portcullis.spi.Contracts.WAIT;
import static dev.portcullis.spi.Contracts.await;
import static dev.portcullis.spi.Contracts.eventually;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.IntPredicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What every {@link Transport} must do with a TCP endpoint, as the {@code Transport}, {@code
 * Listener} and {@code Acceptor} Javadoc promises it, written once and subclassed per transport:
 * listening on a loopback port 0, asking the {@link Acceptor} about the raw peer before handing a
 * channel over, closing refused peers at once, releasing each channel once, freeing the port, and
 * failing to bind as documented. Everything is on loopback; a client bound to {@code 127.0.0.2}
 * plays another host.
 *
 * <p>Subclass: {@code dev.portcullis.jna.JnaTransportContractTest}. The api tests' transport is a
 * Mockito mock ({@code MockTransport}) that opens no socket and accepts nothing by itself: the
 * test plays the transport by calling the acceptor. There is nothing of this contract it could
 * keep, so no subclass runs it over the mock; what the mock hands out, {@code FakeChannel}, runs
 * {@link ChannelContract} instead.
 *
 * <p>Errnos: as in {@link ChannelContract}, a transport over an operating system ({@link
 * #reportsErrnos()} true) must also carry the errno: an address in use is a {@link BindException}
 * whose cause is a {@link dev.portcullis.NativeSocketException} saying {@code EADDRINUSE}.
 */
@Timeout(60)
public abstract class TransportContract {
  /**
   * The transport under test, a new one or a shared one.
   *
   * @return the transport
   */
  protected abstract Transport transport();

  /**
   * Whether failures carry the operating system's errno (see the class comment).
   *
   * @return true if a bind failure must name {@code EADDRINUSE}
   */
  protected abstract boolean reportsErrnos();

  private final List<AutoCloseable> toClose = new ArrayList<>();

  @AfterEach
  void closeEverything() throws Exception {
    for (int i = toClose.size() - 1; i >= 0; i--) {
      toClose.get(i).close();
    }
  }

  /** Records what the transport asks and tells, in order. */
  private static final class Recorder implements Acceptor {
    final List<String> calls = new CopyOnWriteArrayList<>();
    final BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
    final List<Channel> released = new CopyOnWriteArrayList<>();
    final List<Optional<Throwable>> stopped = new CopyOnWriteArrayList<>();
    final CountDownLatch stop = new CountDownLatch(1);
    final IntPredicate admit;

    Recorder(IntPredicate admit) {
      this.admit = admit;
    }

    @Override
    public boolean admitIpv4(int address) {
      calls.add(String.format("admitIpv4 %08x", address));
      return admit.test(address);
    }

    @Override
    public boolean admitIpv6(long high, long low) {
      calls.add(String.format("admitIpv6 %016x %016x", high, low));
      return true;
    }

    @Override
    public void accepted(Channel channel) {
      calls.add("accepted " + channel.remoteAddress());
      accepted.add(channel);
    }

    @Override
    public void released(Channel channel) {
      released.add(channel);
    }

    @Override
    public void listenerStopped(Throwable failure) {
      stopped.add(Optional.ofNullable(failure));
      stop.countDown();
    }

    Channel next() throws InterruptedException {
      Channel ch = accepted.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
      assertNotNull(ch, "no connection was accepted; calls: " + calls);
      return ch;
    }
  }

  private static Endpoint.Tcp tcp(String address, int port) throws IOException {
    return new Endpoint.Tcp(Optional.of(InetAddress.getByName(address)), port, 64);
  }

  private Listener open(String address, int port, Acceptor acceptor) throws IOException {
    Listener listener = transport().open(tcp(address, port), acceptor);
    toClose.add(listener);
    return listener;
  }

  private Socket client(String from, SocketAddress to) throws IOException {
    Socket s = new Socket();
    toClose.add(s);
    s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
    s.connect(to, (int) WAIT.toMillis());
    s.setSoTimeout((int) WAIT.toMillis());
    return s;
  }

  private static int port(Listener listener) {
    return ((InetSocketAddress) listener.localAddress()).getPort();
  }

  /** A listener on 127.0.0.1, port 0, that admits everyone, with one client's channel accepted. */
  private record OneConnection(Recorder acceptor, Listener listener, Socket client, Channel channel) {}

  private OneConnection listenWithOneConnection() throws Exception {
    Recorder acceptor = new Recorder(a -> true);
    Listener listener = open("127.0.0.1", 0, acceptor);
    Socket client = client("127.0.0.1", listener.localAddress());
    return new OneConnection(acceptor, listener, client, acceptor.next());
  }

  /** The server closed the connection: end of stream, or a reset. */
  private static void assertClosedByTheServer(Socket s) throws IOException {
    try {
      assertEquals(-1, s.getInputStream().read(), "the server sent nothing and closed");
    } catch (SocketException reset) {
      assertTrue(String.valueOf(reset.getMessage()).contains("reset"), reset.toString());
    }
  }

  // ---- the transport

  @Test
  void isAvailableAndSaysNoCause() {
    Transport t = transport();
    assertTrue(t.isAvailable(), () -> "unavailable: " + t.unavailabilityCause());
    assertTrue(t.unavailabilityCause().isEmpty());
    assertFalse(t.name().isBlank(), "a name for messages");
  }

  // ---- accepting

  @Test
  void portZeroListensOnARealPortAndChannelsReportTheirAddresses() throws Exception {
    OneConnection c = listenWithOneConnection();
    InetSocketAddress local = assertInstanceOf(InetSocketAddress.class, c.listener().localAddress());
    assertEquals(InetAddress.getByName("127.0.0.1"), local.getAddress());
    assertTrue(local.getPort() > 0, "the port the kernel picked: " + local);
    assertEquals(local, c.client().getRemoteSocketAddress());
    assertEquals(c.client().getLocalSocketAddress(), c.channel().remoteAddress());
    assertEquals(local, c.channel().localAddress());
    assertTrue(c.channel().isOpen());
  }

  @Test
  void theAcceptorIsAskedAboutTheRawIpv4PeerBeforeTheChannelIsHandedOver() throws Exception {
    Recorder acceptor = new Recorder(a -> true);
    Listener listener = open("127.0.0.1", 0, acceptor);
    Socket s = client("127.0.0.2", listener.localAddress());
    acceptor.next();
    assertEquals(List.of("admitIpv4 7f000002", "accepted " + s.getLocalSocketAddress()), acceptor.calls);
  }

  @Test
  void theAcceptorIsAskedAboutTheRawIpv6PeerBeforeTheChannelIsHandedOver() throws Exception {
    assumeTrue(ipv6Loopback(), "no IPv6 loopback on this machine");
    Recorder acceptor = new Recorder(a -> true);
    Listener listener = open("::1", 0, acceptor);
    Socket s = client("::1", listener.localAddress());
    acceptor.next();
    assertEquals(List.of("admitIpv6 0000000000000000 0000000000000001", "accepted " + s.getLocalSocketAddress()),
        acceptor.calls);
  }

  @Test
  void aRefusedPeerIsClosedAtOnceAndNeverHandedOver() throws Exception {
    Recorder acceptor = new Recorder(a -> a != 0x7F000002);
    Listener listener = open("127.0.0.1", 0, acceptor);
    for (int i = 0; i < 3; i++) {
      assertClosedByTheServer(client("127.0.0.2", listener.localAddress()));
    }
    Socket admitted = client("127.0.0.1", listener.localAddress());
    Channel ch = acceptor.next();
    assertEquals(admitted.getLocalSocketAddress(), ch.remoteAddress());
    assertTrue(acceptor.accepted.isEmpty(), "only the admitted peer was handed over");
    assertEquals(List.of("admitIpv4 7f000002", "admitIpv4 7f000002", "admitIpv4 7f000002", "admitIpv4 7f000001",
        "accepted " + admitted.getLocalSocketAddress()), acceptor.calls);
    assertTrue(acceptor.released.isEmpty(), "a refused peer was never a channel, so none is released");
  }

  @Test
  void eachChannelIsReleasedOnceWhenItCloses() throws Exception {
    OneConnection c = listenWithOneConnection();
    Recorder acceptor = c.acceptor();
    Socket firstClient = c.client();
    Channel first = c.channel();
    first.close();
    first.close();
    assertClosedByTheServer(firstClient);
    assertTrue(eventually(() -> acceptor.released.size() == 1), "released: " + acceptor.released);

    client("127.0.0.1", c.listener().localAddress());
    Channel second = acceptor.next();
    second.close();
    assertTrue(eventually(() -> acceptor.released.contains(second)), "released: " + acceptor.released);
    assertEquals(2, acceptor.released.size(), "once each: " + acceptor.released);
    assertSame(first, acceptor.released.get(0));
    assertEquals(firstClient.getLocalSocketAddress(), first.remoteAddress(), "addresses outlive the close");
  }

  // ---- closing the listener

  @Test
  void closeEndsTheConnectionsStillOpenFreesThePortAndSaysSoOnce() throws Exception {
    OneConnection c = listenWithOneConnection();
    Recorder acceptor = c.acceptor();
    Channel ch = c.channel();

    c.listener().close();
    assertTrue(eventually(() -> acceptor.released.contains(ch)), "the open channel is closed and released");
    assertFalse(ch.isOpen());
    assertClosedByTheServer(c.client());
    await(acceptor.stop, "listenerStopped");
    assertBindable(port(c.listener()));

    c.listener().close();
    assertEquals(List.of(Optional.empty()), acceptor.stopped, "listenerStopped once, with no failure");
    assertEquals(1, acceptor.released.size());
  }

  @Test
  void stopAcceptingFreesTheAddressWhileAcceptedConnectionsGoOn() throws Exception {
    OneConnection c = listenWithOneConnection();
    Listener listener = c.listener();
    Channel ch = c.channel();

    listener.stopAccepting();
    assertThrows(IOException.class, () -> client("127.0.0.1", listener.localAddress()), "nobody listens now");
    assertBindable(port(listener));
    listener.stopAccepting();

    byte[] text = "still here".getBytes(UTF_8);
    assertEquals(text.length, ch.write(text, 0, text.length));
    assertEquals("still here", new String(c.client().getInputStream().readNBytes(text.length), UTF_8));
    assertTrue(ch.isOpen());
    assertEquals(1, c.acceptor().calls.stream().filter(call -> call.startsWith("accepted")).count());
    listener.close();
    assertTrue(eventually(() -> c.acceptor().released.contains(ch)), "close still closes what stopAccepting left");
  }

  @Test
  void stopAcceptingTakesTheConnectionsTheKernelHadQueued() throws Exception {
    OneConnection c = listenWithOneConnection();
    Listener listener = c.listener();
    // Hold the loop in a task, so the next clients wait in the kernel's accept queue, connected.
    CountDownLatch loopHeld = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    c.channel().execute(() -> {
      loopHeld.countDown();
      try {
        release.await(WAIT.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    await(loopHeld, "the loop runs the task");
    List<Socket> queued = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      Socket s = client("127.0.0.1", listener.localAddress());
      s.getOutputStream().write('x');
      queued.add(s);
    }
    Thread stopper = new Thread(listener::stopAccepting, "stopAccepting");
    stopper.start();
    // stopAccepting is now on its way to the loop, behind the task; let the loop go.
    Thread.sleep(50);
    release.countDown();
    stopper.join(WAIT.toMillis());
    assertFalse(stopper.isAlive(), "stopAccepting returned");
    assertBindable(port(listener));
    for (Socket s : queued) {
      Channel ch = c.acceptor().next();
      byte[] one = new byte[1];
      assertTrue(eventually(() -> {
        try {
          return ch.read(one, 0, 1) == 1;
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }), "the queued client's byte arrived");
      assertEquals(1, ch.write(new byte[] {'y'}, 0, 1));
    }
    for (Socket s : queued) {
      assertEquals('y', s.getInputStream().read(), "a queued client is served, not reset");
    }
    assertEquals(6, c.acceptor().calls.stream().filter(call -> call.startsWith("accepted")).count());
  }

  // ---- several event loops

  @Test
  void withSeveralLoopsConnectionsSpreadOverThemAndEachChannelStaysOnItsLoop() throws Exception {
    SpreadProbe acceptor = new SpreadProbe();
    Listener listener = transport().open(tcp("127.0.0.1", 0), 2, acceptor);
    toClose.add(listener);
    Socket a = client("127.0.0.1", listener.localAddress());
    await(acceptor.firstIn, "the first connection is accepted");
    // While the first holds its loop: with one shared socket the next connection wakes the other
    // loop; with a socket per loop (SO_REUSEPORT) the kernel hashes each connection to one, so
    // connect until one lands on the other loop (at most 16, each with even odds).
    List<Socket> clients = new ArrayList<>(List.of(a));
    for (int i = 0; i < 16 && !acceptor.otherLoop.await(clients.size() == 1 ? 0 : 200, TimeUnit.MILLISECONDS); i++) {
      Socket more = client("127.0.0.1", listener.localAddress());
      clients.add(more);
    }
    await(acceptor.otherLoop, "a later connection is accepted on another loop");
    for (int i = 0; i < 2; i++) {
      Channel ch = acceptor.channels.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
      assertNotNull(ch, "accepted");
      Socket peer = clients.stream().filter(s -> s.getLocalSocketAddress().equals(ch.remoteAddress())).findFirst()
          .orElseThrow();
      Thread loop = acceptor.acceptedOn.get(ch);
      BlockingQueue<Thread> ranOn = new LinkedBlockingQueue<>();
      for (int round = 0; round < 3; round++) {
        ch.whenReadable(() -> {
          ranOn.add(Thread.currentThread());
          try {
            ch.read(new byte[16], 0, 16);
          } catch (IOException e) {
            // the thread is what is checked
          }
        });
        peer.getOutputStream().write('r');
        ch.whenWritable(() -> ranOn.add(Thread.currentThread()));
        ch.execute(() -> ranOn.add(Thread.currentThread()));
        ch.schedule(() -> ranOn.add(Thread.currentThread()), 1, TimeUnit.MILLISECONDS);
        for (int k = 0; k < 4; k++) {
          Thread t = ranOn.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
          assertSame(loop, t, "every callback of a channel runs on the loop that accepted it");
        }
      }
      assertTrue(ch.isOpen());
    }
    assertEquals(2, new java.util.HashSet<>(acceptor.acceptedOn.values()).size(), "two loops: " + acceptor.acceptedOn);
  }

  // ---- failing to listen

  @Test
  void anAddressInUseIsABindExceptionNamingItAndLeavesNothingOpen() throws Exception {
    Recorder acceptor = new Recorder(a -> true);
    int port = port(open("127.0.0.1", 0, acceptor));
    Map<Integer, String> before = descriptors();
    BindException e = assertThrows(BindException.class, () -> open("127.0.0.1", port, acceptor));
    assertTrue(e.getMessage().contains("127.0.0.1:" + port), e.getMessage());
    // Not a count of every descriptor: other threads of the JVM open and close their own while we
    // look. What a failed open leaks (a socket, an epoll set, an eventfd) would stay open.
    assertTrue(eventually(() -> leftOpen(before).isEmpty()), () -> "a failed open leaves nothing open: " + leftOpen(before));
    if (reportsErrnos()) {
      Contracts.assertErrno(e, "EADDRINUSE");
      assertTrue(e.getMessage().contains("EADDRINUSE"), e.getMessage());
    }
  }

  // ---- helpers

  private static void assertBindable(int port) throws IOException {
    try (ServerSocket again = new ServerSocket()) {
      again.bind(new InetSocketAddress("127.0.0.1", port));
      assertEquals(port, again.getLocalPort(), "the port is free again");
    }
  }

  private static boolean ipv6Loopback() {
    try (ServerSocket probe = new ServerSocket()) {
      probe.bind(new InetSocketAddress(InetAddress.getByName("::1"), 0));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** The descriptors this process has open, each with what it refers to (Linux's /proc). */
  private static Map<Integer, String> descriptors() {
    Map<Integer, String> out = new TreeMap<>();
    try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
      for (Path fd : fds) {
        try {
          out.put(Integer.valueOf(fd.getFileName().toString()), Files.readSymbolicLink(fd).toString());
        } catch (IOException closed) {
          // closed since the listing: the listing's own descriptor, or another thread's
        }
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return out;
  }

  /**
   * The sockets and anonymous inodes (epoll sets, eventfds: what a transport opens) open now that
   * were not open, as the same thing, in {@code before}.
   */
  private static Map<Integer, String> leftOpen(Map<Integer, String> before) {
    Map<Integer, String> now = descriptors();
    now.entrySet().removeIf(fd -> fd.getValue().equals(before.get(fd.getKey()))
        || !(fd.getValue().startsWith("socket:") || fd.getValue().startsWith("anon_inode:")));
    return now;
  }
}
