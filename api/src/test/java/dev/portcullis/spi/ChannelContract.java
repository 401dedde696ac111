package dev.portcullis.spi;

import static dev.portcullis.spi.Contracts.WAIT;
import static dev.portcullis.spi.Contracts.await;
import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What every {@link Channel} must do, as the {@code Channel} Javadoc promises it, written once:
 * each transport's tests subclass this with a way to make a connected pair (the channel under test
 * and a {@link Peer} the test drives), as Netty's {@code SocketEchoTest} is subclassed per
 * transport. A behaviour proved here is not proved again in a transport's own tests.
 *
 * <p>Subclasses: {@code dev.portcullis.jna.JnaChannelContractTest} (real loopback sockets, a
 * {@code java.net.Socket} as the peer) and {@code dev.portcullis.FakeChannelContractTest} (the
 * in-memory {@code FakeChannel} the api tests drive by hand, its peer being the test's {@code
 * feed}, {@code peerCloses} and {@code drain} calls).
 *
 * <p>Errnos: the SPI promises an {@link IOException} when the connection fails. A transport over
 * an operating system answers {@link #reportsErrnos()} with true and is held to name the errno too
 * (a {@link dev.portcullis.NativeSocketException} saying {@code ECONNRESET} for a reset); a
 * transport with no operating system underneath, like the fake, answers false and is held to the
 * {@code IOException} alone, since an errno it made up would prove nothing.
 *
 * <p>Time: every wait is bounded by {@link Contracts#WAIT}, and nothing asserts how long anything
 * took. A loop whose clock is virtual moves it in {@link #passTime}.
 */
@Timeout(120)
public abstract class ChannelContract {
  /** Bytes one write is offered while filling the send buffer. */
  private static final int CHUNK = 64 * 1024;
  /** Writes of {@link #CHUNK} before filling gives up: 256 MiB, far beyond any socket buffer. */
  private static final int MAX_FILL_WRITES = 4096;

  /** The far end of a connection, driven by the test. */
  public interface Peer {
    /**
     * Sends bytes to the channel.
     *
     * @param bytes what to send
     * @throws IOException if the peer's socket fails
     */
    void send(byte[] bytes) throws IOException;

    /**
     * Half-closes: no more bytes come from the peer (a FIN), but it still reads.
     *
     * @throws IOException if the peer's socket fails
     */
    void shutdownOutput() throws IOException;

    /**
     * Closes the peer's end in order.
     *
     * @throws IOException if the peer's socket fails
     */
    void close() throws IOException;

    /**
     * Aborts the connection: the channel is reset (an RST).
     *
     * @throws IOException if the peer's socket fails
     */
    void reset() throws IOException;

    /**
     * Reads exactly {@code n} bytes of what the channel wrote, waiting (bounded) for them.
     *
     * @param n how many bytes
     * @return the bytes
     * @throws IOException if the peer's socket fails or the bytes do not come
     */
    byte[] receive(int n) throws IOException;

    /**
     * Reads the channel's end of stream, waiting (bounded) for it, after {@link #receive} took
     * every byte before it.
     *
     * @return true if the end of stream came; false if a byte came instead
     * @throws IOException if the peer's socket fails or nothing comes
     */
    boolean receiveEndOfStream() throws IOException;

    /**
     * The peer's own address, which the channel reports as its remote address.
     *
     * @return the address
     */
    SocketAddress address();

    /**
     * The address the peer connected to, which the channel reports as its local address.
     *
     * @return the address
     */
    SocketAddress serverAddress();
  }

  /**
   * A channel and its peer.
   *
   * @param channel the channel under test, as its transport accepted it
   * @param peer the far end
   */
  public record Pair(Channel channel, Peer peer) {}

  /**
   * A new connection. The subclass closes what it made after each test.
   *
   * @return the connected pair
   * @throws Exception if it cannot be made
   */
  protected abstract Pair connect() throws Exception;

  /**
   * Whether failures carry the operating system's errno (see the class comment).
   *
   * @return true if a reset must name {@code ECONNRESET}
   */
  protected abstract boolean reportsErrnos();

  /**
   * Lets the delays scheduled on {@code channel} so far pass. A real loop's clock moves by itself:
   * the default does nothing.
   *
   * @param channel the channel whose loop has timers
   */
  protected void passTime(Channel channel) {}

  private Channel channel;
  private Peer peer;

  @BeforeEach
  void connectFirstPair() throws Exception {
    Pair pair = connect();
    channel = pair.channel();
    peer = pair.peer();
  }

  // ---- read and write

  @Test
  void readReturnsZeroWhileNothingHasArrived() throws Exception {
    assertEquals(0, channel.read(new byte[16], 0, 16));
    assertEquals(0, channel.read(ByteBuffer.allocate(16)));
    assertEquals(0, channel.read(ByteBuffer.allocateDirect(16)));
    assertTrue(channel.isOpen());
  }

  @Test
  void bytesSentArriveAtTheOffsetAskedAndBytesWrittenReachThePeer() throws Exception {
    peer.send("abcdef".getBytes(UTF_8));
    byte[] dst = "--------".getBytes(UTF_8);
    int got = 0;
    for (int round = 0; got < 3; round++) {
      assertTrue(round < 1000, "too many rounds");
      int n = channel.read(dst, 2 + got, 3 - got);
      assertTrue(n >= 0, "end of stream before any byte");
      if (n == 0) {
        awaitReadable(channel);
      }
      got += n;
    }
    assertEquals("--abc---", new String(dst, UTF_8), "at most length bytes, at offset");
    assertEquals("def", new String(readExactly(channel, 3), UTF_8), "the rest waits for the next read");

    byte[] src = "xxhelloxx".getBytes(UTF_8);
    assertEquals(5, channel.write(src, 2, 5));
    assertEquals("hello", new String(peer.receive(5), UTF_8));
  }

  @Test
  void byteBufferReadsAndWritesAdvanceThePosition() throws Exception {
    for (ByteBuffer buffer : List.of(ByteBuffer.allocate(32), ByteBuffer.allocateDirect(32))) {
      peer.send("four".getBytes(UTF_8));
      buffer.clear().position(3);
      int got = 0;
      for (int round = 0; got < 4; round++) {
        assertTrue(round < 1000, "too many rounds");
        int n = channel.read(buffer);
        assertTrue(n >= 0, "end of stream");
        if (n == 0) {
          awaitReadable(channel);
        }
        got += n;
      }
      assertEquals(7, buffer.position(), "read advances the position by what it read: " + buffer);
      buffer.flip().position(3);
      assertEquals(4, channel.write(buffer));
      assertEquals(7, buffer.position(), "write advances the position by what it wrote: " + buffer);
      assertEquals("four", new String(peer.receive(4), UTF_8), buffer.isDirect() ? "direct" : "heap");
    }
  }

  @Test
  void bytesArriveIntactAcrossPartialWrites() throws Exception {
    byte[] payload = new byte[16 << 20];
    new Random(42).nextBytes(payload);
    CountDownLatch filled = new CountDownLatch(1);
    CountDownLatch done = new CountDownLatch(1);
    AtomicReference<Throwable> failure = new AtomicReference<>();
    Runnable pump = new Runnable() {
      private int sent;

      @Override
      public void run() {
        try {
          while (sent < payload.length) {
            int n = channel.write(payload, sent, payload.length - sent);
            if (n == 0) {
              filled.countDown();
              channel.whenWritable(this);
              return;
            }
            sent += n;
          }
          done.countDown();
        } catch (IOException | RuntimeException e) {
          failure.set(e);
          done.countDown();
        }
      }
    };
    channel.execute(pump);
    await(filled, "a write that returned 0: the payload must outgrow the send buffer");
    byte[] back = peer.receive(payload.length);
    await(done, "the last write");
    assertNull(failure.get());
    assertArrayEquals(payload, back);
  }

  // ---- readiness

  @Test
  void whenReadableRunsOnceOnTheLoopWhenBytesArrive() throws Exception {
    AtomicInteger runs = new AtomicInteger();
    AtomicBoolean onLoop = new AtomicBoolean();
    CountDownLatch ran = new CountDownLatch(1);
    channel.whenReadable(() -> {
      onLoop.set(channel.inEventLoop());
      runs.incrementAndGet();
      ran.countDown();
    });
    assertEquals(0, runs.get(), "nothing has arrived yet");
    peer.send("a".getBytes(UTF_8));
    await(ran, "whenReadable after bytes arrived");
    assertTrue(onLoop.get(), "the task runs on the event loop");
    assertEquals("a", new String(readExactly(channel, 1), UTF_8));

    peer.send("b".getBytes(UTF_8));
    awaitReadable(channel); // a new registration sees "b"; the spent one must not have run again
    onLoop(channel);
    assertEquals(1, runs.get(), "whenReadable is one-shot");
    assertEquals("b", new String(readExactly(channel, 1), UTF_8));
  }

  @Test
  void aLaterWhenReadableReplacesThePendingOne() throws Exception {
    AtomicInteger first = new AtomicInteger();
    CountDownLatch second = new CountDownLatch(1);
    channel.whenReadable(first::incrementAndGet);
    channel.whenReadable(second::countDown);
    peer.send("x".getBytes(UTF_8));
    await(second, "the later whenReadable");
    onLoop(channel);
    channel.close();
    onLoop(channel);
    assertEquals(0, first.get(), "the replaced task never runs, not even at close");
  }

  @Test
  void watchReadableRunsOnEveryArrivalUntilStopped() throws Exception {
    StringBuffer seen = new StringBuffer();
    AtomicInteger runs = new AtomicInteger();
    AtomicBoolean onLoop = new AtomicBoolean(true);
    channel.watchReadable(() -> {
      runs.incrementAndGet();
      onLoop.compareAndSet(true, channel.inEventLoop());
      drainInto(channel, seen);
    });
    peer.send("a".getBytes(UTF_8));
    assertTrue(Contracts.eventually(() -> seen.toString().equals("a")), "seen: " + seen);
    peer.send("b".getBytes(UTF_8));
    assertTrue(Contracts.eventually(() -> seen.toString().equals("ab")), "the watch stands; seen: " + seen);
    assertTrue(onLoop.get(), "the task runs on the event loop");

    channel.watchReadable(null);
    onLoop(channel);
    int runsBefore = runs.get();
    peer.send("c".getBytes(UTF_8));
    awaitReadable(channel);
    onLoop(channel);
    assertEquals(runsBefore, runs.get(), "watchReadable(null) stops the watch");
    assertEquals("c", new String(readExactly(channel, 1), UTF_8));
  }

  /**
   * The peer's bytes and its FIN reach the socket before the watch starts: one event, a short read
   * of the bytes, and the end of stream must still be seen without a new edge.
   */
  @Test
  void watchReadableSeesAnEndOfStreamLeftBehindByAShortRead() throws Exception {
    for (int i = 0; i < 20; i++) {
      Pair pair = i == 0 ? new Pair(channel, peer) : connect();
      Channel ch = pair.channel();
      String text = "hello " + i;
      pair.peer().send(text.getBytes(UTF_8));
      pair.peer().shutdownOutput();
      List<String> reads = new CopyOnWriteArrayList<>();
      CountDownLatch end = new CountDownLatch(1);
      byte[] buffer = new byte[1024];
      ch.watchReadable(() -> {
        try {
          int n = ch.read(buffer, 0, buffer.length); // one read: a short one is a legitimate stop
          if (n > 0) {
            reads.add(new String(buffer, 0, n, UTF_8));
          } else if (n < 0) {
            reads.add("EOF");
            ch.watchReadable(null);
            end.countDown();
          }
        } catch (IOException e) {
          reads.add(e.toString());
        }
      });
      await(end, "end of stream after a short read; reads so far " + reads);
      assertEquals(text + "EOF", String.join("", reads), "round " + i);
      ch.close();
    }
  }

  @Test
  void whenWritableRunsWhenThereIsRoomAgain() throws Exception {
    CountDownLatch room = new CountDownLatch(1);
    channel.whenWritable(room::countDown);
    await(room, "whenWritable on a fresh connection");

    long filled = fillSendBuffer(channel);
    AtomicBoolean onLoop = new AtomicBoolean();
    CountDownLatch again = new CountDownLatch(1);
    channel.whenWritable(() -> {
      onLoop.set(channel.inEventLoop());
      again.countDown();
    });
    assertEquals(filled, peer.receive(Math.toIntExact(filled)).length);
    await(again, "whenWritable after the peer read everything");
    assertTrue(onLoop.get(), "the task runs on the event loop");
    assertTrue(channel.write(new byte[1], 0, 1) > 0, "there is room again");
  }

  // ---- the peer ends the connection

  @Test
  void aHalfCloseIsEndOfStreamAndTheChannelCanStillWrite() throws Exception {
    peer.send("last".getBytes(UTF_8));
    peer.shutdownOutput();
    assertEquals("last", new String(readExactly(channel, 4), UTF_8));
    assertEndOfStream(channel);
    assertEquals(-1, channel.read(new byte[4], 0, 4), "end of stream stays");
    assertTrue(channel.isOpen(), "end of stream does not close the channel");

    byte[] reply = "reply".getBytes(UTF_8);
    assertEquals(reply.length, channel.write(reply, 0, reply.length));
    assertEquals("reply", new String(peer.receive(reply.length), UTF_8), "the other direction still works");
  }

  @Test
  void shutdownOutputEndsThePeersStreamAndTheChannelStillReads() throws Exception {
    byte[] last = "last".getBytes(UTF_8);
    assertEquals(last.length, channel.write(last, 0, last.length));
    channel.shutdownOutput();
    channel.shutdownOutput(); // twice is harmless
    assertEquals("last", new String(peer.receive(last.length), UTF_8), "bytes written before arrive");
    assertTrue(peer.receiveEndOfStream(), "then the end of stream");
    assertTrue(channel.isOpen(), "a half-close does not close the channel");

    peer.send("more".getBytes(UTF_8));
    assertEquals("more", new String(readExactly(channel, 4), UTF_8), "the other direction still works");
    assertThrows(IOException.class, () -> channel.write(last, 0, last.length), "no writes after a half-close");
  }

  @Test
  void thePeerClosingWakesWhenReadableWithEndOfStream() throws Exception {
    CountDownLatch woken = new CountDownLatch(1);
    channel.whenReadable(woken::countDown);
    peer.close();
    await(woken, "whenReadable at end of stream");
    assertEndOfStream(channel);
  }

  @Test
  void aResetIsAnIoException() throws Exception {
    CountDownLatch woken = new CountDownLatch(1);
    channel.whenReadable(woken::countDown);
    peer.reset();
    await(woken, "whenReadable when the connection fails");
    IOException e = assertThrows(IOException.class, () -> channel.read(new byte[16], 0, 16));
    if (reportsErrnos()) {
      Contracts.assertErrno(e, "ECONNRESET");
    }
  }

  // ---- ending the input early (a server that is stopping)

  @Test
  void shutdownInputWakesWhenReadableWithEndOfStreamAndWritesStillWork() throws Exception {
    CountDownLatch woken = new CountDownLatch(1);
    channel.whenReadable(woken::countDown);
    assertTrue(channel.shutdownInput(), "this transport can end the input");
    await(woken, "whenReadable after shutdownInput");
    assertEndOfStream(channel);
    assertTrue(channel.isOpen(), "ending the input does not close the channel");
    byte[] reply = "bye".getBytes(UTF_8);
    assertEquals(reply.length, channel.write(reply, 0, reply.length));
    assertEquals("bye", new String(peer.receive(reply.length), UTF_8), "the other direction still works");
    assertTrue(channel.shutdownInput(), "idempotent");
  }

  @Test
  void shutdownInputReleasesAThreadWaitingInAwaitReadable() throws Exception {
    java.util.concurrent.CompletableFuture<Boolean> waited = new java.util.concurrent.CompletableFuture<>();
    CountDownLatch waiting = new CountDownLatch(1);
    Thread reader = new Thread(() -> {
      try {
        waiting.countDown();
        waited.complete(channel.awaitReadable());
      } catch (Throwable t) {
        waited.completeExceptionally(t);
      }
    }, "contract-awaitReadable");
    reader.setDaemon(true);
    reader.start();
    await(waiting, "the reader thread");
    assertTrue(channel.shutdownInput());
    waited.get(WAIT.toMillis(), MILLISECONDS); // returns (true if it waited, false if it cannot wait): no hang
    assertEquals(-1, readUntilEnd(channel), "the input is at its end");
    assertTrue(channel.isOpen());
  }

  // ---- close

  @Test
  void closeRunsPendingCallbacksOnceMoreAndIsIdempotent() throws Exception {
    AtomicInteger readable = new AtomicInteger();
    AtomicInteger watched = new AtomicInteger();
    Channel watching = connect().channel();
    channel.whenReadable(readable::incrementAndGet);
    watching.watchReadable(watched::incrementAndGet);
    onLoop(channel);
    onLoop(watching);
    int watchedBefore = watched.get();

    channel.close();
    watching.close();
    assertFalse(channel.isOpen());
    assertFalse(watching.isOpen());
    assertTrue(Contracts.eventually(() -> readable.get() == 1 && watched.get() == watchedBefore + 1),
        "readable " + readable + ", watched " + watched + " (was " + watchedBefore + ")");

    channel.close();
    watching.close();
    onLoop(channel);
    onLoop(watching);
    assertEquals(1, readable.get(), "a second close runs nothing");
    assertEquals(watchedBefore + 1, watched.get(), "a second close runs nothing");
    assertFalse(channel.isOpen());
  }

  @Test
  void closeWakesAPendingWhenWritable() throws Exception {
    fillSendBuffer(channel);
    CountDownLatch woken = new CountDownLatch(1);
    channel.whenWritable(woken::countDown);
    channel.close();
    await(woken, "whenWritable at close");
  }

  @Test
  void callbacksRegisteredAfterCloseRunAtOnce() throws Exception {
    channel.close();
    CountDownLatch all = new CountDownLatch(3);
    channel.whenReadable(all::countDown);
    channel.whenWritable(all::countDown);
    channel.watchReadable(all::countDown);
    await(all, "whenReadable, whenWritable and watchReadable on a closed channel");
  }

  @Test
  void readAndWriteAfterCloseFail() throws Exception {
    peer.send("unread".getBytes(UTF_8));
    channel.close();
    assertFalse(channel.isOpen());
    assertThrows(IOException.class, () -> channel.read(new byte[8], 0, 8));
    assertThrows(IOException.class, () -> channel.read(ByteBuffer.allocate(8)));
    assertThrows(IOException.class, () -> channel.read(ByteBuffer.allocateDirect(8)));
    assertThrows(IOException.class, () -> channel.write(new byte[8], 0, 8));
    assertThrows(IOException.class, () -> channel.write(ByteBuffer.allocate(8)));
    assertThrows(IOException.class, () -> channel.write(ByteBuffer.allocateDirect(8)));
  }

  // ---- the loop

  @Test
  void scheduleRunsTheTaskOnTheLoop() throws Exception {
    AtomicBoolean onLoop = new AtomicBoolean();
    CountDownLatch ran = new CountDownLatch(1);
    channel.schedule(() -> {
      onLoop.set(channel.inEventLoop());
      ran.countDown();
    }, 20, MILLISECONDS);
    passTime(channel);
    await(ran, "the scheduled task");
    assertTrue(onLoop.get(), "the task runs on the event loop");
  }

  @Test
  void cancelStopsAScheduledTask() throws Exception {
    AtomicInteger cancelled = new AtomicInteger();
    CountDownLatch later = new CountDownLatch(1);
    // Far enough out that a stalled loop (a busy CI machine) still sees the cancel first.
    Channel.Cancellable handle = channel.schedule(cancelled::incrementAndGet, 500, MILLISECONDS);
    handle.cancel();
    channel.schedule(later::countDown, 800, MILLISECONDS);
    passTime(channel);
    await(later, "a task due after the cancelled one");
    onLoop(channel);
    assertEquals(0, cancelled.get(), "a cancelled task does not run");
    handle.cancel(); // cancelling again, or after the deadline, is harmless
  }

  @Test
  void executeRunsTheTaskOnTheLoop() throws Exception {
    AtomicBoolean onLoop = new AtomicBoolean();
    CountDownLatch ran = new CountDownLatch(1);
    channel.execute(() -> {
      onLoop.set(channel.inEventLoop());
      ran.countDown();
    });
    await(ran, "the executed task");
    assertTrue(onLoop.get(), "inEventLoop inside a task the loop runs");

    AtomicReference<Boolean> elsewhere = new AtomicReference<>();
    Thread other = new Thread(() -> elsewhere.set(channel.inEventLoop()), "not-the-loop");
    other.start();
    other.join(WAIT.toMillis());
    assertEquals(Boolean.FALSE, elsewhere.get(), "inEventLoop on a thread of its own");
  }

  @Test
  void addressesAreTheConnections() {
    assertEquals(peer.address(), channel.remoteAddress());
    assertEquals(peer.serverAddress(), channel.localAddress());
    assertTrue(channel.peerCredentials().isEmpty(), "a TCP connection has no peer credentials");
  }

  // ---- helpers

  /** Runs a task on the channel's loop and waits for it: what the loop had queued before is done. */
  private static void onLoop(Channel ch) throws InterruptedException {
    CountDownLatch done = new CountDownLatch(1);
    ch.execute(done::countDown);
    await(done, "a task on the loop");
  }

  private static void awaitReadable(Channel ch) throws InterruptedException {
    CountDownLatch woken = new CountDownLatch(1);
    ch.whenReadable(woken::countDown);
    await(woken, "whenReadable");
  }

  /** Reads exactly {@code n} bytes, waiting with whenReadable while none are there. */
  private static byte[] readExactly(Channel ch, int n) throws Exception {
    byte[] out = new byte[n];
    int got = 0;
    for (int round = 0; got < n; round++) {
      assertTrue(round < 100_000, "too many reads");
      int r = ch.read(out, got, n - got);
      assertNotEquals(-1, r, "end of stream after " + got + " of " + n + " bytes");
      if (r == 0) {
        awaitReadable(ch);
      }
      got += r;
    }
    return out;
  }

  /** Reads once more than the bytes there, waiting with whenReadable: -1 at the end. */
  private static int readUntilEnd(Channel ch) throws Exception {
    byte[] buffer = new byte[64];
    for (int round = 0; round < 1000; round++) {
      int r = ch.read(buffer, 0, buffer.length);
      if (r != 0) {
        return r;
      }
      awaitReadable(ch);
    }
    return 0;
  }

  /** Reads until end of stream, expecting no more bytes on the way. */
  private static void assertEndOfStream(Channel ch) throws Exception {
    byte[] buffer = new byte[64];
    for (int round = 0; round < 1000; round++) {
      int r = ch.read(buffer, 0, buffer.length);
      if (r == -1) {
        return;
      }
      assertEquals(0, r, "bytes where the end of stream was expected");
      awaitReadable(ch);
    }
    fail("no end of stream");
  }

  /** Reads until 0 or -1 into {@code seen}; what an edge-triggered watch must do. */
  private static void drainInto(Channel ch, StringBuffer seen) {
    byte[] buffer = new byte[256];
    try {
      for (int round = 0; round < 1000; round++) {
        int n = ch.read(buffer, 0, buffer.length);
        if (n <= 0) {
          return;
        }
        seen.append(new String(buffer, 0, n, UTF_8));
      }
    } catch (IOException e) {
      seen.append(e);
    }
  }

  /** Writes until the channel says 0 (the peer is not reading); returns how much it took. */
  private static long fillSendBuffer(Channel ch) throws IOException {
    byte[] chunk = new byte[CHUNK];
    long total = 0;
    for (int i = 0; i < MAX_FILL_WRITES; i++) {
      int n = ch.write(chunk, 0, chunk.length);
      if (n == 0) {
        return total;
      }
      total += n;
    }
    return fail("the send buffer took " + total + " bytes and never filled");
  }
}
