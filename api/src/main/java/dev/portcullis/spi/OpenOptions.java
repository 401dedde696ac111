package dev.portcullis.spi;

import java.util.Objects;
import java.util.Optional;

/**
 * What a server asks of a listener beyond where it listens, given to {@link Transport#open(Endpoint,
 * int, Acceptor, OpenOptions)}: things a transport may or may not be able to do, each of which it
 * reports back as a capability of the {@link Listener} when it did it.
 *
 * <pre>{@code
 * transport.open(endpoint, 2, acceptor, OpenOptions.none().withKernelFilter(KernelRules.of(policy)));
 * }</pre>
 *
 * @param kernelFilter the rules for a filter the kernel runs on the listening TCP socket before the
 *     loops start accepting, or empty for none. A transport that cannot filter logs why and listens
 *     without it ({@link KernelFiltering} then reports {@link KernelFilterMode#USER_SPACE}, or the
 *     listener has no such capability).
 */
public record OpenOptions(Optional<KernelRules> kernelFilter) {
  private static final OpenOptions NONE = new OpenOptions(Optional.empty());

  /**
   * Checks the value.
   *
   * @param kernelFilter not null
   */
  public OpenOptions {
    Objects.requireNonNull(kernelFilter, "kernelFilter");
  }

  /**
   * Nothing beyond the endpoint.
   *
   * @return the options
   */
  public static OpenOptions none() {
    return NONE;
  }

  /**
   * These options with a kernel filter of these rules.
   *
   * @param rules the rules to compile
   * @return the new options
   */
  public OpenOptions withKernelFilter(KernelRules rules) {
    return new OpenOptions(Optional.of(Objects.requireNonNull(rules, "rules")));
  }
}
