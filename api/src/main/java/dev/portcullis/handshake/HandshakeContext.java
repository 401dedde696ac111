package dev.portcullis.handshake;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.function.UnaryOperator;

/**
 * What a {@link HandshakeStep} may see and change about its connection. Used only on the event
 * loop, during the step's calls.
 */
public interface HandshakeContext extends PeerInfo {
  /**
   * Replaces the peer address, as the PROXY protocol does. When the chain finishes, the access
   * policy is checked again against the new address, and the connection is closed if it is
   * denied.
   *
   * @param peer the new peer address, resolved (an IP address, not a hostname)
   * @throws IllegalArgumentException if the address is unresolved
   */
  void replacePeer(InetSocketAddress peer);

  /**
   * Attaches an identity to the connection; the handler sees it as {@code Connection.identity()},
   * and {@link #identity()} returns it from now on.
   *
   * @param identity the identity; replaces any set earlier
   */
  void identity(Identity identity);

  /**
   * Attaches a value the handler can read with {@code connection.attribute(type)}, such as the
   * parsed {@link dev.portcullis.handshake.proxy.ProxyHeader}. A later value of the same type
   * replaces an earlier one.
   *
   * @param <T> the value's type
   * @param type the class to attach the value under
   * @param value the value, not null
   */
  <T> void attach(Class<T> type, T value);

  /**
   * Queues bytes to send to the peer (copied). They are written without blocking before more input
   * is read and before the handler runs.
   *
   * @param bytes the bytes to send, from position to limit; its position is advanced to its limit
   */
  void write(ByteBuffer bytes);

  /**
   * Puts a codec, such as TLS, between the socket and everything after this step. Once the bytes
   * queued with {@link #write} so far have been sent as they are, the chain calls {@code codec}
   * with the connection's current channel and from then on reads and writes through the channel it
   * returns: later steps and the handler see the codec's plaintext. A step calls this when it
   * returns {@link HandshakeStep.Progress#DONE}, after consuming every byte of {@code input} it
   * means for its codec (bytes it leaves are handed on as plaintext). {@link
   * dev.portcullis.spi.ForwardingChannel} is a convenient base for the codec.
   *
   * @param codec wraps the current channel; called once, on the event loop
   * @throws IllegalStateException if a step already asked for an upgrade that has not happened yet
   */
  void upgrade(UnaryOperator<dev.portcullis.spi.Channel> codec);

  /**
   * The absolute deadline of the whole chain, in {@link System#nanoTime()} units.
   *
   * @return the deadline, comparable with {@code System.nanoTime()}
   */
  long deadlineNanos();
}
