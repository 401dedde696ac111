package dev.portcullis.handshake;

/**
 * One step of a server's handshake chain: a small protocol that runs after the peer's address was
 * allowed and before the handler sees the connection. A step can read and write bytes, replace the
 * peer address (as the PROXY protocol does), and attach an {@link Identity}.
 *
 * <p>A {@code Handshake} is an immutable, shareable description; {@link #newStep()} creates the
 * state for one connection. Steps are driven by the transport's event loop: they are called when
 * bytes arrive and must never block, so a server can hold thousands of connections in their
 * handshake without a thread for each. The whole chain is bound by one absolute deadline
 * ({@code Server.handshakeTimeout}), which is not reset when bytes arrive.
 *
 * <pre>{@code
 * // A custom step: the client must send "HELLO <name>\n"; the name becomes its identity.
 * Handshake hello = Handshake.of("hello", () -> (input, ctx) -> {
 *     int end = Lines.indexOfNewline(input);
 *     if (end < 0) {
 *         if (input.remaining() > 64) throw new HandshakeException("hello line too long");
 *         return HandshakeStep.Progress.NEED_MORE;
 *     }
 *     String line = Lines.take(input, end);
 *     if (!line.startsWith("HELLO ")) throw new HandshakeException("expected HELLO, got " + line);
 *     ctx.identity(Identity.of("hello", line.substring(6)));
 *     return HandshakeStep.Progress.DONE;
 * });
 * }</pre>
 *
 * @see dev.portcullis.Handshakes for the built-in steps
 */
public interface Handshake {
  /**
   * A short name for logs and error messages, such as {@code expect-line}.
   *
   * @return the step's name, never null
   */
  String name();

  /**
   * Creates the per-connection state of this step. Called on the event loop once per connection
   * that reaches this step.
   *
   * @return a fresh step for one connection
   */
  HandshakeStep newStep();

  /**
   * Whether this step must be the first of the chain (and so can appear only once), as a PROXY
   * protocol header precedes every other byte. {@code Server.start()} refuses a chain that breaks
   * this. The default is false.
   *
   * @return {@code true} if the step must come first in the chain
   */
  default boolean mustRunFirst() {
    return false;
  }

  /**
   * Whether a chain may hold this step at most once (steps are the same when their {@link #name()}
   * is): TLS, since a second would wrap TLS inside TLS. {@code start()} refuses a chain with two.
   * The default is false.
   *
   * @return {@code true} if the step may appear once per chain
   */
  default boolean oncePerChain() {
    return false;
  }

  /**
   * Checks that the step can work as configured; {@code start()} calls it for every step, so a
   * step that cannot (a PROXY step that trusts no proxy) fails there, naming what to fix. The
   * default accepts.
   *
   * @throws IllegalStateException if the step is not usable, saying why
   */
  default void validate() {}

  /**
   * The socket peers on whose behalf this step names another client, such as the trusted proxies
   * of a PROXY protocol step. A step that relays must come first in the chain ({@code start()}
   * checks). For a connection from one of these peers, the per-source limits ({@code
   * maxConnectionsPerSource}, {@code rateLimitPerSource}) count the client the step names, once it
   * has named one, and the socket peer itself if the step kept it (a PROXY {@code LOCAL} health
   * check); for every other connection they count the socket peer at accept. The default is none.
   *
   * @return the prefixes whose connections this step relays; empty if it relays for none
   */
  default java.util.List<dev.portcullis.policy.Cidr> relaysFrom() {
    return java.util.List.of();
  }

  /**
   * A step made of a name and a factory, for steps written as lambdas.
   *
   * @param name a short name for logs and errors
   * @param factory creates one {@link HandshakeStep} per connection
   * @return a handshake whose {@link #newStep()} calls the factory
   * @throws NullPointerException if either is null
   */
  static Handshake of(String name, java.util.function.Supplier<? extends HandshakeStep> factory) {
    java.util.Objects.requireNonNull(name, "name");
    java.util.Objects.requireNonNull(factory, "factory");
    return new Handshake() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public HandshakeStep newStep() {
        return factory.get();
      }

      @Override
      public String toString() {
        return name;
      }
    };
  }
}
