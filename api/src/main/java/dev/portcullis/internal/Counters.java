package dev.portcullis.internal;

import dev.portcullis.ServerStats;
import java.util.concurrent.atomic.AtomicLong;

/** The live counters behind {@link ServerStats}. */
final class Counters {
  final AtomicLong accepted = new AtomicLong();
  final AtomicLong denied = new AtomicLong();
  final AtomicLong handshakeFailures = new AtomicLong();
  final AtomicLong handshakeTimeouts = new AtomicLong();
  final AtomicLong deniedAfterHandshake = new AtomicLong();
  final AtomicLong overloaded = new AtomicLong();
  final AtomicLong handled = new AtomicLong();
  final AtomicLong handlerFailures = new AtomicLong();
  final AtomicLong limited = new AtomicLong();
  final AtomicLong penalized = new AtomicLong();
  final AtomicLong rateLimited = new AtomicLong();
  final java.util.concurrent.atomic.AtomicInteger open = new java.util.concurrent.atomic.AtomicInteger();
  final java.util.concurrent.atomic.AtomicInteger pendingHandshakes = new java.util.concurrent.atomic.AtomicInteger();

  ServerStats snapshot(dev.portcullis.KernelFilterMode kernelFilter) {
    return new ServerStats(accepted.get(), denied.get(), handshakeFailures.get(), handshakeTimeouts.get(),
        deniedAfterHandshake.get(), overloaded.get(), handled.get(), handlerFailures.get(), limited.get(), rateLimited.get(), penalized.get(), open.get(),
        pendingHandshakes.get(), kernelFilter);
  }
}
