package dev.portcullis.spi;

/**
 * An optional power of a listener on several event loops: how many connections each loop accepted,
 * to show how evenly the kernel spreads them. Found with {@code
 * listener.capability(AcceptCounts.class)}.
 */
public interface AcceptCounts {
  /**
   * How many connections each event loop has accepted since the listener opened, in loop order
   * (refused ones included: every connection {@code accept(2)} returned).
   *
   * @return a new array, one count per loop
   */
  long[] acceptedPerLoop();
}
