package dev.portcullis.jna;

import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Listener;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.SocketException;

/**
 * One connection this process inherited already connected (inetd, or systemd's {@code
 * Accept=yes}), served as a listener of that one connection on a loop of its own: the acceptor
 * decides on its peer as on any accepted one, and the loop stops by itself once the connection is
 * refused or closed.
 */
final class InheritedConnection implements Listener {
  private final EventLoop loop;
  private final SocketAddress localAddress;

  private InheritedConnection(EventLoop loop, SocketAddress localAddress) {
    this.loop = loop;
    this.localAddress = localAddress;
  }

  /** Serves the connected socket {@code fd}, which it then owns, on a loop it starts. */
  static InheritedConnection start(int fd, Acceptor acceptor) throws IOException {
    SocketAddress local = Sockets.localAddress(fd);
    EventLoop loop = EventLoop.open(local);
    ConnectionGate gate = new ConnectionGate(loop, acceptor, local, loop::stop);
    try {
      gate.readPeer(fd);
    } catch (SocketException e) {
      loop.discard();
      throw e;
    }
    loop.execute(() -> {
      if (loop.isStopping()) {
        LibC.close(fd); // closed before the loop ever ran: nobody will serve it
        return;
      }
      if (!gate.admit(fd)) {
        loop.stop();
      }
    });
    loop.start(gate::listenerStopped);
    return new InheritedConnection(loop, local);
  }

  @Override
  public SocketAddress localAddress() {
    return localAddress;
  }

  /** There is no listening socket: the one connection goes on until it is closed. */
  @Override
  public void stopAccepting() {}

  /** Stops the loop, closing the connection if it is still open, and waits for it. */
  @Override
  public void close() {
    loop.close();
  }

  /** On JDK 21+ with {@code java.lang} open to this module: see {@link LoopCarriers}. */
  @Override
  public boolean loopCarriedExecutors() {
    return LoopCarriers.offered();
  }
}
