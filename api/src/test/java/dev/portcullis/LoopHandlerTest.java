package dev.portcullis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.handshake.Handshakes;
import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Transport;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The event-loop handler style over the in-memory channel: callbacks, queued writes, backpressure. */
@Timeout(10)
class LoopHandlerTest {
  private final MockTransport mock = new MockTransport();
  private final Transport transport = mock.transport;
  private RunningServer server;
  private Acceptor acceptor;
  private final List<String> events = new ArrayList<>();

  private void start(Server s) throws Exception {
    server = s.transport(transport).start();
    acceptor = mock.acceptor();
  }

  @AfterEach
  void close() {
    if (server != null) {
      server.close();
    }
  }

  private FakeChannel connect() throws Exception {
    return mock.connect("10.0.0.5");
  }

  private static String text(ByteBuffer b) {
    byte[] bytes = new byte[b.remaining()];
    b.get(bytes);
    return new String(bytes, StandardCharsets.UTF_8);
  }

  /** Records every callback and echoes data. */
  private final LoopHandler recordingEcho = new LoopHandler() {
    @Override
    public void onOpen(LoopConnection c) {
      events.add("open " + ((java.net.InetSocketAddress) c.peer()).getAddress().getHostAddress());
    }

    @Override
    public void onData(LoopConnection c, ByteBuffer data) {
      String s = text(data.duplicate());
      events.add("data " + s);
      c.write(data);
    }

    @Override
    public void onEndOfStream(LoopConnection c) throws Exception {
      events.add("eof");
      LoopHandler.super.onEndOfStream(c);
    }

    @Override
    public void onClose(LoopConnection c) {
      events.add("close");
    }
  };

  @Test
  void callbacksArriveInOrderAndEchoIsWritten() throws Exception {
    start(Server.on(7000).allow("10.0.0.0/8").handleOnLoop(recordingEcho));
    FakeChannel ch = connect();
    ch.feed("abc");
    ch.feed("def");
    ch.peerCloses();
    assertEquals(List.of("open 10.0.0.5", "data abc", "data def", "eof", "close"), events);
    assertEquals("abcdef", ch.written());
    assertFalse(ch.isOpen());
    assertEquals(1, server.stats().handled());
  }

  @Test
  void bytesAndEndOfStreamInOneEventBothReachTheHandler() throws Exception {
    // The read stops at the short read of "abc"; the channel's second notice (the watchReadable
    // promise, proved in ChannelContract) must lead to onEndOfStream.
    start(Server.on(7000).allow("10.0.0.0/8").handleOnLoop(recordingEcho));
    FakeChannel ch = connect();
    ch.feedAndClose("abc");
    assertEquals(List.of("open 10.0.0.5", "data abc", "eof", "close"), events);
    assertFalse(ch.isOpen());
  }

  @Test
  void bytesAfterTheHandshakeReachOnData() throws Exception {
    start(Server.on(7000).allow("10.0.0.0/8").handshake(Handshakes.expectLine("HELLO"))
        .handleOnLoop(recordingEcho));
    FakeChannel ch = connect();
    ch.feed("HELLO\nearly");
    assertEquals(List.of("open 10.0.0.5", "data early"), events);
  }

  @Test
  void closeWaitsForQueuedOutputAndReadingPausesWhileTooMuchIsQueued() throws Exception {
    byte[] big = new byte[LoopConnection.MAX_QUEUED + 10];
    List<LoopConnection> seen = new ArrayList<>();
    start(Server.on(7000).allow("10.0.0.0/8").handleOnLoop(new LoopHandler() {
      @Override
      public void onOpen(LoopConnection c) {
        seen.add(c);
        c.write(ByteBuffer.wrap(big));
        c.close();
      }

      @Override
      public void onData(LoopConnection c, ByteBuffer data) {
        events.add("data");
      }
    }));
    FakeChannel ch = new FakeChannel("10.0.0.5", 40000);
    ch.sendCapacity(10);
    assertTrue(acceptor.admitIpv4(0x0A000005));
    acceptor.accepted(ch);

    LoopConnection c = seen.get(0);
    assertTrue(ch.isOpen(), "close waits for queued output");
    assertEquals(big.length - 10, c.queuedBytes());
    ch.drain();
    assertEquals(big.length, ch.written().length());
    assertFalse(ch.isOpen());
    assertEquals(0, c.queuedBytes());
  }

  @Test
  void abortDropsQueuedOutput() throws Exception {
    start(Server.on(7000).allow("10.0.0.0/8").handleOnLoop(new LoopHandler() {
      @Override
      public void onOpen(LoopConnection c) {
        c.write(ByteBuffer.wrap(new byte[100]));
        c.abort();
      }

      @Override
      public void onData(LoopConnection c, ByteBuffer data) {}
    }));
    FakeChannel ch = new FakeChannel("10.0.0.5", 40000);
    ch.sendCapacity(10);
    assertTrue(acceptor.admitIpv4(0x0A000005));
    acceptor.accepted(ch);
    assertFalse(ch.isOpen());
    assertEquals(10, ch.written().length());
  }

  @Test
  void callbackThatThrowsClosesAndIsCounted() throws Exception {
    start(Server.on(7000).allow("10.0.0.0/8").handleOnLoop((c, data) -> {
      throw new IllegalStateException("bug");
    }));
    FakeChannel ch = connect();
    ch.feed("x");
    assertFalse(ch.isOpen());
    assertEquals(1, server.stats().handlerFailures());
  }

  @Test
  void choosingBothHandlerStylesFailsAtStart() {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> Server.on(7000)
        .allow("10.0.0.0/8").handle(conn -> {}).handleOnLoop((c, d) -> {}).transport(transport).start());
    assertTrue(e.getMessage().contains("choose one"), e.getMessage());
  }
}
