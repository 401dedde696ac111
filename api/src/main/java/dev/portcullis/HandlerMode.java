package dev.portcullis;

/**
 * How a server runs its handlers, as {@link RunningServer#handlerMode()} reports it. The first
 * three are the server's own executor for a blocking {@link Handler}, chosen at start: the best
 * the JDK and the transport allow.
 */
public enum HandlerMode {
  /**
   * A virtual thread per connection whose carrier is the event loop that accepted it (JDK 21+,
   * with {@code --add-opens java.base/java.lang=...}, which the {@code portcullis} launcher jar
   * declares): a handler waiting for its socket parks, and the loop resumes it in the same round
   * that sees the socket ready, with no thread hand-off. A handler that holds its carrier
   * (computes, spins, blocks in a native call) holds its loop's other connections meanwhile.
   */
  LOOP_CARRIER,
  /**
   * A virtual thread per connection on the JDK's own scheduler (JDK 21+ without the option above):
   * each wait is a hand-off between the loop or the transport's poller and a carrier thread.
   */
  VIRTUAL,
  /**
   * A platform thread per connection, reused when idle (JDK 17-20, or any JDK with {@code
   * -Dportcullis.handlerThreads=platform}): threads are made off the event loops, and a few spares
   * wait parked for newcomers.
   */
  PLATFORM,
  /** The executor given to {@link Server.Builder#executor}. */
  EXECUTOR,
  /** A {@link LoopHandler}: callbacks on the event loop, no thread per connection. */
  ON_LOOP
}
