package dev.portcullis;

import java.io.IOException;
import java.util.ServiceLoader;

/**
 * What runs a {@link ServerSpec}: the api module's own pipeline, which {@link ServerSpec#start()}
 * finds with {@link ServiceLoader} (the module declares it with {@code provides}; on the class path,
 * {@code META-INF/services/dev.portcullis.ServerRuntime} in the api jar names it). It is a hook, so
 * that this package, the API, never names the package that implements it; applications neither
 * implement nor call it, and start a server with {@link ServerSpec#start()} or {@link
 * Server.Builder#start()}.
 */
public interface ServerRuntime {
  /**
   * Opens the listening socket and starts accepting, as {@link ServerSpec#start()} documents.
   *
   * @param spec the server to start
   * @return the running server
   * @throws IOException as {@link ServerSpec#start()}
   */
  RunningServer start(ServerSpec<?> spec) throws IOException;
}
