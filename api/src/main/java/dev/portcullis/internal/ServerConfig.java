package dev.portcullis.internal;

import dev.portcullis.Handler;
import dev.portcullis.LoopHandler;
import dev.portcullis.handshake.Handshake;
import dev.portcullis.policy.AccessPolicy;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;

/**
 * The frozen settings of one {@code Server.start()}.
 *
 * @param port the TCP port, {@code 0..65535}; 0 picks a free port
 * @param bindAddress the local address to listen on, or empty for all addresses
 * @param backlog the {@code listen(2)} backlog, at least 1
 * @param policy the access policy, with at least one rule
 * @param handshakes the handshake chain, in order; possibly empty
 * @param handshakeTimeout the deadline for the whole handshake chain
 * @param handler the blocking handler, if that style was chosen
 * @param loopHandler the event-loop handler, if that style was chosen
 * @param executor the user's executor for blocking handlers, or empty for the server's own pool
 * @param inherited the socket systemd or inetd passed, served instead of opening one
 * @param unix where to listen instead when the server is on a Unix domain socket
 * @param limits connection limits; zeros mean none
 * @param kernelFilter whether to attach the policy as a kernel-side filter
 */
public record ServerConfig(
    int port,
    Optional<InetAddress> bindAddress,
    int backlog,
    AccessPolicy policy,
    List<Handshake> handshakes,
    Duration handshakeTimeout,
    Optional<Handler> handler,
    Optional<LoopHandler> loopHandler,
    Optional<Executor> executor,
    Optional<dev.portcullis.spi.InheritedSocket> inherited,
    Optional<dev.portcullis.spi.UnixListenOptions> unix,
    Limits limits,
    boolean kernelFilter) {

  /**
   * The limits of {@code Server.maxConnections(...)} and its kin; 0 means no limit.
   *
   * @param maxConnections open connections in all
   * @param maxPerSource open connections per source
   * @param perSecond new connections a second per source
   * @param burst the rate limit's bucket
   * @param v4Bits IPv4 prefix length of a source
   * @param v6Bits IPv6 prefix length of a source
   * @param maxPendingHandshakes connections in their handshake at once
   */
  public record Limits(int maxConnections, int maxPerSource, double perSecond, int burst, int v4Bits, int v6Bits,
      int maxPendingHandshakes) {
    /** No limits, sources per IPv4 address and IPv6 /64. */
    public static final Limits NONE = new Limits(0, 0, 0, 0, 32, 64, 0);

    boolean any() {
      return maxConnections > 0 || maxPerSource > 0 || perSecond > 0;
    }
  }
}
