package dev.portcullis.jetty;

import dev.portcullis.admission.AdapterServerView;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Map;

/** A guard as a {@link dev.portcullis.RunningServer}, for the Micrometer binder and the like: see {@link JettyGuard#asRunningServer}. */
final class ServerView extends AdapterServerView {
  private final JettyGuard guard;

  ServerView(JettyGuard guard) {
    super(guard);
    this.guard = guard;
  }

  /** The connector's address: its host (any address if none) and its port once open. */
  @Override
  public SocketAddress localAddress() {
    String host = guard.connector().getHost();
    int port = Math.max(0, guard.connector().getLocalPort());
    return host == null ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
  }

  @Override
  public Map<String, Integer> handshakesInProgress() {
    return guard.trustedProxies().isEmpty() ? Map.of() : Map.of(JettyGuard.STEP, stats().pendingHandshakes());
  }

  @Override
  protected String stopMessage(String method) {
    return method + "() on the view of a Jetty guard: the Jetty server is the application's to stop (server.stop())";
  }

  @Override
  public String toString() {
    return "RunningServer view of " + guard;
  }
}
