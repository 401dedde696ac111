package dev.portcullis.jetty;

import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import org.eclipse.jetty.io.AbstractConnection;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.AbstractConnectionFactory;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.ProxyConnectionFactory;

/**
 * The guard's connection factory, right after Jetty's {@link ProxyConnectionFactory}: the endpoint
 * it is given names the relayed client (a {@link ProxyConnectionFactory.ProxyEndPoint}) or, with no
 * header, the socket peer. It decides that client, then lets the next protocol make its connection
 * on the same endpoint, or, refused, makes a connection that closes it unread.
 */
final class RelayedClientFactory extends AbstractConnectionFactory {
  private final JettyGuard guard;
  private final String next;

  RelayedClientFactory(JettyGuard guard, String next) {
    super(JettyGuard.PROTOCOL);
    this.guard = guard;
    this.next = next;
  }

  @Override
  public Connection newConnection(Connector connector, EndPoint endPoint) {
    Object transport = endPoint.getTransport();
    boolean headerRead = endPoint instanceof ProxyConnectionFactory.ProxyEndPoint;
    if (transport instanceof SocketChannel socket
        && guard.decideRelayed(socket, endPoint.getRemoteSocketAddress(), headerRead)) {
      ConnectionFactory nextFactory = connector.getConnectionFactory(next);
      if (nextFactory == null) {
        throw new IllegalStateException("No protocol " + next + " on " + connector + " after " + JettyGuard.PROTOCOL);
      }
      return nextFactory.newConnection(connector, endPoint);
    }
    return new Refused(endPoint, connector);
  }

  /** A refused connection: closed when it opens, never read; what came after the header is dropped. */
  private static final class Refused extends AbstractConnection implements Connection.UpgradeTo {
    Refused(EndPoint endPoint, Connector connector) {
      super(endPoint, connector.getExecutor());
    }

    @Override
    public void onOpen() {
      super.onOpen();
      getEndPoint().close();
    }

    @Override
    public void onUpgradeTo(ByteBuffer buffer) {
      // the refused client's bytes: never parsed
    }

    @Override
    public void onFillable() {
      getEndPoint().close();
    }
  }
}
