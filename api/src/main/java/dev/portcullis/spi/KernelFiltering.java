package dev.portcullis.spi;

import dev.portcullis.policy.Cidr;
import java.util.List;

/**
 * An optional power of a listener: a filter in the kernel that drops the packets of denied peers
 * before they are accepted. A listener has it when the transport could attach one because {@link
 * OpenOptions#kernelFilter()} asked for it; the server finds it with {@code
 * listener.capability(KernelFiltering.class)}, as Netty keeps epoll-only options in its epoll
 * package. The listener closes it with the socket.
 */
public interface KernelFiltering {
  /**
   * Replaces the rules the filter holds, after the server's policy changed; the bans stay. Whatever
   * is attached afterwards drops only what {@code rules} deny, or nothing is (the mode says which).
   *
   * @param rules the new rules
   */
  void updateRules(KernelRules rules);

  /**
   * Replaces the blocks the filter drops besides the rules' denied ones: the penalty box's current
   * bans of direct peers. Kept apart from the rules so a ban, which changes often, does not make the
   * transport rebuild a large filter.
   *
   * @param bans the banned blocks, all of them (an empty list lifts every ban)
   */
  void updateBans(List<Cidr> bans);

  /**
   * Which filter the socket has now; it may change when an update falls back.
   *
   * @return the mode in force, never {@link KernelFilterMode#OFF}
   */
  KernelFilterMode mode();
}
