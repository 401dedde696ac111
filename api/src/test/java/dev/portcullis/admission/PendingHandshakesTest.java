package dev.portcullis.admission;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The pending-handshake cap, on made-up clocks: at the cap the oldest gives way to a newcomer once
 * it is old enough, and until then the newcomer is refused; every slot is freed exactly once.
 */
class PendingHandshakesTest {
  private static final long SECOND = 1_000_000_000L;
  private final AtomicInteger count = new AtomicInteger();
  private final PendingHandshakes pending = new PendingHandshakes(3, SECOND, count);
  private final List<String> evicted = new ArrayList<>();

  private PendingHandshakes.Entry entry(String name, long since) {
    return new PendingHandshakes.Entry(since, () -> evicted.add(name));
  }

  @Test
  void atTheCapANewcomerIsRefusedWhileEveryPendingOneIsYoung() {
    for (int i = 0; i < 3; i++) {
      assertEquals(PendingHandshakes.Outcome.ENTERED, pending.enter(entry("p" + i, i)));
    }
    assertEquals(PendingHandshakes.Outcome.REFUSED, pending.enter(entry("new", SECOND - 1)));
    assertEquals(List.of(), evicted);
    assertEquals(3, count.get());
  }

  @Test
  void atTheCapTheOldestGivesWayOnceItIsOldEnoughAndItsEndFreesNothingMore() {
    PendingHandshakes.Entry first = entry("first", 0);
    PendingHandshakes.Entry second = entry("second", 10);
    PendingHandshakes.Entry third = entry("third", 20);
    pending.enter(first);
    pending.enter(second);
    pending.enter(third);
    assertEquals(PendingHandshakes.Outcome.ENTERED_BY_EVICTION, pending.enter(entry("a", SECOND)));
    assertEquals(List.of("first"), evicted);
    assertEquals(3, count.get(), "the slot went to the newcomer");
    assertFalse(pending.leave(first), "the evicted one's end frees nothing: its slot is taken");
    assertEquals(3, count.get());

    assertEquals(PendingHandshakes.Outcome.REFUSED, pending.enter(entry("b", SECOND + 5)),
        "the next oldest is not old enough yet");
    assertTrue(pending.leave(second), "one that finishes frees its slot");
    assertEquals(2, count.get());
    assertEquals(PendingHandshakes.Outcome.ENTERED, pending.enter(entry("c", SECOND + 6)));
    assertEquals(PendingHandshakes.Outcome.ENTERED_BY_EVICTION, pending.enter(entry("d", 20 + SECOND)));
    assertEquals(List.of("first", "third"), evicted, "oldest first; one that left is never evicted");
  }

  @Test
  void entriesLeaveFromAnywhereInTheListAndTheCountReturnsToZero() {
    List<PendingHandshakes.Entry> all = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      all.add(entry("p" + i, i));
      pending.enter(all.get(i));
    }
    assertTrue(pending.leave(all.get(1)));
    assertTrue(pending.leave(all.get(2)));
    assertTrue(pending.leave(all.get(0)));
    assertFalse(pending.leave(all.get(0)), "once");
    assertEquals(0, count.get());
    PendingHandshakes.Entry again = entry("again", 5 * SECOND);
    assertEquals(PendingHandshakes.Outcome.ENTERED, pending.enter(again));
    assertTrue(pending.leave(again));
    assertEquals(0, count.get());
  }
}
