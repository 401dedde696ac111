package dev.portcullis.netty;

import dev.portcullis.ServerMXBean;
import dev.portcullis.ShadowStats;
import dev.portcullis.policy.IpAddresses;
import java.lang.management.ManagementFactory;
import java.net.SocketAddress;
import java.util.Map;
import javax.management.JMException;
import javax.management.ObjectName;
import javax.management.StandardMBean;

/** The guard's MBean: the {@link ServerMXBean} a Portcullis server registers, over the guard's counters. */
final class Jmx {
  private final PortcullisNetty guard;
  private ObjectName name;

  Jmx(PortcullisNetty guard) {
    this.guard = guard;
  }

  synchronized void register(SocketAddress address) {
    if (name != null) {
      throw new IllegalStateException("This Netty guard's MBean is registered already, as " + name);
    }
    String where = IpAddresses.format(address);
    try {
      ObjectName n = new ObjectName("dev.portcullis:type=Server,address=" + ObjectName.quote(where));
      ManagementFactory.getPlatformMBeanServer().registerMBean(new StandardMBean(new Bean(where), ServerMXBean.class,
          true), n);
      name = n;
    } catch (JMException e) {
      throw new IllegalStateException("Could not register the MBean of the Netty guard on " + where + ": " + e, e);
    }
  }

  synchronized void unregister() {
    if (name == null) {
      return;
    }
    try {
      ManagementFactory.getPlatformMBeanServer().unregisterMBean(name);
    } catch (JMException e) {
      // gone already
    }
    name = null;
  }

  private final class Bean implements ServerMXBean {
    private final String where;

    Bean(String where) {
      this.where = where;
    }

    @Override
    public String getAddress() {
      return where;
    }

    @Override
    public long getAccepted() {
      return guard.stats().accepted();
    }

    @Override
    public long getDenied() {
      return guard.stats().denied();
    }

    @Override
    public long getLimited() {
      return guard.stats().limited();
    }

    @Override
    public long getHandshakeFailures() {
      return guard.stats().handshakeFailures();
    }

    @Override
    public long getHandshakeTimeouts() {
      return guard.stats().handshakeTimeouts();
    }

    @Override
    public long getDeniedAfterHandshake() {
      return guard.stats().deniedAfterHandshake();
    }

    @Override
    public long getOverloaded() {
      return guard.stats().overloaded();
    }

    @Override
    public long getHandled() {
      return guard.stats().handled();
    }

    @Override
    public long getHandlerFailures() {
      return guard.stats().handlerFailures();
    }

    @Override
    public int getOpenConnections() {
      return guard.stats().openConnections();
    }

    @Override
    public int getPendingHandshakes() {
      return guard.stats().pendingHandshakes();
    }

    @Override
    public Map<String, Long> getRuleHits() {
      return guard.ruleHits();
    }

    @Override
    public String getHandlerMode() {
      return dev.portcullis.HandlerMode.EXECUTOR.name();
    }

    @Override
    public String getKernelFilter() {
      return guard.stats().kernelFilter().name();
    }

    @Override
    public long getPenalized() {
      return guard.stats().penalized();
    }

    @Override
    public String[] getPenalties() {
      return guard.penalties().stream().map(Object::toString).toArray(String[]::new);
    }

    @Override
    public boolean liftPenalty(String address) {
      return guard.liftPenalty(address);
    }

    @Override
    public long getShadowDecided() {
      return guard.shadowStats().map(ShadowStats::decided).orElse(0L);
    }

    @Override
    public long getShadowWouldAllow() {
      return guard.shadowStats().map(ShadowStats::wouldAllow).orElse(0L);
    }

    @Override
    public long getShadowWouldDeny() {
      return guard.shadowStats().map(ShadowStats::wouldDeny).orElse(0L);
    }

    @Override
    public void promoteShadow() {
      guard.promote();
    }

    @Override
    public void clearShadow() {
      guard.clearShadow();
    }
  }
}
