package dev.portcullis.internal;

import dev.portcullis.Handler;
import dev.portcullis.LoopHandler;
import dev.portcullis.handshake.Handshake;
import dev.portcullis.policy.AccessPolicy;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;

/**
 * The frozen settings of one {@code Server.start()}.
 *
 * @param port the TCP port, {@code 0..65535}; 0 picks a free port
 * @param bindAddress the local address to listen on, or empty for all addresses
 * @param backlog the {@code listen(2)} backlog, at least 1
 * @param policy the access policy, with at least one rule
 * @param handshakes the handshake chain, in order; possibly empty
 * @param handshakeTimeout the deadline for the whole handshake chain
 * @param handler the blocking handler, if that style was chosen
 * @param loopHandler the event-loop handler, if that style was chosen
 * @param executor the user's executor for blocking handlers, or empty for the server's own pool
 * @param inherited the socket systemd or inetd passed, served instead of opening one
 * @param unix where to listen instead when the server is on a Unix domain socket
 */
public record ServerConfig(
    int port,
    Optional<InetAddress> bindAddress,
    int backlog,
    AccessPolicy policy,
    List<Handshake> handshakes,
    Duration handshakeTimeout,
    Optional<Handler> handler,
    Optional<LoopHandler> loopHandler,
    Optional<Executor> executor,
    Optional<dev.portcullis.spi.InheritedSocket> inherited,
    Optional<dev.portcullis.spi.UnixListenOptions> unix) {}
