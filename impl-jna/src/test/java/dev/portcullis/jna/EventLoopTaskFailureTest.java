package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.spi.LogCapture;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A task or timer that throws, an {@code Error} included, does not end the loop's thread. */
@Timeout(30)
class EventLoopTaskFailureTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  @Test
  void tasksAndTimersThatThrowErrorsLeaveTheLoopRunning() throws Exception {
    EventLoop loop = EventLoop.open(new InetSocketAddress("127.0.0.1", 1));
    AtomicReference<Object> stopped = new AtomicReference<>();
    loop.start(failure -> stopped.set(failure == null ? "on request" : failure));
    try {
      loop.execute(() -> {
        throw new OutOfMemoryError("test");
      });
      loop.execute(() -> {
        throw new StackOverflowError("test");
      });
      loop.execute(() -> {
        throw new HandlerFailureTest.Unloggable(); // and so is the line about it
      });
      loop.schedule(() -> {
        throw new HandlerFailureTest.Unloggable();
      }, 0);
      CompletableFuture<Boolean> after = new CompletableFuture<>();
      loop.schedule(() -> loop.execute(() -> after.complete(loop.inEventLoop())), TimeUnit.MILLISECONDS.toNanos(10));
      assertTrue(after.get(10, TimeUnit.SECONDS), "a later task ran on the loop's own thread");
      assertFalse(loop.isStopping());
      assertEquals(null, stopped.get());
    } finally {
      loop.close();
    }
    assertEquals("on request", stopped.get());
    // The first failure is logged (at most one line a second), in the capture rather than the build's console.
    assertTrue(log.lines("ERROR dev.portcullis.jna.EventLoop - Task on the event loop failed; the loop goes on").size() >= 1,
        log.text());
  }
}
