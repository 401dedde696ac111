package dev.portcullis;

/**
 * A snapshot of a running server's counters. Every accepted connection ends in exactly one
 * outcome: denied by its address, refused by a limit, a failed or timed-out handshake, denied after
 * the handshake changed its address, refused because no handler thread was free, or handed to the
 * handler, or refused by the penalty box; so, once no connection is in its handshake, {@code
 * accepted == denied + limited + penalized + handshakeFailures + handshakeTimeouts +
 * deniedAfterHandshake + overloaded + handled}.
 *
 * @param accepted connections returned by {@code accept}
 * @param denied connections closed at once because the policy denied their address
 * @param handshakeFailures connections closed because a handshake step failed or the peer left
 * @param handshakeTimeouts connections closed because the handshake deadline passed
 * @param deniedAfterHandshake connections closed because the address a handshake established is
 *     denied
 * @param overloaded connections closed because the executor refused the handler
 * @param handled connections handed to the handler
 * @param handlerFailures handlers that ended with an exception
 * @param limited connections refused by a limit: total, per source, rate, or pending handshakes (a
 *     newcomer refused at the cap, or the slowest pending handshake closed to make room for one)
 * @param rateLimited of {@code limited}, those the per-source rate limit refused (a part of {@code
 *     limited}, not an outcome of its own)
 * @param penalized connections refused because their source is serving a penalty (see {@link
 *     Server.IpBuilder#penalties})
 * @param openConnections connections open now (admitted and not yet closed)
 * @param pendingHandshakes connections in their handshake now
 * @param kernelFilter which kernel filter the listening socket has now ({@link dev.portcullis.spi.KernelFilterMode#OFF}
 *     unless {@link Server.TcpBuilder#kernelFilter()} was asked for); not a counter
 */
public record ServerStats(
    long accepted,
    long denied,
    long handshakeFailures,
    long handshakeTimeouts,
    long deniedAfterHandshake,
    long overloaded,
    long handled,
    long handlerFailures,
    long limited,
    long rateLimited,
    long penalized,
    int openConnections,
    int pendingHandshakes,
    dev.portcullis.spi.KernelFilterMode kernelFilter) {

  /**
   * Connections that reached an outcome: every one counted once.
   *
   * @return the sum of the outcome counters
   */
  public long outcomes() {
    return denied + limited + penalized + handshakeFailures + handshakeTimeouts + deniedAfterHandshake + overloaded + handled;
  }
}
