package dev.portcullis.internal;

import dev.portcullis.ServerMXBean;
import dev.portcullis.ShadowStats;
import dev.portcullis.admission.Counters;
import java.lang.management.ManagementFactory;
import java.util.Map;
import javax.management.JMException;
import javax.management.MBeanInfo;
import javax.management.MBeanOperationInfo;
import javax.management.MBeanParameterInfo;
import javax.management.ObjectName;
import javax.management.StandardMBean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The JMX view of one running server ({@link ServerMXBean}): its counters read from the chain's
 * {@link Counters}, its operations handed to the {@link ServerInstance}. Registered under
 * {@code dev.portcullis:type=Server,address="..."} when the server starts, unregistered when it
 * closes.
 */
final class ServerMBean implements ServerMXBean {
  // The server's logger: the lines are about the server, as they were before this class existed.
  private static final Logger log = LoggerFactory.getLogger(ServerInstance.class);

  private final ServerInstance server;
  private final Counters counters;

  private ServerMBean(ServerInstance server, Counters counters) {
    this.server = server;
    this.counters = counters;
  }

  /**
   * Registers the bean of a started server with the platform MBean server.
   *
   * @return its name, or null if it could not be registered (logged; the server runs without it)
   */
  static ObjectName register(ServerInstance server, Counters counters) {
    String where = ServerInstance.where(server.localAddress());
    try {
      ObjectName name = new ObjectName("dev.portcullis:type=Server,address=" + ObjectName.quote(where));
      ManagementFactory.getPlatformMBeanServer().registerMBean(new DescribedBean(new ServerMBean(server, counters)),
          name);
      return name;
    } catch (JMException | RuntimeException e) {
      log.warn("Could not register the JMX MBean of {}: {}", where, e.toString());
      return null;
    }
  }

  /** Unregisters what {@link #register} registered; nothing if {@code name} is null. */
  static void unregister(ObjectName name) {
    if (name != null) {
      try {
        ManagementFactory.getPlatformMBeanServer().unregisterMBean(name);
      } catch (JMException | RuntimeException e) {
        log.debug("Could not unregister {}: {}", name, e.toString());
      }
    }
  }

  /**
   * The bean as a JMX client shows it: what {@link ServerMXBean} documents, with the operations
   * marked as actions and described, so that jconsole says what each one changes.
   */
  private static final class DescribedBean extends StandardMBean {
    private static final Map<String, String> OPERATIONS = Map.of(
        "liftPenalty", "Lifts the ban of the source this address belongs to and forgets its offences"
            + " (fails if the server has no penalty box)",
        "promoteShadow", "Makes the shadow policy live, as updatePolicy does: it decides every new connection"
            + " from now on (nothing without a shadow)",
        "clearShadow", "Drops the shadow policy; the live policy stays");

    DescribedBean(ServerMXBean bean) {
      super(bean, ServerMXBean.class, true);
    }

    @Override
    protected String getDescription(MBeanInfo info) {
      return "A Portcullis server: its counters as read-only attributes, and three operations that change it:"
          + " liftPenalty, promoteShadow, clearShadow. Whoever can reach this bean can run them; restrict JMX"
          + " access (see the security page)";
    }

    @Override
    protected String getDescription(MBeanOperationInfo op) {
      return OPERATIONS.getOrDefault(op.getName(), super.getDescription(op));
    }

    @Override
    protected int getImpact(MBeanOperationInfo op) {
      return MBeanOperationInfo.ACTION;
    }

    @Override
    protected String getParameterName(MBeanOperationInfo op, MBeanParameterInfo param, int sequence) {
      return op.getName().equals("liftPenalty") ? "address" : super.getParameterName(op, param, sequence);
    }

    @Override
    protected String getDescription(MBeanOperationInfo op, MBeanParameterInfo param, int sequence) {
      return op.getName().equals("liftPenalty") ? "An IP address literal, such as 192.0.2.7"
          : super.getDescription(op, param, sequence);
    }
  }

  @Override
  public String getAddress() {
    return ServerInstance.where(server.localAddress());
  }

  @Override
  public long getAccepted() {
    return counters.accepted.get();
  }

  @Override
  public long getDenied() {
    return counters.denied.get();
  }

  @Override
  public long getLimited() {
    return counters.limited.get();
  }

  @Override
  public long getHandshakeFailures() {
    return counters.handshakeFailures.get();
  }

  @Override
  public long getHandshakeTimeouts() {
    return counters.handshakeTimeouts.get();
  }

  @Override
  public long getDeniedAfterHandshake() {
    return counters.deniedAfterHandshake.get();
  }

  @Override
  public long getOverloaded() {
    return counters.overloaded.get();
  }

  @Override
  public long getHandled() {
    return counters.handled.get();
  }

  @Override
  public long getHandlerFailures() {
    return counters.handlerFailures.get();
  }

  @Override
  public int getOpenConnections() {
    return counters.open.get();
  }

  @Override
  public long getShadowDecided() {
    return server.shadowStats().map(ShadowStats::decided).orElse(0L);
  }

  @Override
  public long getShadowWouldAllow() {
    return server.shadowStats().map(ShadowStats::wouldAllow).orElse(0L);
  }

  @Override
  public long getShadowWouldDeny() {
    return server.shadowStats().map(ShadowStats::wouldDeny).orElse(0L);
  }

  @Override
  public void promoteShadow() {
    server.promote();
  }

  @Override
  public void clearShadow() {
    server.clearShadow();
  }

  @Override
  public String getHandlerMode() {
    return server.handlerMode().name();
  }

  @Override
  public String getKernelFilter() {
    return server.stats().kernelFilter().name();
  }

  @Override
  public long getPenalized() {
    return counters.penalized.get();
  }

  @Override
  public String[] getPenalties() {
    return server.penalties().stream().map(p -> p.source() + " until " + p.until() + " (" + p.offences()
        + " offences, ban " + p.bans() + ")").toArray(String[]::new);
  }

  @Override
  public boolean liftPenalty(String address) {
    return server.liftPenalty(address);
  }

  @Override
  public int getPendingHandshakes() {
    return counters.pendingHandshakes.get();
  }

  @Override
  public Map<String, Long> getRuleHits() {
    return server.ruleHits();
  }
}
