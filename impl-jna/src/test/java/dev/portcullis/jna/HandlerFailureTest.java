package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handler;
import dev.portcullis.LoopConnection;
import dev.portcullis.LoopHandler;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.function.Supplier;
import java.util.stream.Stream;
import dev.portcullis.spi.LogCapture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * No single connection's failure stops a loop or the server: a handler that throws anything, an
 * {@code Error} included, loses its own connection, is counted, and the others go on being served.
 */
@org.junit.jupiter.api.Timeout(60)
class HandlerFailureTest {
  private static final byte[] BOOM = "boom".getBytes(StandardCharsets.US_ASCII);
  private RunningServer server;

  /** The failures' WARN lines and stacks go to the capture, not to the build's console. */
  @RegisterExtension
  final LogCapture log = new LogCapture();

  @AfterEach
  void stop() {
    if (server != null) {
      server.close();
    }
  }

  /**
   * What a full heap looks like to the code that handles it: an {@code OutOfMemoryError} that
   * cannot even be turned into a log line, because building the line throws another one.
   */
  static final class Unloggable extends OutOfMemoryError {
    @Override
    public String getMessage() {
      throw new Unloggable();
    }
  }

  static Stream<Arguments> failures() {
    return Stream.of(
        Arguments.of("OutOfMemoryError", (Supplier<Throwable>) () -> new OutOfMemoryError("test")),
        Arguments.of("StackOverflowError", (Supplier<Throwable>) () -> new StackOverflowError("test")),
        Arguments.of("RuntimeException", (Supplier<Throwable>) () -> new IllegalStateException("test")),
        Arguments.of("an OutOfMemoryError that cannot be logged", (Supplier<Throwable>) Unloggable::new));
  }

  private static void sneakyThrow(Throwable t) {
    HandlerFailureTest.<RuntimeException>sneaky(t);
  }

  @SuppressWarnings("unchecked")
  private static <T extends Throwable> void sneaky(Throwable t) throws T {
    throw (T) t;
  }

  /** Echoes, but throws when the peer says {@code boom}. */
  private static LoopHandler loopHandler(Supplier<Throwable> failure) {
    return (LoopConnection c, ByteBuffer data) -> {
      if (data.remaining() == BOOM.length && data.get(0) == 'b' && data.get(3) == 'm') {
        sneakyThrow(failure.get());
      }
      c.write(data);
    };
  }

  /** Echoes one read, but throws when the peer says {@code boom}. */
  private static Handler blockingHandler(Supplier<Throwable> failure) {
    return conn -> {
      byte[] buf = new byte[64];
      int n = conn.input().read(buf);
      if (n == BOOM.length && buf[0] == 'b' && buf[3] == 'm') {
        sneakyThrow(failure.get());
      }
      conn.output().write(buf, 0, Math.max(n, 0));
    };
  }

  private void boomIsClosedAndCountedAndOthersAreServed() throws Exception {
    try (Socket failing = Clients.connect("127.0.0.1", server.localAddress())) {
      failing.getOutputStream().write(BOOM);
      assertClosedByTheServer(failing);
    }
    assertTrue(Clients.await(() -> server.stats().handlerFailures() == 1, Duration.ofSeconds(10)),
        "handler failures: " + server.stats().handlerFailures());
    for (int i = 0; i < 3; i++) {
      assertEchoes("still served " + i);
    }
    assertEquals(1, server.stats().handlerFailures());
  }

  private static void assertClosedByTheServer(Socket s) throws IOException {
    int r;
    try {
      r = s.getInputStream().read();
    } catch (SocketException e) {
      r = -1; // reset: closed too
    }
    assertEquals(-1, r, "the failing connection is closed");
  }

  private void assertEchoes(String text) throws IOException {
    byte[] hello = text.getBytes(StandardCharsets.US_ASCII);
    try (Socket other = Clients.connect("127.0.0.1", server.localAddress())) {
      other.getOutputStream().write(hello);
      assertArrayEquals(hello, other.getInputStream().readNBytes(hello.length), "another connection is served");
    }
  }

  @ParameterizedTest(name = "onData throws {0}")
  @MethodSource("failures")
  void aLoopHandlerThatThrowsLosesOnlyItsConnection(String name, Supplier<Throwable> failure) throws Exception {
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").handleOnLoop(loopHandler(failure)).start();
    assertEchoes("before");
    boomIsClosedAndCountedAndOthersAreServed();
  }

  @ParameterizedTest(name = "onOpen throws {0}")
  @MethodSource("failures")
  void aLoopHandlerThatThrowsInOnOpenLosesOnlyItsConnection(String name, Supplier<Throwable> failure)
      throws Exception {
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").handleOnLoop(new LoopHandler() {
      @Override
      public void onOpen(LoopConnection c) {
        if (((java.net.InetSocketAddress) c.peer()).getAddress().getHostAddress().equals("127.0.0.9")) {
          sneakyThrow(failure.get());
        }
      }

      @Override
      public void onData(LoopConnection c, ByteBuffer data) {
        c.write(data);
      }
    }).start();
    try (Socket failing = Clients.connect("127.0.0.9", server.localAddress())) {
      assertClosedByTheServer(failing);
    }
    assertTrue(Clients.await(() -> server.stats().handlerFailures() == 1, Duration.ofSeconds(10)));
    assertEchoes("still served");
  }

  @ParameterizedTest(name = "handle throws {0}")
  @MethodSource("failures")
  void aBlockingHandlerThatThrowsLosesOnlyItsConnection(String name, Supplier<Throwable> failure) throws Exception {
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").handle(blockingHandler(failure)).start();
    assertEchoes("before");
    boomIsClosedAndCountedAndOthersAreServed();
    if (!name.contains("cannot be logged")) {
      assertEquals(1, log.lines("WARN dev.portcullis.internal.Pipeline - Handler failed for 127.0.0.1").size(), log.text());
    }
  }
}
