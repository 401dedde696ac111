package dev.portcullis.internal;

import dev.portcullis.handshake.Identity;
import dev.portcullis.handshake.PeerInfo;
import java.net.SocketAddress;
import java.util.Optional;

/** The peer half of both handler styles' connections, written once: it answers from {@link PeerFacts}. */
abstract class PeerView implements PeerInfo {
  final PeerFacts facts;

  PeerView(PeerFacts facts) {
    this.facts = facts;
  }

  @Override
  public final SocketAddress peer() {
    return facts.peer();
  }

  @Override
  public final SocketAddress socketPeer() {
    return facts.socketPeer();
  }

  @Override
  public final SocketAddress localAddress() {
    return facts.localAddress();
  }

  @Override
  public final Optional<Identity> identity() {
    return facts.identity();
  }

  @Override
  public final <T> Optional<T> attribute(Class<T> type) {
    return facts.attribute(type);
  }

  /**
   * The peer as this package's log lines and {@code toString} name it: {@code 127.0.0.1:50312},
   * {@code [::1]:50312}, a socket path. The refusal and handler-failure lines of the admission chain
   * name it their own way ({@code AdmissionChain}'s reporter).
   */
  final String who() {
    return dev.portcullis.policy.IpAddresses.format(peer());
  }
}
