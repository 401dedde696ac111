package dev.portcullis.bench;

import dev.portcullis.bench.Processes.Result;
import dev.portcullis.bench.Processes.Running;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The benchmark suite: C, JDK NIO, Netty and Portcullis servers doing the same work in one run on
 * one machine, the server pinned to CPU 1 and the C load generator to CPU 0. Each measurement
 * starts a fresh server, warms it up, then measures throughput and the server process's CPU time
 * (utime + stime, all threads) per operation. Runs are interleaved across servers and the median
 * is reported. Run from the {@code bench} folder: {@code java -jar target/portcullis-bench.jar}.
 *
 * <p>Options: {@code --runs N} (3), {@code --warmup S} (2), {@code --settle MS} (1000), {@code --seconds S} (4), {@code
 * --idle-conns N} (10000), {@code --quick} (1 run of 1+2 s, 2000 idle connections), {@code
 * --skip-jmh}, {@code --only W1,W3-64,...}.
 *
 * <p>The adapter group ({@link #ADAPTER_WORKLOADS}) runs only when {@code --only} names it ({@code
 * --only W1-ADAPT,W2-ADAPT,W2-KG-ADAPT}, or {@code --only ADAPT} for all three): the Portcullis
 * adapters in front of the servers Java teams already run ({@link #ADAPTER_SERVERS}), against the
 * same servers with their own filter and with none.
 */
public final class BenchSuite {
  private BenchSuite() {}

  static final long CLK_TCK = 100;

  /**
   * One workload of the load generator against servers in one mode; {@code kernelFilter}: the
   * Portcullis server's {@code --kernel-filter} value ({@code true}: the best filter it may load,
   * {@code classic}), or null for none; {@code serverArgs}: more server arguments.
   */
  record Workload(String id, String title, String mode, String policy, List<String> load, String kernelFilter,
      List<String> serverArgs) {
    Workload(String id, String title, String mode, boolean denyPolicy, List<String> load) {
      this(id, title, mode, denyPolicy ? "deny" : "allow", load, null, List.of());
    }

    boolean filtered() {
      return kernelFilter != null;
    }
  }

  /** One server under test. */
  /** A server in the suite; {@code args} are extra arguments (Portcullis's handler style). */
  record ServerKind(String name, boolean java, String mainClass, List<String> args) {
    ServerKind(String name, boolean java, String mainClass) {
      this(name, java, mainClass, List.of());
    }
  }

  private final Path bench = Path.of("").toAbsolutePath();
  private final Path out = bench.resolve("target/results");
  private final Path cDir = bench.resolve("target/c");
  private final Path jar = bench.resolve("target/portcullis-bench.jar");
  private int runs = 3;
  private int warmup = 2;
  /**
   * Milliseconds the server is left idle between the warm-up load and the measured one ({@code
   * --settle MS}). The warm-up's connections all close at its end, and their closes take branches
   * the JIT never saw taken (end of stream, errors): it deoptimizes the hot methods and compiles
   * them again, for a second or two on this machine. Without the pause that compile lands in the
   * measured window and is billed as the server's CPU per operation (seen: the C2 compiler thread
   * at 38-47 % of a Java server's CPU in W1 and W3-64 on JDK 25), and it competes for the server's
   * one CPU, which lowers its rate. The pause applies to every server alike.
   */
  private int settleMillis = 1000;
  private int seconds = 4;
  private int idleConns = 10_000;
  private boolean jmh = true;
  private List<String> only = List.of();
  /** W6 compares this many event loops with one ({@code --loops N}; default: the CPUs here). */
  private int loops = Math.max(2, Runtime.getRuntime().availableProcessors());
  /** The servers to run, by name ({@code --servers C,Portcullis}); empty: all. */
  private List<String> servers = List.of();
  private Path allowPolicy;
  private Path denyPolicy;
  private Path kernelFilterPolicy;
  private Path ipv6DenyPolicy;

  /** JDK 22+ warns when JNA loads native code unless it is allowed; 17-21 need (and some refuse) nothing. */
  /**
   * JVM options of the Java servers: native access without a warning (JDK 22+), and {@code
   * java.lang} open so that Portcullis's blocking handlers run on its event loops (JDK 21+), as the
   * launcher jar's manifest has it.
   */
  private static final List<String> NATIVE_ACCESS = Runtime.version().feature() >= 22
      ? List.of("--enable-native-access=ALL-UNNAMED", "--add-opens", "java.base/java.lang=ALL-UNNAMED")
      : List.of("--add-opens", "java.base/java.lang=ALL-UNNAMED");

  static final String HANDLE = "Portcullis handle";
  static final String ON_LOOP = "Portcullis handleOnLoop";
  /**
   * The peer users pick for blocking code: a JDK {@code ServerSocket} with one virtual thread per
   * connection (Helidon's model). JDK 17 has no virtual threads: the server runs a platform thread
   * per connection there, and its row says so.
   */
  static final String PEER = Runtime.version().feature() >= 21 ? "ServerSocket VT" : "ServerSocket threads";
  /** The workloads the peer runs in: the ones a blocking handler serves (no deny storm, no kernel filter). */
  static final List<String> PEER_WORKLOADS = List.of("W1", "W3-64", "W3-16K", "W4");

  static final List<ServerKind> SERVERS = List.of(
      new ServerKind("C", false, null),
      new ServerKind("JDK NIO", true, "dev.portcullis.bench.servers.NioServer"),
      new ServerKind("Netty", true, "dev.portcullis.bench.servers.NettyServer"),
      // The headline: what users write first, handle(conn -> ...) on the default executor.
      new ServerKind(HANDLE, true, "dev.portcullis.bench.servers.PortcullisServer", List.of("--style", "threads")),
      // The tuned path beside it: callbacks on the event loop.
      new ServerKind(ON_LOOP, true, "dev.portcullis.bench.servers.PortcullisServer"),
      new ServerKind(PEER, true, "dev.portcullis.bench.servers.ServerSocketServer"));

  static final String NETTY_PLAIN = "Netty plain";
  static final String NETTY_FILTER = "Netty IpSubnetFilter";
  static final String NETTY_ADAPTER = "Netty + Portcullis adapter";
  static final String NETTY_ADAPTER_CHILD = "Netty + adapter in child pipeline";
  static final String JETTY = "Jetty";
  static final String JETTY_GUARD = "Jetty + JettyGuard";
  static final String JETTY_KERNEL = "Jetty + KernelGuard";

  /**
   * The adapter group's servers: the Netty epoll server with no filter (the floor; the policy is
   * ignored), with its own {@code IpSubnetFilter}, with {@code PortcullisNetty} on the server channel
   * and with it in each child pipeline instead; the Jetty 12
   * server bare, with {@code JettyGuard} and with {@code KernelGuard} on its listening socket.
   */
  static final List<ServerKind> ADAPTER_SERVERS = List.of(
      new ServerKind(NETTY_PLAIN, true, "dev.portcullis.bench.servers.NettyServer", List.of("--filter", "none")),
      new ServerKind(NETTY_FILTER, true, "dev.portcullis.bench.servers.NettyServer", List.of("--filter", "ipsubnet")),
      new ServerKind(NETTY_ADAPTER, true, "dev.portcullis.bench.servers.NettyServer",
          List.of("--filter", "portcullis")),
      new ServerKind(NETTY_ADAPTER_CHILD, true, "dev.portcullis.bench.servers.NettyServer",
          List.of("--filter", "portcullis-child")),
      new ServerKind(JETTY, true, "dev.portcullis.bench.servers.JettyServer", List.of("--filter", "none")),
      new ServerKind(JETTY_GUARD, true, "dev.portcullis.bench.servers.JettyServer", List.of("--filter", "guard")),
      new ServerKind(JETTY_KERNEL, true, "dev.portcullis.bench.servers.JettyServer", List.of("--filter", "kernel")));

  /** One workload of the adapter group and the servers (by name) it runs. */
  record AdapterWorkload(Workload workload, List<String> servers) {}

  /**
   * The adapter group. W1-ADAPT: churn with 100,000 rules, every server but the kernel-guarded one
   * (with the allow policy it would only add a filter that lets everyone through). W2-ADAPT: W2's
   * deny storm, the servers that deny in the JVM (a server with no filter would answer the denied
   * clients). W2-KG-ADAPT: the same policy with {@code KernelGuard} on Jetty's socket, the {@code
   * drop} load (denied SYNs dropped in the kernel).
   */
  static final List<AdapterWorkload> ADAPTER_WORKLOADS = List.of(
      new AdapterWorkload(new Workload("W1-ADAPT", "connection churn, 100,000 rules, adapters", "churn", false,
          List.of("churn", "--concurrency", "32", "--from-net", "127.0.1")),
          List.of(NETTY_PLAIN, NETTY_FILTER, NETTY_ADAPTER, NETTY_ADAPTER_CHILD, JETTY, JETTY_GUARD)),
      new AdapterWorkload(new Workload("W2-ADAPT", "deny storm, 100,000 rules, adapters", "churn", true,
          List.of("deny", "--concurrency", "32", "--from-net", "127.0.2")),
          List.of(NETTY_FILTER, NETTY_ADAPTER, NETTY_ADAPTER_CHILD, JETTY_GUARD)),
      new AdapterWorkload(new Workload("W2-KG-ADAPT", "deny storm, 100,000 rules, KernelGuard on Jetty's socket (SYNs"
          + " dropped)", "churn", true, List.of("drop", "--concurrency", "32", "--from-net", "127.0.2")),
          List.of(JETTY_KERNEL)));

  static final List<Workload> WORKLOADS = List.of(
      new Workload("W1", "connection churn, 100,000 rules", "churn", false,
          List.of("churn", "--concurrency", "32", "--from-net", "127.0.1")),
      new Workload("W2", "deny storm, 100,000 rules", "churn", true,
          List.of("deny", "--concurrency", "32", "--from-net", "127.0.2")),
      new Workload("W2-KF", "deny storm, 100,000 rules, Portcullis kernelFilter() in eBPF (SYNs dropped)", "churn",
          "deny", List.of("drop", "--concurrency", "32", "--from-net", "127.0.2"), "true", List.of()),
      new Workload("W2-KF6", "deny storm from ::1, 100,000 IPv6 rules, Portcullis kernelFilter() in eBPF (SYNs"
          + " dropped)", "churn", "deny6", List.of("drop", "--concurrency", "32", "--from-net", "::1"), "true",
          List.of("--bind", "::1")),
      new Workload("W2-KF-classic", "deny storm, 400 rules, Portcullis kernelFilter() in classic BPF (SYNs dropped)",
          "churn", "deny-kf", List.of("drop", "--concurrency", "32", "--from-net", "127.0.2"), "classic", List.of()),
      new Workload("W3-64", "echo, 16 connections, 64 B", "echo", false,
          List.of("echo", "--conns", "16", "--size", "64")),
      new Workload("W3-16K", "echo, 16 connections, 16 KiB", "echo", false,
          List.of("echo", "--conns", "16", "--size", "16384")));

  public static void main(String[] args) throws Exception {
    BenchSuite suite = new BenchSuite();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--runs" -> suite.runs = Integer.parseInt(args[++i]);
        case "--warmup" -> suite.warmup = Integer.parseInt(args[++i]);
        case "--settle" -> suite.settleMillis = Integer.parseInt(args[++i]);
        case "--seconds" -> suite.seconds = Integer.parseInt(args[++i]);
        case "--idle-conns" -> suite.idleConns = Integer.parseInt(args[++i]);
        case "--skip-jmh" -> suite.jmh = false;
        case "--only" -> suite.only = List.of(args[++i].split(","));
        case "--servers" -> suite.servers = List.of(args[++i].split(","));
        case "--loops" -> suite.loops = Integer.parseInt(args[++i]);
        case "--quick" -> {
          suite.runs = 1;
          suite.warmup = 1;
          suite.seconds = 2;
          suite.idleConns = 2000;
        }
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    suite.run();
  }

  private boolean selected(String id) {
    return only.isEmpty() || only.contains(id);
  }

  /**
   * Whether server {@code s} runs in workload {@code id}: named by {@code --servers} (or none named),
   * and, for the peer, a workload it runs in. {@code ServerSocket VT} names the peer on every JDK,
   * so one command line serves JDK 17 and 25.
   */
  private boolean wanted(ServerKind s, String id) {
    if (s.name().equals(PEER) && !PEER_WORKLOADS.contains(id)) {
      return false;
    }
    return servers.isEmpty() || servers.contains(s.name()) || s.name().equals(PEER) && servers.contains("ServerSocket VT");
  }

  /** The adapter group runs only when named: {@code --only W1-ADAPT,...} or {@code --only ADAPT}. */
  private boolean selectedAdapter(String id) {
    return only.contains(id) || only.contains("ADAPT");
  }

  private void run() throws Exception {
    Files.createDirectories(out);
    Files.createDirectories(cDir);
    for (String program : List.of("cserver", "loadgen", "mechserver")) {
      Processes.run(List.of("gcc", "-O2", "-Wall", "-pthread", "-o", cDir.resolve(program).toString(),
          bench.resolve("src/main/c/" + program + ".c").toString()));
    }
    allowPolicy = Policies.allowLoopback(out.resolve("policies"));
    denyPolicy = Policies.denyStorm(out.resolve("policies"));
    kernelFilterPolicy = Policies.denyStormForKernelFilter(out.resolve("policies"));
    ipv6DenyPolicy = Policies.denyStormIpv6(out.resolve("policies"));

    List<Measurement> rows = new ArrayList<>();
    for (Workload w : WORKLOADS) {
      if (!selected(w.id())) {
        continue;
      }
      for (int r = 0; r < runs; r++) {
        for (int k = 0; k < SERVERS.size(); k++) {
          ServerKind s = SERVERS.get((k + r) % SERVERS.size()); // interleave: rotate the order each run
          if (!wanted(s, w.id())) {
            continue;
          }
          if (w.filtered() && !s.name().equals(ON_LOOP)) {
            continue; // only Portcullis compiles its policy into the kernel
          }
          Measurement m = measure(w, s, r + 1);
          System.out.printf("%-7s %-23s run %d: %,.0f ops/s, %.2f us CPU/op, errors %d%n", w.id(), s.name(),
              r + 1, m.opsPerSecond(), m.cpuMicrosPerOp(), m.errors());
          rows.add(m);
        }
      }
    }
    List<Measurement> adapterRows = new ArrayList<>();
    for (AdapterWorkload a : ADAPTER_WORKLOADS) {
      if (!selectedAdapter(a.workload().id())) {
        continue;
      }
      List<String> names = a.servers().stream().filter(n -> servers.isEmpty() || servers.contains(n)).toList();
      for (int r = 0; r < runs; r++) {
        for (int k = 0; k < names.size(); k++) {
          String name = names.get((k + r) % names.size()); // interleave: rotate the order each run
          ServerKind s = ADAPTER_SERVERS.stream().filter(x -> x.name().equals(name)).findFirst().orElseThrow();
          Measurement m = measure(a.workload(), s, r + 1);
          System.out.printf("%-11s %-26s run %d: %,.0f ops/s, %.2f us CPU/op, errors %d%n", a.workload().id(),
              s.name(), r + 1, m.opsPerSecond(), m.cpuMicrosPerOp(), m.errors());
          adapterRows.add(m);
        }
      }
    }
    List<IdleMeasurement> idle = new ArrayList<>();
    if (selected("W4")) {
      for (ServerKind s : SERVERS) {
        if (!wanted(s, "W4")) {
          continue;
        }
        IdleMeasurement m = measureIdle(s);
        System.out.println("W4      " + m);
        idle.add(m);
      }
    }
    List<LoopsMeasurement> loopRows = new ArrayList<>();
    if (selected("W6")) {
      loopRows = measureLoops();
    }
    List<String[]> jmhRows = List.of();
    if (jmh && selected("W5")) {
      jmhRows = runJmh();
    }
    Report.write(out, rows, adapterRows, idle, loopRows, jmhRows, runs, warmup, settleMillis, seconds, idleConns);
    System.out.println("results: " + out.resolve("results.md"));
  }

  private List<String> serverCommand(ServerKind s, String mode, Path policy) {
    List<String> c = new ArrayList<>();
    if (s.java()) {
      c.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xms1g", "-Xmx1g",
          "-XX:+UseParallelGC"));
      c.addAll(NATIVE_ACCESS);
      c.addAll(List.of("-cp", jar.toString(), s.mainClass()));
    } else {
      c.add(cDir.resolve("cserver").toString());
    }
    c.addAll(List.of("--port", "0", "--mode", mode, "--policy", policy.toString()));
    c.addAll(s.args());
    return Processes.pinned(1, c);
  }

  private List<String> load(List<String> args, int port, int secs) {
    List<String> c = new ArrayList<>();
    c.add(cDir.resolve("loadgen").toString());
    c.add(args.get(0));
    c.addAll(List.of("--port", String.valueOf(port), "--seconds", String.valueOf(secs)));
    c.addAll(args.subList(1, args.size()));
    return Processes.pinned(0, c);
  }

  /** One measured run of one workload against one fresh server. */
  record Measurement(String workload, String server, int run, Result result, double cpuSeconds) {
    double opsPerSecond() {
      return result.opsPerSecond();
    }

    double cpuMicrosPerOp() {
      return result.ops() == 0 ? Double.NaN : cpuSeconds * 1e6 / result.ops();
    }

    long errors() {
      return result.errors();
    }
  }

  private Measurement measure(Workload w, ServerKind s, int run) throws Exception {
    Path policy = switch (w.policy()) {
      case "deny" -> denyPolicy;
      case "deny-kf" -> kernelFilterPolicy;
      case "deny6" -> ipv6DenyPolicy;
      default -> allowPolicy;
    };
    List<String> command = serverCommand(s, w.mode(), policy);
    if (w.filtered()) {
      command.addAll(List.of("--kernel-filter", w.kernelFilter()));
    }
    command.addAll(w.serverArgs());
    try (Running server = Processes.startServer(command)) {
      Processes.runLoad(load(w.load(), server.port(), warmup));
      Thread.sleep(settleMillis);
      long before = server.cpuTicks();
      Result r = Processes.runLoad(load(w.load(), server.port(), seconds));
      long after = server.cpuTicks();
      return new Measurement(w.id(), s.name(), run, r, (after - before) / (double) CLK_TCK);
    }
  }

  /** W4: idle connections past the handshake, and W3 (64 B) running beside them. */
  record IdleMeasurement(String server, int connections, long heapBefore, long heapAfter, long rssBefore,
      long rssAfter, int threadsBefore, int threadsAfter, double idleCpuPercent, double echoAlone,
      double echoWithIdle, long idleErrors) {
    double heapPerConnection() {
      return heapBefore < 0 ? Double.NaN : (heapAfter - heapBefore) / (double) connections;
    }

    double rssPerConnection() {
      return (rssAfter - rssBefore) * 1024.0 / connections;
    }

    double slowdownPercent() {
      return (1 - echoWithIdle / echoAlone) * 100;
    }
  }

  private IdleMeasurement measureIdle(ServerKind s) throws Exception {
    List<String> echo = WORKLOADS.stream().filter(w -> w.id().equals("W3-64")).findFirst().orElseThrow().load();
    try (Running server = Processes.startServer(serverCommand(s, "echo", allowPolicy))) {
      Processes.runLoad(load(echo, server.port(), warmup));
      Thread.sleep(settleMillis);
      double alone = Processes.runLoad(load(echo, server.port(), seconds)).opsPerSecond();
      if (s.java()) {
        server.javaStats(); // the first full GC after start-up leaves garbage behind; settle first
      }
      long[] before = s.java() ? server.javaStats() : new long[] {-1, server.threads()};
      long rssBefore = rssKb(server);
      int idleSeconds = 1 + 3 + seconds + 8;
      Process idle = new ProcessBuilder(load(List.of("idle", "--conns", String.valueOf(idleConns),
          "--from-net", "127.0.3"), server.port(), idleSeconds)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
      BufferedReader idleOut = new BufferedReader(new InputStreamReader(idle.getInputStream(), StandardCharsets.UTF_8));
      String line;
      while ((line = idleOut.readLine()) != null && !line.startsWith("idle-ready")) {
        // wait until every idle connection has completed the handshake
      }
      Thread.sleep(1000);
      long c0 = server.cpuTicks();
      Thread.sleep(3000);
      long c1 = server.cpuTicks();
      double idleCpu = (c1 - c0) / (double) CLK_TCK / 3.0 * 100;
      long[] after = s.java() ? server.javaStats() : new long[] {-1, server.threads()};
      long rssAfter = rssKb(server);
      double withIdle = Processes.runLoad(load(echo, server.port(), seconds)).opsPerSecond();
      long idleErrors = 0;
      while ((line = idleOut.readLine()) != null) {
        if (line.startsWith("result ")) {
          idleErrors = Processes.parse(line).errors();
        }
      }
      idle.waitFor(30, TimeUnit.SECONDS);
      idle.destroyForcibly();
      int threadsBefore = (int) before[1];
      int threadsAfter = (int) after[1];
      return new IdleMeasurement(s.name(), idleConns, before[0], after[0], rssBefore, rssAfter, threadsBefore,
          threadsAfter, idleCpu, alone, withIdle, idleErrors);
    }
  }

  private static long rssKb(Running server) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/" + server.process().pid() + "/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    return -1;
  }

  /**
   * W6, one run: {@code loops} event loops, neither the server nor the load pinned (the loops need
   * every CPU). {@code perLoop} is what each loop accepted; {@code ops} churn exchanges or TLS
   * handshakes.
   */
  record LoopsMeasurement(String workload, int loops, int run, double opsPerSecond, double cpuMicrosPerOp,
      long[] perLoop) {
    /** The most loaded loop's count over the least loaded one's. */
    double spread() {
      long max = java.util.Arrays.stream(perLoop).max().orElse(0);
      long min = java.util.Arrays.stream(perLoop).min().orElse(0);
      return min == 0 ? Double.POSITIVE_INFINITY : max / (double) min;
    }
  }

  /** W6: the default handler style on 1 and on {@link #loops} event loops, churn and TLS handshakes. */
  private List<LoopsMeasurement> measureLoops() throws Exception {
    List<LoopsMeasurement> result = new ArrayList<>();
    Path pki = out.resolve("pki");
    Files.createDirectories(pki);
    Processes.run(List.of("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", pki.resolve("key.pem").toString(), "-out", pki.resolve("cert.pem").toString(), "-days", "2",
        "-subj", "/CN=localhost"));
    List<String> churn = WORKLOADS.get(0).load();
    for (int r = 0; r < runs; r++) {
      for (int n : r % 2 == 0 ? List.of(1, loops) : List.of(loops, 1)) {
        List<String> command = loopsServer("churn", n, List.of());
        try (Running server = Processes.startServer(command)) {
          Processes.runLoad(unpinnedLoad(churn, server.port(), warmup));
          Thread.sleep(settleMillis);
          long before = server.cpuTicks();
          Result res = Processes.runLoad(unpinnedLoad(churn, server.port(), seconds));
          long after = server.cpuTicks();
          result.add(new LoopsMeasurement("W6-churn", n, r + 1, res.opsPerSecond(),
              (after - before) / (double) CLK_TCK * 1e6 / res.ops(), server.perLoop()));
        }
        command = loopsServer("tls", n, List.of("--tls-cert", pki.resolve("cert.pem").toString(), "--tls-key",
            pki.resolve("key.pem").toString()));
        try (Running server = Processes.startServer(command)) {
          tlsHandshakes(server.port(), warmup);
          Thread.sleep(settleMillis);
          long before = server.cpuTicks();
          double[] hs = tlsHandshakes(server.port(), seconds);
          long after = server.cpuTicks();
          result.add(new LoopsMeasurement("W6-tls", n, r + 1, hs[0] / hs[1],
              (after - before) / (double) CLK_TCK * 1e6 / hs[0], server.perLoop()));
        }
        System.out.printf("W6      %d loop(s) run %d: %s%n", n, r + 1, result.subList(result.size() - 2,
            result.size()).stream().map(m -> String.format(java.util.Locale.ROOT, "%s %,.0f ops/s %.2f us CPU/op "
                + "spread %.2f", m.workload(), m.opsPerSecond(), m.cpuMicrosPerOp(), m.spread())).toList());
      }
      // The kernel mechanisms alone, in C: one socket shared with EPOLLEXCLUSIVE (what Portcullis
      // does) against one SO_REUSEPORT socket per thread (nginx's reuseport).
      for (String mode : r % 2 == 0 ? List.of("exclusive", "reuseport") : List.of("reuseport", "exclusive")) {
        List<String> command = List.of(cDir.resolve("mechserver").toString(), "--port", "0", "--threads",
            String.valueOf(loops), "--mode", mode);
        try (Running server = Processes.startServer(command)) {
          Processes.runLoad(unpinnedLoad(churn, server.port(), warmup));
          long[] spreadBefore = server.perLoop();
          long before = server.cpuTicks();
          Result res = Processes.runLoad(unpinnedLoad(churn, server.port(), seconds));
          long after = server.cpuTicks();
          long[] spreadAfter = server.perLoop();
          for (int i = 0; i < spreadAfter.length; i++) {
            spreadAfter[i] -= spreadBefore[i];
          }
          LoopsMeasurement m = new LoopsMeasurement("W6-mech-" + mode, loops, r + 1, res.opsPerSecond(),
              (after - before) / (double) CLK_TCK * 1e6 / res.ops(), spreadAfter);
          result.add(m);
          System.out.printf(java.util.Locale.ROOT, "W6      C %s, %d threads, run %d: %,.0f ops/s %.2f us CPU/op "
              + "spread %.2f%n", mode, loops, r + 1, m.opsPerSecond(), m.cpuMicrosPerOp(), m.spread());
        }
      }
    }
    return result;
  }

  private List<String> loopsServer(String mode, int n, List<String> extra) {
    List<String> c = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xms1g", "-Xmx1g", "-XX:+UseParallelGC"));
    c.addAll(NATIVE_ACCESS);
    c.addAll(List.of("-cp", jar.toString(),
        "dev.portcullis.bench.servers.PortcullisServer", "--port", "0", "--mode", mode, "--policy",
        allowPolicy.toString(), "--style", "threads", "--loops", String.valueOf(n)));
    c.addAll(extra);
    return c;
  }

  private List<String> unpinnedLoad(List<String> args, int port, int secs) {
    List<String> c = new ArrayList<>();
    c.add(cDir.resolve("loadgen").toString());
    c.add(args.get(0));
    c.addAll(List.of("--port", String.valueOf(port), "--seconds", String.valueOf(secs)));
    c.addAll(args.subList(1, args.size()));
    return c;
  }

  /**
   * Full TLS handshakes for {@code secs} seconds from two {@code openssl s_time -new} clients at
   * once (each is one thread): {handshakes, seconds}.
   */
  private static double[] tlsHandshakes(int port, int secs) throws IOException, InterruptedException {
    List<Process> clients = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      clients.add(new ProcessBuilder("openssl", "s_time", "-connect", "127.0.0.1:" + port, "-new", "-time",
          String.valueOf(secs)).redirectErrorStream(true).start());
    }
    long total = 0;
    double seconds = 0;
    java.util.regex.Pattern p = java.util.regex.Pattern.compile("(\\d+) connections in (\\d+) real seconds");
    for (Process c : clients) {
      String text = new String(c.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!c.waitFor(secs + 30L, TimeUnit.SECONDS)) {
        c.destroyForcibly();
      }
      java.util.regex.Matcher m = p.matcher(text);
      if (!m.find()) {
        throw new IOException("openssl s_time said no count: " + text);
      }
      total += Long.parseLong(m.group(1));
      seconds = Math.max(seconds, Math.max(1, Long.parseLong(m.group(2))));
    }
    return new double[] {total, seconds};
  }

  private List<String[]> runJmh() throws Exception {
    Path csv = out.resolve("jmh.csv");
    Processes.run(Processes.pinned(1, List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", jar.toString(), "org.openjdk.jmh.Main", "Policy(Lookup|Build)Benchmark|KernelFilterUpdateBenchmark", "-rf", "csv", "-rff",
        csv.toString())));
    List<String[]> rows = new ArrayList<>();
    for (String line : Files.readAllLines(csv)) {
      rows.add(parseCsvLine(line));
    }
    return rows;
  }

  static String[] parseCsvLine(String line) {
    List<String> cells = new ArrayList<>();
    StringBuilder cell = new StringBuilder();
    boolean quoted = false;
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        cells.add(cell.toString());
        cell.setLength(0);
      } else {
        cell.append(c);
      }
    }
    cells.add(cell.toString());
    return cells.toArray(new String[0]);
  }

  /** Medians per workload and server, in run order of {@link #SERVERS}. */
  static Map<String, Map<String, double[]>> medians(List<Measurement> rows) {
    return medians(rows, WORKLOADS, SERVERS);
  }

  /** The adapter group's medians per workload and server, in the order of {@link #ADAPTER_SERVERS}. */
  static Map<String, Map<String, double[]>> adapterMedians(List<Measurement> rows) {
    return medians(rows, ADAPTER_WORKLOADS.stream().map(AdapterWorkload::workload).toList(), ADAPTER_SERVERS);
  }

  /**
   * {ops/s, server CPU µs/op, errors, bytes/s} medians per workload and server: every run of a
   * server on a workload counts.
   */
  static Map<String, Map<String, double[]>> medians(List<Measurement> rows, List<Workload> workloads,
      List<ServerKind> servers) {
    Map<String, Map<String, double[]>> result = new LinkedHashMap<>();
    for (Workload w : workloads) {
      Map<String, double[]> perServer = new LinkedHashMap<>();
      for (ServerKind s : servers) {
        List<Measurement> mine = rows.stream()
            .filter(m -> m.workload().equals(w.id()) && m.server().equals(s.name())).toList();
        if (mine.isEmpty()) {
          continue;
        }
        perServer.put(s.name(), new double[] {
            median(mine.stream().mapToDouble(Measurement::opsPerSecond).toArray()),
            median(mine.stream().mapToDouble(Measurement::cpuMicrosPerOp).toArray()),
            mine.stream().mapToLong(Measurement::errors).sum(),
            median(mine.stream().mapToDouble(m -> m.result().bytes() / m.result().seconds()).toArray())});
      }
      if (!perServer.isEmpty()) {
        result.put(w.id(), perServer);
      }
    }
    return result;
  }

  static double median(double[] values) {
    double[] v = values.clone();
    java.util.Arrays.sort(v);
    int n = v.length;
    return n == 0 ? Double.NaN : n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }
}
