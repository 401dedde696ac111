package dev.portcullis.bench.servers;

import dev.portcullis.jetty.JettyGuard;
import dev.portcullis.jna.KernelGuard;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.util.concurrent.Executor;
import org.eclipse.jetty.io.AbstractConnection;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.AbstractConnectionFactory;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The Jetty 12 bench server: a {@link ServerConnector} with one acceptor and one selector, and a
 * tiny connection (no HTTP) speaking the bench protocol: the {@code HELLO} line, then {@code OK}
 * and close (churn) or echo. What guards it ({@code --filter}): {@code none} (the default; the
 * policy is ignored), {@code guard} ({@link JettyGuard} on the connector: the policy decided when
 * Jetty accepts, before it makes an endpoint), {@code kernel} ({@link KernelGuard} on the
 * connector's listening socket: denied SYNs dropped in the kernel, Jetty never sees them).
 */
public final class JettyServer {
  private JettyServer() {}

  public static void main(String[] args) throws Exception {
    ServerMain m = ServerMain.parse(args);
    String kind = m.filter == null ? "none" : m.filter;
    if (!kind.equals("none") && !kind.equals("guard") && !kind.equals("kernel")) {
      throw new IllegalArgumentException("--filter " + kind + ": Jetty takes none, guard or kernel");
    }
    Server server = new Server(new QueuedThreadPool(16, 4));
    ServerConnector connector = new ServerConnector(server, 1, 1, new BenchConnectionFactory(m.echo));
    connector.setHost("127.0.0.1");
    connector.setPort(m.port);
    connector.setAcceptQueueSize(ServerMain.BACKLOG);
    server.addConnector(connector);
    if (kind.equals("guard")) {
      JettyGuard.attach(connector, m.policy);
    }
    server.start();
    if (kind.equals("kernel")) {
      KernelGuard.attach((ServerSocketChannel) connector.getTransport(), m.policy);
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        server.stop();
      } catch (Exception e) {
        // exiting anyway
      }
    }));
    ServerMain.ready(connector.getLocalPort());
    server.join();
  }

  /** Makes a {@link BenchConnection} for each endpoint Jetty accepts. */
  private static final class BenchConnectionFactory extends AbstractConnectionFactory {
    private final boolean echo;

    BenchConnectionFactory(boolean echo) {
      super("bench");
      this.echo = echo;
    }

    @Override
    public Connection newConnection(Connector connector, EndPoint endPoint) {
      return configure(new BenchConnection(endPoint, connector.getExecutor(), echo), connector, endPoint);
    }
  }

  /** The HELLO line, then OK and close (churn) or echo; the next read waits for each write. */
  private static final class BenchConnection extends AbstractConnection {
    private final boolean echo;
    private final ByteBuffer buffer = BufferUtil.allocate(16 * 1024);
    private final StringBuilder line = new StringBuilder(8);
    private boolean handshaken;

    BenchConnection(EndPoint endPoint, Executor executor, boolean echo) {
      super(endPoint, executor);
      this.echo = echo;
    }

    @Override
    public void onOpen() {
      super.onOpen();
      fillInterested();
    }

    @Override
    public void onFillable() {
      EndPoint ep = getEndPoint();
      try {
        BufferUtil.clear(buffer);
        int n = ep.fill(buffer);
        if (n < 0) {
          ep.close();
          return;
        }
        if (n == 0) {
          fillInterested();
          return;
        }
        ByteBuffer reply = null;
        if (!handshaken) {
          while (buffer.hasRemaining()) {
            byte b = buffer.get();
            if (b == '\n') {
              if (!line.toString().equals("HELLO")) {
                ep.close();
                return;
              }
              handshaken = true;
              reply = ByteBuffer.wrap(ServerMain.OK);
              break;
            }
            if (line.length() >= 16) {
              ep.close();
              return;
            }
            line.append((char) b);
          }
        }
        if (handshaken && !echo) {
          ep.write(Callback.from(ep::close, failure -> ep.close()), reply);
          return;
        }
        ByteBuffer data = buffer.hasRemaining() ? buffer : null;
        ByteBuffer[] out = reply == null && data == null ? new ByteBuffer[0]
            : reply == null ? new ByteBuffer[] {data} : data == null ? new ByteBuffer[] {reply}
                : new ByteBuffer[] {reply, data};
        if (out.length == 0) {
          fillInterested();
          return;
        }
        ep.write(Callback.from(this::fillInterested, failure -> ep.close()), out);
      } catch (Exception e) {
        ep.close();
      }
    }
  }
}
