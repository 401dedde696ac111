package dev.portcullis.jna;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Native buffers that stand between Java arrays and {@code read}/{@code send}, pooled so that
 * steady-state I/O allocates nothing. Any thread may borrow one; a pool slot is taken with one
 * atomic swap, and a buffer that finds no free slot on return is freed at once: native memory is
 * never left for JNA's cleaner thread, which a heap under pressure may starve.
 */
final class Scratch {
  static final int SIZE = 64 * 1024;
  private static final int SLOTS = 128;
  private static final int PROBES = 8;
  private static final AtomicReferenceArray<Scratch> POOL = new AtomicReferenceArray<>(SLOTS);

  final Memory memory;
  final long address;

  private Scratch() {
    memory = new Memory(SIZE);
    address = Pointer.nativeValue(memory);
  }

  @SuppressWarnings("deprecation") // Thread.getId: threadId() is JDK 19+, and we build for 17.
  private static int home() {
    return (int) Thread.currentThread().getId() & (SLOTS - 1);
  }

  static Scratch acquire() {
    int home = home();
    for (int i = 0; i < PROBES; i++) {
      Scratch s = POOL.getAndSet((home + i) & (SLOTS - 1), null);
      if (s != null) {
        return s;
      }
    }
    return new Scratch();
  }

  static void release(Scratch s) {
    int home = home();
    for (int i = 0; i < PROBES; i++) {
      if (POOL.compareAndSet((home + i) & (SLOTS - 1), null, s)) {
        return;
      }
    }
    s.memory.close();
  }
}
