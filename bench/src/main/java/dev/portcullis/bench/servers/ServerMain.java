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

  private ServerMain(int port, boolean echo, Path policyFile, String style, boolean kernelFilter) throws IOException {
    this.port = port;
    this.echo = echo;
    this.policyFile = policyFile;
    this.policy = AccessPolicy.load(policyFile);
    this.style = style;
    this.kernelFilter = kernelFilter;
  }

  static ServerMain parse(String[] args) throws IOException {
    int port = 0;
    String mode = null;
    String policy = null;
    String style = "loop";
    boolean kernelFilter = false;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--port" -> port = Integer.parseInt(args[i + 1]);
        case "--mode" -> mode = args[i + 1];
        case "--policy" -> policy = args[i + 1];
        case "--style" -> style = args[i + 1];
        case "--kernel-filter" -> kernelFilter = Boolean.parseBoolean(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    if (!"churn".equals(mode) && !"echo".equals(mode)) {
      throw new IllegalArgumentException("--mode churn|echo is required");
    }
    if (policy == null) {
      throw new IllegalArgumentException("--policy FILE is required");
    }
    return new ServerMain(port, "echo".equals(mode), Path.of(policy), style, kernelFilter);
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
          System.out.println("stats heap=" + heap + " threads=" + threads);
          System.out.flush();
        }
      }
    } catch (IOException e) {
      // stdin closed: nothing more to answer
    }
  }
}
