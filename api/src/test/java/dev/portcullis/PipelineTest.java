package dev.portcullis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyInt;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import dev.portcullis.handshake.Handshake;
import dev.portcullis.handshake.HandshakeStep;
import dev.portcullis.handshake.Identity;
import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Endpoint;
import dev.portcullis.spi.Listener;
import dev.portcullis.spi.LogCapture;
import dev.portcullis.spi.Transport;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.mockito.ArgumentCaptor;

/**
 * The api pipeline alone: a Mockito transport hands the server's {@link Acceptor} to the test, which
 * plays the event loop with {@link FakeChannel}s. Handlers run inline on the test thread.
 */
@Timeout(10)
class PipelineTest {
  /** The step's and handler's failures are logged with their stacks: into the capture, not the build's console. */
  @RegisterExtension
  final LogCapture log = new LogCapture();
  private final Transport transport = mock(Transport.class);
  private final Listener listener = mock(Listener.class);
  private final List<Connection> served = new ArrayList<>();
  private final List<String> received = new ArrayList<>();
  private RunningServer server;
  private Acceptor acceptor;

  /** An echo-ish handler that records the connection and what it read, then replies "ok:" + it. */
  private final Handler recording = conn -> {
    served.add(conn);
    String text = new String(conn.input().readAllBytes(), StandardCharsets.UTF_8);
    received.add(text);
    conn.output().write(("ok:" + text).getBytes(StandardCharsets.UTF_8));
  };

  private Server.TcpBuilder server() throws Exception {
    when(transport.name()).thenReturn("mock");
    when(transport.isAvailable()).thenReturn(true);
    when(transport.open(any(), anyInt(), any(), any())).thenReturn(listener);
    when(listener.localAddress()).thenReturn(new InetSocketAddress("127.0.0.1", 7000));
    Executor inline = Runnable::run;
    return Server.on(7000).transport(transport).executor(inline);
  }

  private void start(Server.TcpBuilder s) throws Exception {
    server = s.start();
    ArgumentCaptor<Acceptor> captor = ArgumentCaptor.forClass(Acceptor.class);
    ArgumentCaptor<Endpoint> options = ArgumentCaptor.forClass(Endpoint.class);
    verify(transport).open(options.capture(), anyInt(), captor.capture(), any());
    acceptor = captor.getValue();
  }

  @AfterEach
  void close() {
    if (server != null) {
      server.close();
    }
  }

  private static int ipv4(String dotted) {
    String[] p = dotted.split("\\.");
    return Integer.parseInt(p[0]) << 24 | Integer.parseInt(p[1]) << 16 | Integer.parseInt(p[2]) << 8
        | Integer.parseInt(p[3]);
  }

  /** Admits and, if admitted, hands over a channel from {@code peer}, as a transport would. */
  private FakeChannel connect(String peer) {
    FakeChannel ch = new FakeChannel(peer, 40000);
    if (acceptor.admitIpv4(ipv4(peer))) {
      acceptor.accepted(ch);
    }
    return ch;
  }

  @Test
  void aReplacementPolicysLimitsApplyToTheConnectionsAcceptedAfterIt() throws Exception {
    start(server().allow("10.0.0.0/8").handle(recording));
    assertTrue(acceptor.admitIpv4(ipv4("10.0.0.1")));
    assertTrue(acceptor.admitIpv4(ipv4("10.0.0.2")));
    server.updatePolicy(dev.portcullis.policy.AccessPolicy.parse("allow 10.0.0.0/8\nlimit connections 3"));
    assertTrue(acceptor.admitIpv4(ipv4("10.0.0.3")), "two open before the update count towards the new total");
    assertFalse(acceptor.admitIpv4(ipv4("10.0.0.4")), "the new policy's total of 3 holds");
    assertEquals(1, server.stats().limited());
    acceptor.released(new FakeChannel("10.0.0.1", 40000));
    assertTrue(acceptor.admitIpv4(ipv4("10.0.0.4")), "a release frees a slot");
  }

  @Test
  void allowedPeerReachesHandlerAndIsClosedAfterIt() throws Exception {
    start(server().allow("10.0.0.0/8").handle(recording));
    FakeChannel ch = new FakeChannel("10.1.2.3", 40000);
    ch.feed("hello");
    ch.peerCloses();
    assertTrue(acceptor.admitIpv4(ipv4("10.1.2.3")));
    acceptor.accepted(ch);

    assertEquals(List.of("hello"), received);
    assertEquals("ok:hello", ch.written());
    assertEquals(new InetSocketAddress("10.1.2.3", 40000), served.get(0).peer());
    assertFalse(ch.isOpen(), "the connection is closed when the handler returns");
    ServerStats stats = server.stats();
    assertEquals(1, stats.accepted());
    assertEquals(0, stats.denied());
    assertEquals(1, stats.handled());
  }

  @Test
  void deniedPeerIsRefusedBeforeAnyChannelExists() throws Exception {
    Handler handler = mock(Handler.class);
    start(server().allow("10.0.0.0/8").deny("10.66.0.0/16").handle(handler));

    assertFalse(acceptor.admitIpv4(ipv4("10.66.1.2")));
    assertFalse(acceptor.admitIpv4(ipv4("192.0.2.1")));
    assertTrue(acceptor.admitIpv4(ipv4("10.1.1.1")));

    verify(handler, never()).handle(any());
    assertEquals(3, server.stats().accepted());
    assertEquals(2, server.stats().denied());
  }

  @Test
  void mappedIpv6PeerIsDecidedByIpv4Rules() throws Exception {
    start(server().allow("127.0.0.1").handle(recording));
    long mappedHigh = 0;
    long mapped127001 = 0x0000_FFFF_7F00_0001L;
    long mapped127002 = 0x0000_FFFF_7F00_0002L;
    assertTrue(acceptor.admitIpv6(mappedHigh, mapped127001));
    assertFalse(acceptor.admitIpv6(mappedHigh, mapped127002));
    assertFalse(acceptor.admitIpv6(0, 1), "::1 is IPv6 and only an IPv4 rule exists");
  }

  @Test
  void handshakePassesAndLeftoverBytesReachTheHandler() throws Exception {
    start(server().allow("10.0.0.0/8")
        .handshake(Handshakes.greeting("ready"))
        .handshake(Handshakes.expectLine("HELLO"))
        .handle(recording));
    FakeChannel ch = connect("10.0.0.5");
    assertEquals("ready\n", ch.written(), "the greeting is sent before any input");
    assertTrue(received.isEmpty());

    ch.feed("HEL");
    assertTrue(received.isEmpty(), "half a line is not enough");
    ch.feedAndClose("LO\r\npayload");

    assertEquals(List.of("payload"), received);
    assertEquals("ready\nok:payload", ch.written());
    assertEquals(0, ch.pendingTimers(), "the deadline is cancelled once the chain is done");
  }

  @Test
  void failedHandshakeClosesWithoutCallingTheHandler() throws Exception {
    Handler handler = mock(Handler.class);
    start(server().allow("10.0.0.0/8").handshake(Handshakes.expectLine("HELLO")).handle(handler));
    FakeChannel ch = connect("10.0.0.5");
    ch.feed("NOPE\n");

    assertFalse(ch.isOpen());
    verify(handler, never()).handle(any());
    assertEquals(1, server.stats().handshakeFailures());
    assertEquals(0, server.stats().handled());
  }

  @Test
  void handshakeDeadlineIsAbsoluteAndClosesTheConnection() throws Exception {
    Handler handler = mock(Handler.class);
    start(server().allow("10.0.0.0/8").handshake(Handshakes.expectLine("HELLO")).handle(handler));
    FakeChannel ch = connect("10.0.0.5");
    ch.feed("H");
    ch.feed("E");
    assertEquals(1, ch.pendingTimers(), "arriving bytes do not add or reset deadlines");

    assertEquals(1, ch.elapse());
    assertFalse(ch.isOpen());
    verify(handler, never()).handle(any());
    assertEquals(1, server.stats().handshakeTimeouts());
    assertEquals(0, server.stats().handshakeFailures());
  }

  @Test
  void peerLeavingDuringHandshakeCountsAsFailure() throws Exception {
    start(server().allow("10.0.0.0/8").handshake(Handshakes.expectLine("HELLO")).handle(recording));
    FakeChannel ch = connect("10.0.0.5");
    ch.feed("HEL");
    ch.peerCloses();
    assertFalse(ch.isOpen());
    assertEquals(1, server.stats().handshakeFailures());
    assertTrue(received.isEmpty());
  }

  private static Handshake replacePeerWith(String address) {
    return Handshake.of("replace", () -> new HandshakeStep() {
      @Override
      public Progress begin(dev.portcullis.handshake.HandshakeContext ctx) {
        ctx.replacePeer(new InetSocketAddress(address, 5555));
        ctx.identity(Identity.of("test", "proxied"));
        return Progress.DONE;
      }

      @Override
      public Progress onInput(java.nio.ByteBuffer input, dev.portcullis.handshake.HandshakeContext ctx) {
        return Progress.DONE;
      }
    });
  }

  @Test
  void replacedPeerIsCheckedAgainAndDeniedIfThePolicySaysSo() throws Exception {
    Handler handler = mock(Handler.class);
    start(server().allow("10.0.0.1").deny("192.0.2.0/24").handshake(replacePeerWith("192.0.2.7")).handle(handler));
    FakeChannel ch = connect("10.0.0.1");
    assertFalse(ch.isOpen());
    verify(handler, never()).handle(any());
    assertEquals(1, server.stats().deniedAfterHandshake());
  }

  @Test
  void replacedPeerAndIdentityReachTheHandler() throws Exception {
    start(server().allow("10.0.0.1").allow("198.51.100.0/24").handshake(replacePeerWith("198.51.100.9"))
        .handle(recording));
    FakeChannel ch = new FakeChannel("10.0.0.1", 40000);
    ch.peerCloses();
    assertTrue(acceptor.admitIpv4(ipv4("10.0.0.1")));
    acceptor.accepted(ch);

    Connection c = served.get(0);
    assertEquals(new InetSocketAddress("198.51.100.9", 5555), c.peer());
    assertEquals(new InetSocketAddress("10.0.0.1", 40000), c.socketPeer());
    assertEquals(Optional.of(Identity.of("test", "proxied")), c.identity());
  }

  @Test
  void unresolvedReplacementPeerFailsTheHandshake() throws Exception {
    Handshake unresolved = Handshake.of("unresolved", () -> new HandshakeStep() {
      @Override
      public Progress begin(dev.portcullis.handshake.HandshakeContext ctx) {
        ctx.replacePeer(InetSocketAddress.createUnresolved("proxy.example", 1));
        return Progress.DONE;
      }

      @Override
      public Progress onInput(java.nio.ByteBuffer input, dev.portcullis.handshake.HandshakeContext ctx) {
        return Progress.DONE;
      }
    });
    start(server().allow("10.0.0.0/8").handshake(unresolved).handle(recording));
    FakeChannel ch = connect("10.0.0.5");
    assertFalse(ch.isOpen());
    assertEquals(1, server.stats().handshakeFailures());
    assertTrue(received.isEmpty());
    assertEquals(1, log.lines("Handshake step 'unresolved' with").size(), log.text());
  }

  @Test
  void stepThatThrowsIsAFailedHandshakeNotACrash() throws Exception {
    Handshake broken = Handshake.of("broken", () -> (input, ctx) -> {
      throw new IllegalStateException("bug in a custom step");
    });
    start(server().allow("10.0.0.0/8").handshake(broken).handle(recording));
    FakeChannel ch = connect("10.0.0.5");
    ch.feed("x");
    assertFalse(ch.isOpen());
    assertEquals(1, server.stats().handshakeFailures());
    assertEquals(1, log.lines("Handshake step 'broken' with").size(), log.text());
    assertTrue(log.text().contains("threw\njava.lang.IllegalStateException: bug in a custom step\n"), "its stack: " + log.text());
  }

  @Test
  void stepThatNeverFinishesCannotBufferWithoutBound() throws Exception {
    Handshake greedy = Handshake.of("greedy", () -> (input, ctx) -> HandshakeStep.Progress.NEED_MORE);
    start(server().allow("10.0.0.0/8").handshake(greedy).handle(recording));
    FakeChannel ch = connect("10.0.0.5");
    ch.feed(new byte[HandshakeStep.MAX_BUFFERED - 1]);
    assertTrue(ch.isOpen(), "below the limit the step may keep waiting");
    ch.feed(new byte[1]);
    assertFalse(ch.isOpen());
    assertEquals(1, server.stats().handshakeFailures());
  }

  @Test
  void customStepSeesOnlyUnconsumedBytesAgain() throws Exception {
    List<Integer> seen = new ArrayList<>();
    Handshake twoBytes = Handshake.of("two-bytes", () -> (input, ctx) -> {
      seen.add(input.remaining());
      if (input.remaining() < 2) {
        return HandshakeStep.Progress.NEED_MORE;
      }
      input.position(input.position() + 2);
      return HandshakeStep.Progress.DONE;
    });
    start(server().allow("10.0.0.0/8").handshake(twoBytes).handle(recording));
    FakeChannel ch = connect("10.0.0.5");
    ch.feed("a");
    ch.feedAndClose("bcd");
    assertEquals(List.of(1, 4), seen);
    assertEquals(List.of("cd"), received);
  }

  @Test
  void handshakeOutputWaitsForRoomInTheSendBuffer() throws Exception {
    start(server().allow("10.0.0.0/8").handshake(Handshakes.greeting("a-long-greeting"))
        .handshake(Handshakes.expectLine("OK")).handle(recording));
    FakeChannel ch = new FakeChannel("10.0.0.5", 40000);
    ch.sendCapacity(4);
    assertTrue(acceptor.admitIpv4(ipv4("10.0.0.5")));
    acceptor.accepted(ch);
    assertEquals("a-lo", ch.written());
    ch.feed("OK\n");
    assertTrue(received.isEmpty(), "the next step waits until the greeting is out");
    ch.peerCloses();
    ch.drain();
    assertEquals("a-long-greeting\nok:", ch.written());
  }

  @Test
  void handlerThatThrowsIsCountedAndItsConnectionClosed() throws Exception {
    start(server().allow("10.0.0.0/8").handle(conn -> {
      throw new IllegalStateException("application bug");
    }));
    FakeChannel ch = connect("10.0.0.5");
    assertFalse(ch.isOpen());
    assertEquals(1, server.stats().handlerFailures());
    assertEquals(1, log.lines("WARN dev.portcullis.internal.Pipeline - Handler failed for 10.0.0.5").size(), log.text());
  }

  @Test
  void aHandlerInterruptedBecauseTheServerClosesIsNotAFailure() throws Exception {
    java.util.List<Runnable> queued = new java.util.ArrayList<>();
    start(server().executor(queued::add).allow("10.0.0.0/8").handle(conn -> {
      throw new InterruptedException("the executor was shut down under a wait");
    }));
    connect("10.0.0.5");
    server.close(); // what shutdownNow() of the executor does to a handler that waits: an interrupt
    queued.forEach(Runnable::run);
    assertEquals(0, server.stats().handlerFailures());
    assertTrue(log.lines("WARN dev.portcullis.internal.Pipeline").isEmpty(), log.text());
  }

  @Test
  void saturatedExecutorRefusesTheConnection() throws Exception {
    Executor full = task -> {
      throw new RejectedExecutionException("full");
    };
    Handler handler = mock(Handler.class);
    start(server().executor(full).allow("10.0.0.0/8").handle(handler));
    FakeChannel ch = connect("10.0.0.5");
    assertFalse(ch.isOpen());
    verify(handler, never()).handle(any());
    assertEquals(1, server.stats().overloaded());
  }

  @Test
  void closeClosesTheListenerOnceAndEndsAwaitTermination() throws Exception {
    start(server().allow("10.0.0.0/8").handle(recording));
    server.close();
    server.close();
    assertTrue(server.awaitTermination(java.time.Duration.ZERO));
    verify(listener, org.mockito.Mockito.times(1)).close();
  }

  // ---- the cap on pending handshakes

  @Test
  void aServerWithAHandshakeStepHasTheDefaultCapOnPendingHandshakesWhenNoneIsSet() throws Exception {
    start(server().allow("10.0.0.0/8").handshake(Handshakes.expectLine("HELLO")).handle(recording));
    int cap = dev.portcullis.policy.Limits.defaultMaxPendingHandshakes();
    for (int i = 0; i <= cap; i++) {
      connect("10.0." + (i >> 8 & 0xFF) + "." + (i & 0xFF));
    }
    ServerStats stats = server.stats();
    assertEquals(cap, stats.pendingHandshakes(), "the default cap holds: " + stats);
    // Refused or, if the first one had waited long enough, in the first one's place: one either way.
    assertEquals(1, stats.limited(), stats.toString());
    assertEquals(cap + 1, stats.accepted());
  }

  @Test
  void aServerWithoutHandshakeStepsIsNotCappedByTheDefault() throws Exception {
    start(server().allow("10.0.0.0/8").handleOnLoop(new LoopHandler() {
      @Override
      public void onData(LoopConnection connection, java.nio.ByteBuffer data) {}
    }));
    int n = dev.portcullis.policy.Limits.defaultMaxPendingHandshakes() + 1;
    List<FakeChannel> open = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      open.add(connect("10.0." + (i >> 8 & 0xFF) + "." + (i & 0xFF)));
    }
    assertEquals(0, server.stats().limited());
    assertEquals(n, server.stats().handled());
    assertEquals(n, server.stats().openConnections());
    assertTrue(open.stream().allMatch(FakeChannel::isOpen));
  }

  @Test
  void atThePendingCapTheOldestStalledHandshakeGivesItsSlotToANewcomer() throws Exception {
    // Half the handshake timeout (200 ms) is the age at which a pending handshake may be evicted.
    start(server().allow("10.0.0.0/8").maxPendingHandshakes(2).handshakeTimeout(java.time.Duration.ofMillis(400))
        .handshake(Handshakes.expectLine("HELLO")).handle(recording));
    FakeChannel oldest = connect("10.0.0.1");
    FakeChannel second = connect("10.0.0.2");
    oldest.feed("HEL"); // part of its line, and then nothing
    Thread.sleep(250);
    FakeChannel newcomer = connect("10.0.0.3");
    assertFalse(oldest.isOpen(), "the oldest pending handshake was closed to make room");
    assertTrue(second.isOpen());
    assertTrue(newcomer.isOpen());
    assertEquals(2, server.stats().pendingHandshakes());
    assertEquals(1, server.stats().limited());
    newcomer.feedAndClose("HELLO\nhi");
    second.feedAndClose("HELLO\nthere");
    assertEquals(List.of("hi", "there"), received);
    ServerStats stats = server.stats();
    assertEquals(0, stats.pendingHandshakes());
    assertEquals(stats.accepted(), stats.outcomes(), "every connection has exactly one outcome: " + stats);
    assertEquals(0, stats.handshakeTimeouts());
  }
}
