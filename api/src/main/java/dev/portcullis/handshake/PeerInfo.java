package dev.portcullis.handshake;

import java.net.SocketAddress;
import java.util.Optional;

/**
 * What every view of a connection knows of its peer: a handler's {@code Connection} and {@code
 * LoopConnection}, and a handshake step's {@link HandshakeContext}.
 *
 * <pre>{@code
 * static String who(PeerInfo c) {
 *     return c.identity().map(Identity::name).orElse("anonymous") + " at " + IpAddresses.format(c.peer())
 *         + (c.peer().equals(c.socketPeer()) ? "" : " via " + IpAddresses.format(c.socketPeer()));
 * }
 * }</pre>
 */
public interface PeerInfo {
  /**
   * The peer: the socket's peer address, or the address a handshake step established (the real
   * client behind a trusted proxy). During the handshake, the peer as the steps so far left it.
   *
   * @return the peer's address, never null
   */
  SocketAddress peer();

  /**
   * The socket's own peer address, which may be a proxy's.
   *
   * @return the socket's peer address, never null
   */
  SocketAddress socketPeer();

  /**
   * The local address the connection was accepted on.
   *
   * @return the local address, never null
   */
  SocketAddress localAddress();

  /**
   * What the peer proved during the handshake (a key id, a certificate, Unix credentials), if
   * any step said.
   *
   * @return the identity, or empty if no step set one
   */
  Optional<Identity> identity();

  /**
   * A value a handshake step attached, such as the {@link dev.portcullis.handshake.proxy.ProxyHeader}
   * the PROXY protocol step parsed, or the {@code PeerCredentials} of a Unix peer.
   *
   * @param <T> the attribute's type
   * @param type the class the value was attached under
   * @return the value, or empty if no step attached one of that type
   */
  <T> Optional<T> attribute(Class<T> type);
}
