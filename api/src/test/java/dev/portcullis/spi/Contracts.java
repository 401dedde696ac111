package dev.portcullis.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.NativeSocketException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/** Waiting and errno checks shared by the SPI contract tests. */
final class Contracts {
  private Contracts() {}

  /** How long any one wait of a contract test may take; a wait, never a measurement. */
  static final Duration WAIT = Duration.ofSeconds(10);

  static void await(CountDownLatch latch, String what) throws InterruptedException {
    assertTrue(latch.await(WAIT.toMillis(), TimeUnit.MILLISECONDS), "timed out waiting for " + what);
  }

  /** Polls until the condition holds or {@link #WAIT} passes; returns whether it held. */
  static boolean eventually(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(5);
    }
    return true;
  }

  /**
   * The exception carries the errno {@code name}: it is a {@link NativeSocketException}, or (a
   * {@code BindException}, say) has one as its cause.
   */
  static void assertErrno(Throwable e, String name) {
    Throwable carrier = e instanceof NativeSocketException ? e : e.getCause();
    NativeSocketException n = assertInstanceOf(NativeSocketException.class, carrier,
        () -> "no errno in " + e);
    assertEquals(name, n.errnoName(), n::getMessage);
  }
}
