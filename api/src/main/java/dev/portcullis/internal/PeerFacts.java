package dev.portcullis.internal;

import dev.portcullis.handshake.Identity;
import dev.portcullis.spi.Channel;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Optional;

/** What the pipeline established about a connection's peer, shared by both handler styles. */
final class PeerFacts {
  private final Channel channel;
  private final SocketAddress peer;
  private final Identity identity;
  private final Attributes attributes;

  /**
   * @param peer the address a handshake step established, or null to use the socket's peer
   * @param identity what the peer proved, or null
   */
  PeerFacts(Channel channel, SocketAddress peer, Identity identity, Attributes attributes) {
    this.channel = channel;
    this.peer = peer;
    this.identity = identity;
    this.attributes = attributes;
  }

  SocketAddress peer() {
    return peer != null ? peer : channel.remoteAddress();
  }

  SocketAddress socketPeer() {
    return channel.remoteAddress();
  }

  SocketAddress localAddress() {
    return channel.localAddress();
  }

  Optional<Identity> identity() {
    return Optional.ofNullable(identity);
  }

  <T> Optional<T> attribute(Class<T> type) {
    return attributes.get(type);
  }
}
