package dev.portcullis.spi;

/**
 * Which kernel filter a server's listening socket has ({@code Server.TcpBuilder.kernelFilter()}), as {@code
 * ServerStats.kernelFilter()} and {@link KernelFiltering#mode()} report it. Whatever the mode, every accepted connection is still
 * checked in user space; the kernel filter only spares the process the packets of denied peers.
 *
 * <p>The transport tries the modes in the order they are listed: eBPF where the process may load
 * it, classic BPF where the policy fits one program, user space otherwise; one log line names the
 * mode in force and why a better one was not used.
 */
public enum KernelFilterMode {
  /**
   * An eBPF socket filter that looks the source address up in longest-prefix-match tries, one per
   * family: any policy size, both families. Needs {@code CAP_BPF} (or root) and Linux 5.11+.
   */
  EBPF,
  /** A classic BPF socket filter holding the denied ranges of both families. Needs no privilege. */
  CLASSIC,
  /**
   * A classic BPF socket filter for IPv4 only: the denied IPv6 prefixes did not fit beside the
   * IPv4 ranges in one program, so IPv6 peers are checked in user space only.
   */
  CLASSIC_IPV4,
  /**
   * A kernel filter was asked for, but none is attached: the kernel refused it, or the policy is
   * too large for classic BPF and eBPF could not be used. Peers are checked in user space only.
   */
  USER_SPACE,
  /** No kernel filter was asked for, or the server does not listen on TCP. */
  OFF
}
