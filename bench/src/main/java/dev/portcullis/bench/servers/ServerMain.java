package dev.portcullis.bench.servers;

import dev.portcullis.policy.AccessPolicy;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * What the Java bench servers share: the command line of bench/README.md ({@code --port P --mode
 * churn|echo --policy FILE}), the {@code ready PORT} line, and a {@code stats} command on stdin
 * that answers {@code stats heap=BYTES threads=N} after a full GC, for the idle-connection run.
 */
final class ServerMain {
  static final byte[] OK = "OK\n".getBytes(StandardCharsets.US_ASCII);
  static final int BACKLOG = 4096;

  final int port;
  final boolean echo;
  final AccessPolicy policy;
  final Path policyFile;
  final String style;
  final boolean kernelFilter;
  /** Portcullis only: the address to listen on ({@code --bind}, 127.0.0.1 by default; {@code ::1} for W2-KF6). */
  final String bind;
  /** Portcullis only: event loops ({@code --loops N}, 1 by default: the server is pinned to one CPU). */
  final int loops;
  /** Portcullis only: {@code --mode tls} runs a TLS handshake (this certificate and key) and closes. */
  final Path tlsCert;
  final Path tlsKey;
  /**
   * Netty and Jetty only ({@code --filter}): what guards the server. Netty: {@code ipsubnet} (its
   * own {@code IpSubnetFilter}, the default), {@code portcullis} ({@code PortcullisNetty}), {@code
   * none} (no filter: the policy is ignored). Jetty: {@code none} (the default), {@code guard}
   * ({@code JettyGuard}), {@code kernel} ({@code KernelGuard} on its listening socket).
   */
  final String filter;
  /** What {@code stats} adds as {@code loops=a,b}: the connections each event loop accepted. */
  static volatile java.util.function.Supplier<long[]> perLoop = () -> new long[0];

  private ServerMain(int port, String mode, Path policyFile, String style, boolean kernelFilter, String bind,
      int loops, Path tlsCert, Path tlsKey, String filter) throws IOException {
    this.bind = bind;
    this.filter = filter;
    this.port = port;
    this.echo = mode.equals("echo");
    this.policyFile = policyFile;
    this.policy = AccessPolicy.load(policyFile);
    this.style = style;
    this.kernelFilter = kernelFilter;
    this.loops = loops;
    this.tlsCert = tlsCert;
    this.tlsKey = tlsKey;
  }

  /** Whether this run is the TLS handshake workload. */
  boolean tls() {
    return tlsCert != null;
  }

  static ServerMain parse(String[] args) throws IOException {
    int port = 0;
    String mode = null;
    String policy = null;
    String style = "loop";
    boolean kernelFilter = false;
    String bind = "127.0.0.1";
    int loops = 1;
    String tlsCert = null;
    String tlsKey = null;
    String filter = null;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--port" -> port = Integer.parseInt(args[i + 1]);
        case "--mode" -> mode = args[i + 1];
        case "--policy" -> policy = args[i + 1];
        case "--style" -> style = args[i + 1];
        case "--kernel-filter" -> {
          // true: the best filter the process may load (eBPF as root); classic: classic BPF only
          kernelFilter = args[i + 1].equals("true") || args[i + 1].equals("classic");
          if (args[i + 1].equals("classic")) {
            System.setProperty("portcullis.kernelFilter", "classic");
          }
        }
        case "--bind" -> bind = args[i + 1];
        case "--loops" -> loops = Integer.parseInt(args[i + 1]);
        case "--tls-cert" -> tlsCert = args[i + 1];
        case "--tls-key" -> tlsKey = args[i + 1];
        case "--filter" -> filter = args[i + 1];
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    if (!"churn".equals(mode) && !"echo".equals(mode) && !"tls".equals(mode)) {
      throw new IllegalArgumentException("--mode churn|echo|tls is required");
    }
    if (policy == null) {
      throw new IllegalArgumentException("--policy FILE is required");
    }
    if ("tls".equals(mode) && (tlsCert == null || tlsKey == null)) {
      throw new IllegalArgumentException("--mode tls needs --tls-cert PEM --tls-key PEM");
    }
    return new ServerMain(port, mode, Path.of(policy), style, kernelFilter, bind, loops,
        "tls".equals(mode) ? Path.of(tlsCert) : null, "tls".equals(mode) ? Path.of(tlsKey) : null, filter);
  }

  /** Prints the ready line and starts the stdin stats responder. */
  static void ready(int port) {
    System.out.println("ready " + port);
    System.out.flush();
    Thread t = new Thread(ServerMain::answerStats, "bench-stats");
    t.setDaemon(true);
    t.start();
  }

  private static void answerStats() {
    MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.strip().equals("stats")) {
          for (int i = 0; i < 3; i++) {
            System.gc();
          }
          long heap = memory.getHeapMemoryUsage().getUsed();
          int threads = ManagementFactory.getThreadMXBean().getThreadCount();
          StringBuilder loops = new StringBuilder();
          for (long n : perLoop.get()) {
            loops.append(loops.length() == 0 ? "" : ",").append(n);
          }
          System.out.println("stats heap=" + heap + " threads=" + threads + " loops=" + loops);
          System.out.flush();
        }
      }
    } catch (IOException e) {
      // stdin closed: nothing more to answer
    }
  }
}
