package dev.portcullis.internal;

import dev.portcullis.Handler;
import dev.portcullis.LoopHandler;
import dev.portcullis.handshake.Handshake;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Limits;
import dev.portcullis.spi.Endpoint;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;

/**
 * The frozen settings of one server, as {@code Server.Builder.build()} checked them: what a {@code
 * ServerSpec} holds and {@link ServerInstance#start} runs.
 *
 * @param endpoint where to listen, or empty for a socket this process is given ({@code declared})
 * @param declared for {@code fromSystemd}/{@code fromInetd}, what to resolve at start; else empty
 * @param kernelFilter whether the listening TCP socket gets a kernel filter of the policy
 * @param policy the access policy, with at least one rule
 * @param handshakes the handshake chain, in order; possibly empty
 * @param handshakeTimeout the deadline for the whole handshake chain
 * @param idleTimeout how long a handled connection may move no bytes before it is closed; zero for never
 * @param handler the blocking handler, if that style was chosen
 * @param loopHandler the event-loop handler, if that style was chosen
 * @param executor the user's executor for blocking handlers, or empty for the server's own pool
 * @param limits the builder's limits merged over the policy's, once
 * @param eventLoops how many event loops the transport accepts on, at least 1; in a {@code ServerSpec}, 0
 *     for one per available processor, decided when it starts ({@link #withEventLoops})
 * @param penalties the penalty box, if one was asked for
 * @param localSourceByGroup on a Unix socket, whether per-source limits count by gid (else by uid)
 */
public record ServerConfig(
    Optional<Endpoint> endpoint,
    Optional<Activation.Declared> declared,
    boolean kernelFilter,
    AccessPolicy policy,
    List<Handshake> handshakes,
    Duration handshakeTimeout,
    Duration idleTimeout,
    Optional<Handler> handler,
    Optional<LoopHandler> loopHandler,
    Optional<Executor> executor,
    Limits limits,
    int eventLoops,
    Optional<dev.portcullis.policy.Penalties> penalties,
    boolean localSourceByGroup) {

  /**
   * Checks that exactly one of {@code endpoint} and {@code declared} is given.
   */
  public ServerConfig {
    if (endpoint.isPresent() == declared.isPresent()) {
      throw new IllegalArgumentException("one of endpoint and declared, not " + endpoint + " and " + declared);
    }
  }

  /**
   * Where messages say the server is: {@code port 7000}, {@code systemd socket 'web'}.
   *
   * @return the text
   */
  public String describeWhere() {
    return endpoint.map(Endpoint::describe).orElseGet(() -> declared.orElseThrow().describe());
  }

  /**
   * These settings with the event loop count decided.
   *
   * @param loops at least 1
   * @return the new settings
   */
  public ServerConfig withEventLoops(int loops) {
    return new ServerConfig(endpoint, declared, kernelFilter, policy, handshakes, handshakeTimeout, idleTimeout, handler, loopHandler, executor,
        limits, loops, penalties, localSourceByGroup);
  }
}
