package dev.portcullis.internal;

import dev.portcullis.RunningServer;
import dev.portcullis.ServerRuntime;
import dev.portcullis.ServerSpec;
import dev.portcullis.spi.Transport;
import java.io.IOException;

/**
 * The {@link ServerRuntime} behind {@code ServerSpec.start()}: the transport given or the first
 * available one {@link Transports} finds, the event loop count decided, then a {@link ServerInstance}.
 */
public final class PipelineRuntime implements ServerRuntime {
  /** Required by {@link java.util.ServiceLoader}. */
  public PipelineRuntime() {}

  @Override
  public RunningServer start(ServerSpec<?> spec) throws IOException {
    Transport t = spec.transport().isPresent() ? spec.transport().get() : Transports.load();
    if (!t.isAvailable()) {
      Throwable cause = t.unavailabilityCause().orElse(null);
      throw new IllegalStateException("Transport '" + t.name() + "' cannot run on this machine: "
          + (cause == null ? "no reason given" : cause), cause);
    }
    return ServerInstance.start(spec, t, spec.eventLoops().orElse(Math.max(1, Runtime.getRuntime().availableProcessors())));
  }
}
