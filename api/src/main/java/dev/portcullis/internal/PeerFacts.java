package dev.portcullis.internal;

import dev.portcullis.handshake.Identity;
import dev.portcullis.spi.Channel;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Optional;

/**
 * What the pipeline established about a connection's peer: filled in on the event loop during the
 * handshake ({@link HandshakeRun}), then read by either handler style. Handing the connection to a
 * handler (an executor, or the loop itself) publishes it.
 */
final class PeerFacts implements dev.portcullis.handshake.PeerInfo {
  private final Channel channel;
  private InetSocketAddress replacedPeer;
  private Identity identity;
  private Attributes attributes;

  /**
   * @param channel the accepted channel, as the transport knows it
   * @param identity what the peer proved so far (Unix credentials), or null
   */
  PeerFacts(Channel channel, Identity identity, Attributes attributes) {
    this.channel = channel;
    this.identity = identity;
    this.attributes = attributes;
  }

  /** The address a handshake step put in place of the socket's, or null. */
  InetSocketAddress replacedPeer() {
    return replacedPeer;
  }

  void replacePeer(InetSocketAddress peer) {
    this.replacedPeer = peer;
  }

  void identity(Identity id) {
    this.identity = id;
  }

  <T> void attach(Class<T> type, T value) {
    attributes = attributes.with(type, value);
  }

  @Override
  public SocketAddress peer() {
    return replacedPeer != null ? replacedPeer : channel.remoteAddress();
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
