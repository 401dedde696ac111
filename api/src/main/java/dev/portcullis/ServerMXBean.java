package dev.portcullis;

import java.util.Map;

/**
 * A running server in JMX, registered as {@code dev.portcullis:type=Server,address="..."} while it
 * runs: its {@link ServerStats} and {@link RunningServer#ruleHits()} as attributes, all read-only,
 * and three operations that change the server:
 *
 * <ul>
 *   <li>{@link #liftPenalty} lets a banned source in again at once;
 *   <li>{@link #promoteShadow} makes the shadow policy (one the application set with {@link
 *       RunningServer#shadow}) live, which can let in peers the live policy refuses;
 *   <li>{@link #clearShadow} drops the shadow policy.
 * </ul>
 *
 * <p>No other operation: through JMX nobody can set a policy, change a limit or ban a source. A JMX
 * client shows the operations as actions, with what each one does.
 *
 * <p><b>Who can run them is the operator's choice, not the server's.</b> The platform MBean
 * server is reachable by local attach (a process of the same user, such as {@code jconsole PID} or
 * {@code jcmd}), which can do anything to the process anyway; and over the network only if the JVM
 * was started with {@code com.sun.management.jmxremote.port}, which should have authentication and
 * SSL on, and can give monitoring users the {@code readonly} role (attributes, no operations) in
 * its access file. The security page says more.
 */
public interface ServerMXBean {
  /**
   * The address listened on.
   *
   * @return as people write it: such as {@code 127.0.0.1:7000}, {@code [::]:7000}, a socket path or {@code @name}
   *     (an abstract socket); see {@link dev.portcullis.policy.IpAddresses#format(java.net.SocketAddress)}
   */
  String getAddress();

  /**
   * See {@link ServerStats#accepted()}.
   *
   * @return connections accepted
   */
  long getAccepted();

  /**
   * See {@link ServerStats#denied()}.
   *
   * @return connections denied by the policy
   */
  long getDenied();

  /**
   * See {@link ServerStats#limited()}.
   *
   * @return connections refused by a limit
   */
  long getLimited();

  /**
   * See {@link ServerStats#handshakeFailures()}.
   *
   * @return failed handshakes
   */
  long getHandshakeFailures();

  /**
   * See {@link ServerStats#handshakeTimeouts()}.
   *
   * @return timed-out handshakes
   */
  long getHandshakeTimeouts();

  /**
   * See {@link ServerStats#deniedAfterHandshake()}.
   *
   * @return connections denied after a handshake changed their address
   */
  long getDeniedAfterHandshake();

  /**
   * See {@link ServerStats#overloaded()}.
   *
   * @return connections refused for lack of a handler thread
   */
  long getOverloaded();

  /**
   * See {@link ServerStats#handled()}.
   *
   * @return connections handed to the handler
   */
  long getHandled();

  /**
   * See {@link ServerStats#handlerFailures()}.
   *
   * @return handlers that threw
   */
  long getHandlerFailures();

  /**
   * See {@link ServerStats#openConnections()}.
   *
   * @return connections open now
   */
  int getOpenConnections();

  /**
   * See {@link ServerStats#pendingHandshakes()}.
   *
   * @return connections in their handshake now
   */
  int getPendingHandshakes();

  /**
   * See {@link RunningServer#ruleHits()}.
   *
   * @return rule to hits
   */
  Map<String, Long> getRuleHits();

  /**
   * How the handlers run: the name of a {@link HandlerMode}.
   *
   * @return {@code LOOP_CARRIER}, {@code VIRTUAL}, {@code PLATFORM}, {@code EXECUTOR} or {@code ON_LOOP}
   */
  String getHandlerMode();

  /**
   * Which kernel filter the listening socket has: the name of a {@link dev.portcullis.spi.KernelFilterMode}.
   *
   * @return {@code EBPF}, {@code CLASSIC}, {@code CLASSIC_IPV4}, {@code USER_SPACE} or {@code OFF}
   */
  String getKernelFilter();

  /**
   * Connections refused by the penalty box.
   *
   * @return the count so far
   */
  long getPenalized();

  /**
   * The current bans, one line each: {@code SOURCE until INSTANT (N offences, ban K)}.
   *
   * @return the bans, the soonest to end first; empty without a penalty box
   */
  String[] getPenalties();

  /**
   * An operation: lifts the ban of the source {@code address} belongs to (see {@link
   * RunningServer#liftPenalty}).
   *
   * @param address an IP address literal
   * @return whether that source was banned
   */
  boolean liftPenalty(String address);

  /**
   * Decisions made by both the live and the shadow policy since the shadow was set (0 without one).
   *
   * @return the count
   */
  long getShadowDecided();

  /**
   * Decisions the live policy denied and the shadow would allow.
   *
   * @return the count, 0 without a shadow
   */
  long getShadowWouldAllow();

  /**
   * Decisions the live policy allowed and the shadow would deny.
   *
   * @return the count, 0 without a shadow
   */
  long getShadowWouldDeny();

  /**
   * An operation: makes the shadow policy live (see {@link RunningServer#promote}); nothing without
   * one.
   */
  void promoteShadow();

  /** An operation: drops the shadow policy (see {@link RunningServer#clearShadow}). */
  void clearShadow();
}
