package dev.portcullis;

import java.time.Duration;

/**
 * Told when a connection closes, with how long it was open: every connection the address policy
 * and the limits let in at accept (whatever happened to it after: a failed handshake, a handler),
 * from accept to close. Registered with {@link RunningServer#addConnectionListener}; what a metrics
 * binder uses for a connection-duration histogram.
 *
 * <p>Called on whichever thread closed the connection (often an event loop): keep it short, never
 * block. An exception it throws is logged and ignored.
 */
@FunctionalInterface
public interface ConnectionListener {
  /**
   * A connection closed.
   *
   * @param open how long it was open, from accept to close
   */
  void closed(Duration open);
}
