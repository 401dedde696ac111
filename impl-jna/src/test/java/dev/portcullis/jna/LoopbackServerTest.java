package dev.portcullis.jna;

import static dev.portcullis.jna.Clients.await;
import static dev.portcullis.jna.Clients.exchange;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Connection;
import dev.portcullis.Handler;
import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.spi.LogCapture;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The whole server on real loopback sockets through the JNA transport. */
@Timeout(60)
class LoopbackServerTest {
  /** What the servers log, kept for the tests that expect a line, and out of the build's console. */
  @RegisterExtension
  final LogCapture log = new LogCapture();

  private final List<InetSocketAddress> peers = new CopyOnWriteArrayList<>();
  private final AtomicInteger handled = new AtomicInteger();
  private RunningServer server;

  /** Echoes everything and records who it served. */
  private final Handler echo = conn -> {
    handled.incrementAndGet();
    peers.add((InetSocketAddress) conn.peer());
    conn.input().transferTo(conn.output());
  };

  @AfterEach
  void stop() {
    if (server != null) {
      server.close();
    }
  }

  private InetSocketAddress at(String host) {
    return new InetSocketAddress(host, server.port());
  }

  @Test
  void clientFromAllowedAddressIsServed() throws Exception {
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").handle(echo).start();
    assertEquals("ping", exchange("127.0.0.1", server.localAddress(), "ping"));
    assertEquals(List.of("127.0.0.1"), peers.stream().map(p -> p.getAddress().getHostAddress()).toList());
  }

  @Test
  void clientBoundTo127002IsRefusedAndNeverReachesTheHandler() throws Exception {
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").handle(echo).start();
    assertNull(exchange("127.0.0.2", server.localAddress(), "ping"));
    assertTrue(await(() -> server.stats().denied() == 1, Duration.ofSeconds(5)));
    assertEquals(0, handled.get());
  }

  @Test
  void ipv6LoopbackIsServedAndDeniedByIpv6Rules() throws Exception {
    server = Server.on(0).bindAddress("::1").allow("::1/128").handle(echo).start();
    assertEquals("six", exchange("::1", at("::1"), "six"));
    assertEquals("0:0:0:0:0:0:0:1", peers.get(0).getAddress().getHostAddress());
    server.close();

    server = Server.on(0).bindAddress("::1").deny("::1").allow("::/0").handle(echo).start();
    assertNull(exchange("::1", at("::1"), "six"));
  }

  @Test
  void dualStackListenerMatchesIpv4ClientsAgainstIpv4Rules() throws Exception {
    server = Server.on(0).bindAddress("::").allow("127.0.0.1").handle(echo).start();
    assertEquals("v4", exchange("127.0.0.1", at("127.0.0.1"), "v4"));
    assertInstanceOf(Inet4Address.class, peers.get(0).getAddress(), "mapped peers are reported as IPv4");
    assertNull(exchange("127.0.0.2", at("127.0.0.1"), "v4"));
    assertNull(exchange("::1", at("::1"), "v6"), "an IPv4 rule never matches an IPv6 peer");
    assertEquals(1, handled.get());
  }

  @Test
  void defaultListenerIsDualStack() throws Exception {
    server = Server.on(0).allowAll().handle(echo).start();
    assertEquals("a", exchange("127.0.0.1", at("127.0.0.1"), "a"));
    assertEquals("b", exchange("::1", at("::1"), "b"));
  }

  @Test
  void twoThousandDeniedConnectionsLeaveNoDescriptorBehind() throws Exception {
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").handle(echo).start();
    InetSocketAddress to = (InetSocketAddress) server.localAddress();
    for (int i = 0; i < 20; i++) {
      Clients.connect("127.0.0.2", to).close();
    }
    assertTrue(await(() -> server.stats().denied() == 20, Duration.ofSeconds(10)));
    long baseline = Clients.openDescriptors();

    for (int i = 0; i < 2000; i++) {
      Clients.connect("127.0.0.2", to).close();
    }
    assertTrue(await(() -> server.stats().denied() == 2020, Duration.ofSeconds(30)),
        "denied so far: " + server.stats().denied());
    AtomicReference<Long> now = new AtomicReference<>();
    boolean back = await(() -> {
      try {
        now.set(Clients.openDescriptors());
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
      return now.get() <= baseline; // fewer is no leak: a descriptor of something else may close meanwhile
    }, Duration.ofSeconds(5));
    assertTrue(back, "open descriptors: " + now.get() + ", before: " + baseline);
    assertEquals(0, handled.get());
  }

  @Test
  void closeWakesBlockedHandlersAndReleasesThePortAtOnce() throws Exception {
    CountDownLatch inHandler = new CountDownLatch(1);
    CountDownLatch handlerDone = new CountDownLatch(1);
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handshake(Handshakes.expectLine("HELLO"))
        .handle(conn -> {
          inHandler.countDown();
          try {
            conn.input().read();
          } finally {
            handlerDone.countDown();
          }
        }).start();
    int port = server.port();
    try (Socket busy = Clients.connect("127.0.0.1", server.localAddress());
        Socket silent = Clients.connect("127.0.0.1", server.localAddress())) {
      busy.getOutputStream().write("HELLO\n".getBytes());
      assertTrue(inHandler.await(5, TimeUnit.SECONDS));

      server.close();

      assertTrue(handlerDone.await(5, TimeUnit.SECONDS), "a handler blocked in read is woken by close");
      assertEquals(0, server.stats().handlerFailures(), "a handler ended by close is not a failure");
      assertEquals(-1, silent.getInputStream().read(), "a connection still in its handshake is closed");
      try (ServerSocket again = new ServerSocket()) {
        again.bind(new InetSocketAddress("127.0.0.1", port));
        assertEquals(port, again.getLocalPort());
      }
    }
    server = Server.on(port).bindAddress("127.0.0.1").allow("127.0.0.1").handle(echo).start();
    assertEquals("again", exchange("127.0.0.1", server.localAddress(), "again"));
  }

  @Test
  void handshakeRunsOnRealSocketsAndSilentClientsTimeOut() throws Exception {
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handshake(Handshakes.expectLine("HELLO"))
        .handshakeTimeout(Duration.ofMillis(300))
        .handle(echo).start();
    assertEquals("payload", exchange("127.0.0.1", server.localAddress(), "HELLO\r\npayload"));
    assertNull(exchange("127.0.0.1", server.localAddress(), "GOODBYE\n"));
    try (Socket silent = Clients.connect("127.0.0.1", server.localAddress())) {
      assertEquals(-1, silent.getInputStream().read(), "closed by the deadline");
    }
    assertTrue(await(() -> server.stats().handshakeTimeouts() == 1, Duration.ofSeconds(5)));
    assertEquals(1, server.stats().handshakeFailures());
    assertEquals(1, handled.get());
  }

  @Test
  void largeEchoSurvivesFullSendBuffers() throws Exception {
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").handle(echo).start();
    byte[] payload = new byte[8 << 20];
    new Random(42).nextBytes(payload);
    assertArrayEquals(payload, Clients.echo(server.localAddress(), payload));
  }

  @Test
  void callerRunsExecutorFailsTheHandlerInsteadOfFreezingTheLoop() throws Exception {
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").executor(Runnable::run)
        .handle(echo).start();
    try (Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
      assertEquals(-1, s.getInputStream().read(), "the handler fails and its connection is closed");
    }
    assertTrue(await(() -> server.stats().handlerFailures() == 1, Duration.ofSeconds(5)));
    assertEquals(1, log.lines("WARN dev.portcullis.internal.Pipeline - Handler failed for 127.0.0.1").size(), log.text());
    assertEquals(1, log.lines("A blocking Connection stream was used on the event loop thread").size(), log.text());
    // The loop is alive: it accepts the next connection and runs its handler. (Whether that handler
    // must wait, and so fails, depends on whether the bytes arrived first; either way it answers.)
    exchange("127.0.0.1", server.localAddress(), "x");
    assertTrue(await(() -> server.stats().handled() == 2, Duration.ofSeconds(5)));
  }

  @Test
  void connectionReportsItsAddresses() throws Exception {
    AtomicReference<Connection> seen = new AtomicReference<>();
    AtomicReference<InetSocketAddress> local = new AtomicReference<>();
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").handle(conn -> {
      seen.set(conn);
      local.set((InetSocketAddress) conn.localAddress());
    }).start();
    try (Socket s = Clients.connect("127.0.0.3", server.localAddress())) {
      assertEquals(-1, s.getInputStream().read());
      assertEquals(new InetSocketAddress("127.0.0.3", s.getLocalPort()), seen.get().peer());
      assertEquals(seen.get().peer(), seen.get().socketPeer());
      assertEquals(server.localAddress(), local.get());
      assertTrue(seen.get().identity().isEmpty());
    }
  }
}
