package dev.portcullis;

/**
 * Application code for one connection that passed the access policy and the handshake chain.
 *
 * <pre>{@code
 * Handler echo = conn -> conn.input().transferTo(conn.output());
 * }</pre>
 *
 * <p>Runs on the server's executor. The connection is closed when the handler returns or throws;
 * an exception is logged and counted in {@link ServerStats#handlerFailures()}.
 */
@FunctionalInterface
public interface Handler {
  /**
   * Serves one connection.
   *
   * @param connection the allowed, handshaken connection
   * @throws Exception anything; the connection is then closed and the failure logged
   */
  void handle(Connection connection) throws Exception;
}
