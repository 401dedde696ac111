package dev.portcullis.admission;

import dev.portcullis.ServerStats;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The live counters behind {@link ServerStats}, shared by an {@link AdmissionChain} and whatever
 * runs it. The chain counts every admission outcome (accepted, denied, limited, penalized, the
 * handshake's outcomes, overloaded, open); the runner counts what its handlers do ({@link #handled},
 * {@link #handlerFailures}). Give one instance to several chains ({@code
 * AdmissionChain.Builder.counters}) to sum them. Atomic: safe from any thread.
 */
public final class Counters {
  /** Connections the chain was asked about at accept. */
  public final AtomicLong accepted = new AtomicLong();
  /** Refused by the address policy at accept. */
  public final AtomicLong denied = new AtomicLong();
  /** Closed because a handshake step failed. */
  public final AtomicLong handshakeFailures = new AtomicLong();
  /** Closed because the handshake ran past its deadline. */
  public final AtomicLong handshakeTimeouts = new AtomicLong();
  /** Refused by the address policy after a step named another client. */
  public final AtomicLong deniedAfterHandshake = new AtomicLong();
  /** Closed because no handler thread took them. */
  public final AtomicLong overloaded = new AtomicLong();
  /** Handed to a handler (the runner counts these). */
  public final AtomicLong handled = new AtomicLong();
  /** Handlers that ended with an exception (the runner counts these). */
  public final AtomicLong handlerFailures = new AtomicLong();
  /** Refused by a limit (total, per source, rate, pending handshakes). */
  public final AtomicLong limited = new AtomicLong();
  /** Refused by the penalty box. */
  public final AtomicLong penalized = new AtomicLong();
  /** Refused by a rate limit (a part of {@link #limited}). */
  public final AtomicLong rateLimited = new AtomicLong();
  /** Connections admitted and not released yet. */
  public final AtomicInteger open = new AtomicInteger();
  /** Connections in their handshake now. */
  public final AtomicInteger pendingHandshakes = new AtomicInteger();

  /** Counters at zero. */
  public Counters() {}

  /**
   * A snapshot of every counter.
   *
   * @param kernelFilter the kernel filter mode to report beside them
   * @return the snapshot
   */
  public ServerStats snapshot(dev.portcullis.spi.KernelFilterMode kernelFilter) {
    return new ServerStats(accepted.get(), denied.get(), handshakeFailures.get(), handshakeTimeouts.get(),
        deniedAfterHandshake.get(), overloaded.get(), handled.get(), handlerFailures.get(), limited.get(), rateLimited.get(), penalized.get(), open.get(),
        pendingHandshakes.get(), kernelFilter);
  }
}
