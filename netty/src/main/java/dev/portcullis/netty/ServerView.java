package dev.portcullis.netty;

import dev.portcullis.admission.AdapterServerView;
import java.net.SocketAddress;
import java.util.Map;

/** A guard as a {@link dev.portcullis.RunningServer}, for the Micrometer binder and the like: see {@link PortcullisNetty#asRunningServer}. */
final class ServerView extends AdapterServerView {
  private final PortcullisNetty guard;
  private final SocketAddress localAddress;

  ServerView(PortcullisNetty guard, SocketAddress localAddress) {
    super(guard);
    this.guard = guard;
    this.localAddress = localAddress;
  }

  @Override
  public SocketAddress localAddress() {
    return localAddress;
  }

  @Override
  public Map<String, Integer> handshakesInProgress() {
    return guard.proxy() == null ? Map.of() : Map.of(ProxyStages.STEP, stats().pendingHandshakes());
  }

  @Override
  protected String stopMessage(String method) {
    return method + "() on the view of a Netty guard: the Netty server is the application's to stop (its channel and"
        + " EventLoopGroups); PortcullisNetty.close() stops the guard's own housekeeping";
  }

  @Override
  public String toString() {
    return "RunningServer view of " + guard + " on " + dev.portcullis.policy.IpAddresses.format(localAddress);
  }
}
