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

/** The frozen settings of one {@code Server.start()}. */
public record ServerConfig(
    int port,
    Optional<InetAddress> bindAddress,
    int backlog,
    AccessPolicy policy,
    List<Handshake> handshakes,
    Duration handshakeTimeout,
    Optional<Handler> handler,
    Optional<LoopHandler> loopHandler,
    Optional<Executor> executor) {}
