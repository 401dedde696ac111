package dev.portcullis.spi;

import java.net.InetAddress;
import java.util.Optional;

/**
 * Where and how a transport listens.
 *
 * @param bindAddress the local address; empty means the wildcard, dual-stack {@code ::} where IPv6
 *     is available and {@code 0.0.0.0} where it is not. An explicit {@code ::} is dual-stack too
 *     ({@code IPV6_V6ONLY} off); {@code 0.0.0.0} is IPv4 only.
 * @param port {@code 0..65535}; 0 lets the kernel pick a free port
 * @param backlog passed to {@code listen(2)} as is; the kernel caps it at {@code somaxconn}
 * @param kernelFilter the policy to compile into a filter attached to the listening socket, so the
 *     kernel drops packets from denied addresses; empty for none. A transport that cannot filter
 *     logs why and listens without it.
 */
public record ListenOptions(Optional<InetAddress> bindAddress, int port, int backlog,
    Optional<dev.portcullis.policy.AccessPolicy> kernelFilter) {
  /**
   * Checks the values.
   *
   * @param bindAddress the local address, or empty for the wildcard
   * @param port {@code 0..65535}
   * @param backlog at least 1
   * @param kernelFilter the policy for a kernel-side filter, or empty
   * @throws NullPointerException if {@code bindAddress} is null
   * @throws IllegalArgumentException if the port or backlog is out of range
   */
  public ListenOptions {
    java.util.Objects.requireNonNull(bindAddress, "bindAddress");
    java.util.Objects.requireNonNull(kernelFilter, "kernelFilter");
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("Port out of range: " + port + " (expected 0..65535)");
    }
    if (backlog < 1) {
      throw new IllegalArgumentException("Backlog must be at least 1: " + backlog);
    }
  }

  /**
   * Options without a kernel filter.
   *
   * @param bindAddress the local address, or empty for the wildcard
   * @param port {@code 0..65535}
   * @param backlog at least 1
   */
  public ListenOptions(Optional<InetAddress> bindAddress, int port, int backlog) {
    this(bindAddress, port, backlog, Optional.empty());
  }
}
