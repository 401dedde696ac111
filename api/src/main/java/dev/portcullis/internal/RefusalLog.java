package dev.portcullis.internal;

import dev.portcullis.policy.IpAddresses;
import dev.portcullis.spi.Channel;
import dev.portcullis.spi.LogThrottle;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * The gate for refusal log lines: at most one line a second for each kind of refusal, so a flood
 * of one kind neither floods the log nor hides the other kinds. Each line carries a running count
 * (from {@code stats()}), which says how many went unlogged. Safe from any thread; {@link #due}
 * allocates nothing, so the reject path stays allocation-free.
 */
final class RefusalLog {
  /** What was refused; each kind has its own once-a-second budget. */
  enum Kind { ADDRESS, LIMIT, HANDSHAKE_FAILED, HANDSHAKE_TIMEOUT, AFTER_HANDSHAKE, OVERLOAD, HANDLER_FAILED, IDLE, PENALTY, BANNED, SHADOW }

  private final LogThrottle[] throttles = new LogThrottle[Kind.values().length];

  RefusalLog() {
    for (int i = 0; i < throttles.length; i++) {
      throttles[i] = LogThrottle.every(1, TimeUnit.SECONDS);
    }
  }

  /** True at most once a second per kind: the caller then writes its line. */
  boolean due(Kind kind) {
    return throttles[kind.ordinal()].due();
  }

  /**
   * How a refusal line names a connection: the peer's address, then the socket peer when a handshake
   * step (the PROXY protocol) replaced it; a Unix peer by its credentials.
   */
  static String describe(Channel socket, SocketAddress peer) {
    SocketAddress direct = socket.remoteAddress();
    if (!(direct instanceof InetSocketAddress)) {
      return local(socket.peerCredentials().orElse(null));
    }
    return describe(peer == null ? direct : peer, direct);
  }

  /** {@code 192.0.2.7}, or {@code 192.0.2.7 (socket peer 10.0.0.1)} when the two differ. */
  static String describe(SocketAddress peer, SocketAddress socketPeer) {
    if (peer == null || peer.equals(socketPeer) || !(socketPeer instanceof InetSocketAddress)) {
      return address(socketPeer);
    }
    return address(peer) + " (socket peer " + address(socketPeer) + ")";
  }

  /** {@code local peer uid 1000 pid 4242}: a Unix peer is who the kernel says it is. */
  static String local(dev.portcullis.policy.PeerCredentials credentials) {
    return credentials == null ? "local peer with unreadable credentials"
        : "local peer uid " + credentials.uid() + " pid " + credentials.pid();
  }

  private static String address(SocketAddress a) {
    return a instanceof InetSocketAddress ip && ip.getAddress() != null ? IpAddresses.format(ip.getAddress())
        : String.valueOf(a);
  }
}
