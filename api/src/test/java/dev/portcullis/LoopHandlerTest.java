package dev.portcullis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

  private void start(Server.TcpBuilder s) throws Exception {
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

  /** A connection whose send buffer takes only {@code capacity} bytes until the test drains it. */
  private FakeChannel connectWithSendCapacity(int capacity) throws Exception {
    FakeChannel ch = new FakeChannel("10.0.0.5", 40000);
    ch.sendCapacity(capacity);
    assertTrue(acceptor.admitIpv4(0x0A000005));
    acceptor.accepted(ch);
    return ch;
  }

  @Test
  void tryWriteOnTheLoopStopsAtTheHighWaterMarkAndOnWritableResumesIt() throws Exception {
    int chunk = 64 * 1024;
    long total = 8L * LoopConnection.MAX_QUEUED;
    long[] produced = {0};
    long[] maxQueued = {0};
    start(Server.on(7000).allow("10.0.0.0/8").handleOnLoop(new LoopHandler() {
      void produce(LoopConnection c) {
        while (produced[0] < total && c.tryWrite(ByteBuffer.allocate(chunk))) {
          produced[0] += chunk;
          maxQueued[0] = Math.max(maxQueued[0], c.queuedBytes());
        }
        events.add("stopped at " + produced[0]);
      }

      @Override
      public void onOpen(LoopConnection c) {
        produce(c);
      }

      @Override
      public void onWritable(LoopConnection c) {
        events.add("writable");
        produce(c);
      }

      @Override
      public void onData(LoopConnection c, ByteBuffer data) {}
    }));
    FakeChannel ch = connectWithSendCapacity(10);
    assertEquals(List.of("stopped at " + LoopConnection.MAX_QUEUED), events);
    for (int i = 0; i < 100 && produced[0] < total; i++) {
      ch.drain(chunk * 3);
      ch.peerReads();
    }
    ch.drain();
    assertEquals(total, produced[0]);
    assertEquals(total, ch.written().length());
    assertTrue(maxQueued[0] <= LoopConnection.MAX_QUEUED, "max queued " + maxQueued[0]);
    assertTrue(events.contains("writable"), events.toString());
    assertEquals(0, server.stats().handlerFailures());
  }

  @Test
  void readingPausesAboveTheHighWaterMarkAndResumesAtTheLowWaterMark() throws Exception {
    int response = LoopConnection.MAX_QUEUED + LoopConnection.MAX_QUEUED / 2;
    start(Server.on(7000).allow("10.0.0.0/8").handleOnLoop(new LoopHandler() {
      @Override
      public void onData(LoopConnection c, ByteBuffer data) {
        events.add("data " + text(data) + " with " + c.queuedBytes() + " queued");
        c.write(ByteBuffer.allocate(response));
      }

      @Override
      public void onWritable(LoopConnection c) {
        events.add("writable at " + c.queuedBytes());
      }
    }));
    FakeChannel ch = connectWithSendCapacity(0);
    ch.feed("a");
    ch.feed("b");
    assertEquals(List.of("data a with 0 queued"), events, "reading paused with 1.5 MiB queued");
    ch.drain(LoopConnection.MAX_QUEUED);
    assertEquals(1, events.size(), "still paused above the low-water mark");
    ch.drain();
    assertEquals(List.of("data a with 0 queued", "data b with 0 queued", "writable at 0"), events);
  }

  @Test
  void aLoopWritePastTheHardLimitClosesTheConnectionAndCountsAFailure() throws Exception {
    List<LoopConnection> seen = new ArrayList<>();
    start(Server.on(7000).allow("10.0.0.0/8").handleOnLoop(new LoopHandler() {
      @Override
      public void onOpen(LoopConnection c) {
        seen.add(c);
        for (int i = 0; i < 2 * LoopConnection.HARD_LIMIT / (64 * 1024) && c.isOpen(); i++) {
          c.write(ByteBuffer.allocate(64 * 1024)); // ignores back-pressure
          events.add("queued " + c.queuedBytes());
        }
      }

      @Override
      public void onData(LoopConnection c, ByteBuffer data) {}

      @Override
      public void onClose(LoopConnection c) {
        events.add("close");
      }
    }));
    FakeChannel ch = connectWithSendCapacity(0);
    assertFalse(ch.isOpen());
    assertFalse(seen.get(0).isOpen());
    assertEquals(0, seen.get(0).queuedBytes());
    assertEquals("queued " + LoopConnection.HARD_LIMIT, events.get(events.size() - 3));
    assertEquals(List.of("close", "queued 0"), events.subList(events.size() - 2, events.size()));
    assertEquals(1, server.stats().handlerFailures());
  }

  @Test
  void tryWriteTakesAllOrNothingAndRefusesWhatCouldNeverFit() throws Exception {
    List<LoopConnection> seen = new ArrayList<>();
    start(Server.on(7000).allow("10.0.0.0/8").handleOnLoop(new LoopHandler() {
      @Override
      public void onOpen(LoopConnection c) {
        seen.add(c);
      }

      @Override
      public void onData(LoopConnection c, ByteBuffer data) {}
    }));
    FakeChannel ch = connectWithSendCapacity(0);
    LoopConnection c = seen.get(0);
    assertThrows(IllegalArgumentException.class, () -> c.tryWrite(ByteBuffer.allocate(LoopConnection.MAX_QUEUED + 1)));
    assertTrue(c.tryWrite(ByteBuffer.allocate(LoopConnection.MAX_QUEUED - 1)));
    ByteBuffer two = ByteBuffer.allocate(2);
    assertFalse(c.tryWrite(two));
    assertEquals(2, two.remaining(), "a refused buffer is untouched");
    assertTrue(c.tryWrite(ByteBuffer.allocate(1)));
    assertEquals(LoopConnection.MAX_QUEUED, c.queuedBytes());
    c.abort();
    assertFalse(c.tryWrite(ByteBuffer.allocate(1)), "a closed connection takes nothing");
    assertFalse(ch.isOpen());
  }

  @Test
  void manySmallWritesArriveInOrderThroughPartialDrains() throws Exception {
    StringBuilder expected = new StringBuilder();
    start(Server.on(7000).allow("10.0.0.0/8").handleOnLoop(new LoopHandler() {
      @Override
      public void onOpen(LoopConnection c) {
        for (int i = 0; i < 100_000; i++) {
          String s = Integer.toString(i, 36);
          expected.append(s);
          c.write(ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8)));
        }
      }

      @Override
      public void onData(LoopConnection c, ByteBuffer data) {}
    }));
    FakeChannel ch = connectWithSendCapacity(7);
    for (int room = 1; ch.written().length() < expected.length() / 2; room = room * 3 + 1) {
      ch.drain(room);
    }
    ch.drain();
    assertEquals(expected.toString(), ch.written());
  }

  @Test
  void choosingBothHandlerStylesFailsAtStart() {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> Server.on(7000)
        .allow("10.0.0.0/8").handle(conn -> {}).handleOnLoop((c, d) -> {}).transport(transport).start());
    assertTrue(e.getMessage().contains("choose one"), e.getMessage());
  }
}
