package dev.portcullis.internal;

import dev.portcullis.spi.Transport;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/** Finds a transport with {@link ServiceLoader} and explains precisely when none can run. */
public final class Transports {
  private Transports() {}

  /**
   * The first available transport on the class path or, for a named module, among the provider
   * modules bound into its layer.
   *
   * @return the first transport, in {@link ServiceLoader} order, whose {@code isAvailable()} is
   *     true
   * @throws IllegalStateException if none is found, or none of those found can run here (the
   *     message names each and why)
   */
  public static Transport load() {
    List<String> unavailable = new ArrayList<>();
    Throwable firstCause = null;
    try {
      for (Transport t : ServiceLoader.load(Transport.class, Transports.class.getClassLoader())) {
        if (t.isAvailable()) {
          return t;
        }
        Throwable cause = t.unavailabilityCause().orElse(null);
        unavailable.add(t.name() + " (" + (cause == null ? "no reason given" : cause) + ")");
        firstCause = firstCause == null ? cause : firstCause;
      }
    } catch (ServiceConfigurationError e) {
      throw new IllegalStateException("A Portcullis transport could not be loaded: "
          + e.getMessage(), e);
    }
    if (unavailable.isEmpty()) {
      throw new IllegalStateException("No Portcullis transport on the class path or module path:"
          + " add a transport (on Linux, the artifact portcullis-jna from the same BOM),"
          + " or pass one with Server.transport(...)");
    }
    throw new IllegalStateException("No Portcullis transport can run on this machine: "
        + String.join("; ", unavailable), firstCause);
  }
}
