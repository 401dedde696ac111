package dev.portcullis.admission;

import dev.portcullis.policy.PeerCredentials;
import java.net.SocketAddress;

/**
 * One admitted connection on its way through a handshake, as an {@link AdmissionChain} knows it:
 * its place among the pending handshakes (under the chain's cap), its socket peer, and the object
 * that names the connection until its release. Made by {@link AdmissionChain#pendingHandshake}
 * once per connection; used from the loop that runs the connection.
 */
public final class PendingHandshake {
  final Object connection;
  final SocketAddress socketPeer;
  final PeerCredentials credentials;
  final PendingHandshakes.Entry entry;

  PendingHandshake(Object connection, SocketAddress socketPeer, PeerCredentials credentials, Runnable evict) {
    this.connection = connection;
    this.socketPeer = socketPeer;
    this.credentials = credentials;
    this.entry = new PendingHandshakes.Entry(System.nanoTime(), evict);
  }

  /**
   * When the handshake began.
   *
   * @return a {@link System#nanoTime()} stamp
   */
  public long since() {
    return entry.since;
  }
}
