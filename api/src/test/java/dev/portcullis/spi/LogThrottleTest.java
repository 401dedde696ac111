package dev.portcullis.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class LogThrottleTest {
  @Test
  void theFirstEventLogsAndTheNextWithinTheIntervalDoesNot() {
    LogThrottle t = LogThrottle.every(1, TimeUnit.HOURS);
    assertTrue(t.due());
    assertFalse(t.due());
    assertFalse(t.due());
  }

  @Test
  void anEventAfterTheIntervalLogsAgain() throws Exception {
    LogThrottle t = LogThrottle.every(1, TimeUnit.NANOSECONDS);
    assertTrue(t.due());
    Thread.sleep(1); // a millisecond is a million intervals
    assertTrue(t.due());
  }

  @Test
  void manyThreadsAtOnceLetExactlyOneLineThrough() throws Exception {
    LogThrottle t = LogThrottle.every(1, TimeUnit.HOURS);
    AtomicInteger through = new AtomicInteger();
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      Thread th = new Thread(() -> {
        for (int k = 0; k < 10_000; k++) {
          if (t.due()) {
            through.incrementAndGet();
          }
        }
      });
      threads.add(th);
      th.start();
    }
    for (Thread th : threads) {
      th.join();
    }
    assertEquals(1, through.get());
  }

  @Test
  void aNonPositiveIntervalIsRefusedNamingIt() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LogThrottle.every(0, TimeUnit.SECONDS));
    assertTrue(e.getMessage().contains("0 SECONDS"), e.getMessage());
  }
}
