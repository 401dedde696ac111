package dev.portcullis.internal;

import dev.portcullis.handshake.Identity;
import dev.portcullis.spi.Channel;
import java.net.SocketAddress;
import java.util.Optional;

/** What the pipeline established about a connection's peer, shared by both handler styles. */
final class PeerFacts implements dev.portcullis.handshake.PeerInfo {
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

  @Override
  public SocketAddress peer() {
    return peer != null ? peer : channel.remoteAddress();
  }

  @Override
  public SocketAddress socketPeer() {
    return channel.remoteAddress();
  }

  @Override
  public SocketAddress localAddress() {
    return channel.localAddress();
  }

  @Override
  public Optional<Identity> identity() {
    return Optional.ofNullable(identity);
  }

  @Override
  public <T> Optional<T> attribute(Class<T> type) {
    return attributes.get(type);
  }
}
