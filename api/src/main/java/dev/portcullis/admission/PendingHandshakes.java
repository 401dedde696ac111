package dev.portcullis.admission;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * The connections in their handshake, oldest first, and the cap on how many there may be. At the
 * cap a newcomer takes the slot of the oldest one if that one has been pending for at least {@link
 * #evictAfterNanos} (it is the slowest: a client that means it finishes in a few round trips), and
 * is refused otherwise. So a burst of peers that start a handshake and stop is pushed out by the
 * next clients instead of shutting everyone out until their deadline, and a flood faster than the
 * cap a second refuses newcomers rather than cutting handshakes that have just begun.
 *
 * <p>One lock over a linked list: entering and leaving are O(1), from any loop.
 */
final class PendingHandshakes {
  /** One connection's place in the list; made by its {@link HandshakeRun}. */
  static final class Entry {
    final long since;
    private final Runnable evict;
    private Entry previous;
    private Entry next;
    private boolean linked;

    /**
     * @param since when the handshake began, in {@link System#nanoTime()}
     * @param evict asked, from any thread, to close the connection when a newcomer took its slot
     */
    Entry(long since, Runnable evict) {
      this.since = since;
      this.evict = evict;
    }
  }

  /** Replaced with the limits ({@link #cap(int)}); read under the lock. */
  private volatile int cap;
  private final long evictAfterNanos;
  /** The count {@code stats()} reports: the entries in the list. */
  private final AtomicInteger count;
  private Entry oldest;
  private Entry newest;

  PendingHandshakes(int cap, long evictAfterNanos, AtomicInteger count) {
    this.cap = cap;
    this.evictAfterNanos = evictAfterNanos;
    this.count = count;
  }

  int cap() {
    return cap;
  }

  /**
   * A new cap for the handshakes that begin from now on; above it, pending ones are not closed but
   * newcomers wait for room (or evict the oldest) as at any cap.
   */
  void cap(int newCap) {
    this.cap = newCap;
  }

  /** What {@link #enter} did. */
  enum Outcome {
    /** There was room. */
    ENTERED,
    /** The oldest pending handshake was evicted to make room. */
    ENTERED_BY_EVICTION,
    /** No room, and none old enough to evict. */
    REFUSED
  }

  /**
   * Takes a slot for {@code e}: a free one, or the oldest entry's if it is old enough, which is
   * then told to close (outside the lock).
   */
  Outcome enter(Entry e) {
    Entry evicted = null;
    synchronized (this) {
      if (count.get() >= cap) {
        if (oldest == null || e.since - oldest.since < evictAfterNanos) {
          return Outcome.REFUSED;
        }
        evicted = oldest;
        unlink(evicted);
      } else {
        count.incrementAndGet();
      }
      e.linked = true;
      e.previous = newest;
      if (newest == null) {
        oldest = e;
      } else {
        newest.next = e;
      }
      newest = e;
    }
    if (evicted == null) {
      return Outcome.ENTERED;
    }
    evicted.evict.run();
    return Outcome.ENTERED_BY_EVICTION;
  }

  /**
   * The handshake ended: frees its slot. False if it had been evicted (its slot already went to
   * another connection, and the eviction is its outcome).
   */
  boolean leave(Entry e) {
    synchronized (this) {
      if (!e.linked) {
        return false;
      }
      unlink(e);
      count.decrementAndGet();
      return true;
    }
  }

  private void unlink(Entry e) {
    if (e.previous == null) {
      oldest = e.next;
    } else {
      e.previous.next = e.next;
    }
    if (e.next == null) {
      newest = e.previous;
    } else {
      e.next.previous = e.previous;
    }
    e.previous = null;
    e.next = null;
    e.linked = false;
  }
}
