package dev.portcullis.bench;

import dev.portcullis.bench.BenchSuite.IdleMeasurement;
import dev.portcullis.bench.BenchSuite.LoopsMeasurement;
import dev.portcullis.bench.BenchSuite.Measurement;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Writes results.csv (every run), results.md (medians, ratios, targets) and results.svg (the chart). */
final class Report {
  private Report() {}

  private static final String[] COLORS = {"#6b7280", "#f59e0b", "#3b82f6", "#10b981", "#8b5cf6", "#ef4444"};

  static void write(Path out, List<Measurement> rows, List<Measurement> adapterRows, List<IdleMeasurement> idle, List<LoopsMeasurement> loops,
      List<String[]> jmh, int runs, int warmup, int settleMillis, int seconds, int idleConns) throws IOException {
    StringBuilder csv = new StringBuilder("workload,server,run,ops,seconds,ops_per_second,server_cpu_us_per_op,errors,bytes\n");
    List<Measurement> all = new java.util.ArrayList<>(rows);
    all.addAll(adapterRows);
    for (Measurement m : all) {
      csv.append(String.format(Locale.ROOT, "%s,%s,%d,%d,%.3f,%.1f,%.3f,%d,%d%n", m.workload(), m.server(), m.run(),
          m.result().ops(), m.result().seconds(), m.opsPerSecond(), m.cpuMicrosPerOp(), m.errors(), m.result().bytes()));
    }
    for (IdleMeasurement i : idle) {
      csv.append(String.format(Locale.ROOT, "W4,%s,1,%d,,,,%d,%n", i.server(), i.connections(), i.idleErrors()));
    }
    for (LoopsMeasurement l : loops) {
      csv.append(String.format(Locale.ROOT, "%s,Portcullis handle %d loop(s),%d,,,%.1f,%.3f,,%n", l.workload(),
          l.loops(), l.run(), l.opsPerSecond(), l.cpuMicrosPerOp()));
    }
    Files.writeString(out.resolve("results.csv"), csv, StandardCharsets.UTF_8);

    Map<String, Map<String, double[]>> med = BenchSuite.medians(rows);
    StringBuilder md = new StringBuilder();
    md.append("# Benchmark results\n\n");
    md.append(String.format(Locale.ROOT, "Measured %s on %s (%d CPUs), %s, JDK %s. Each figure is the median of %d "
        + "run(s) of %d s after a %d s warm-up and %d ms idle, each on a fresh server process pinned to CPU 1 with "
        + "the C load generator on CPU 0. Server CPU is utime+stime of the whole server process (every thread) per "
        + "operation. `Portcullis handle` ran %s.%n%n", LocalDate.now(), cpuModel(),
        Runtime.getRuntime().availableProcessors(), kernel(), System.getProperty("java.version"), runs, seconds,
        warmup, settleMillis, handleMode()));
    for (BenchSuite.Workload w : BenchSuite.WORKLOADS) {
      Map<String, double[]> perServer = med.get(w.id());
      if (perServer == null) {
        continue;
      }
      double cCpu = perServer.containsKey("C") ? perServer.get("C")[1] : Double.NaN;
      double nettyCpu = perServer.containsKey("Netty") ? perServer.get("Netty")[1] : Double.NaN;
      double cOps = perServer.containsKey("C") ? perServer.get("C")[0] : Double.NaN;
      boolean bulk = w.id().equals("W3-16K");
      md.append("## ").append(w.id()).append(": ").append(w.title()).append("\n\n");
      md.append("| server | ops/s | ").append(bulk ? "GB/s | " : "").append(
          "server CPU µs/op | CPU vs C | CPU vs Netty | ops/s vs C | errors |\n");
      md.append("|---|---:|").append(bulk ? "---:|" : "").append("---:|---:|---:|---:|---:|\n");
      for (Map.Entry<String, double[]> e : perServer.entrySet()) {
        double[] v = e.getValue();
        md.append(String.format(Locale.ROOT, "| %s | %,.0f | %s%.2f | %s | %s | %s | %d |%n", e.getKey(), v[0],
            bulk ? String.format(Locale.ROOT, "%.2f | ", v[3] / 1e9) : "", v[1], ratio(v[1], cCpu),
            ratio(v[1], nettyCpu), ratio(v[0], cOps), (long) v[2]));
      }
      if (w.filtered()) {
        md.append("\nOnly Portcullis compiles its policy into the kernel. An op is a SYN from a denied address that "
            + "got no answer within 20 ms; the rate is bounded by the load generator's 32 slots waiting that long, "
            + "not by the server. Compare the server CPU per op with W2's per denied connection.\n\n");
        continue;
      }
      md.append('\n').append(target(w.id(), perServer)).append("\n\n");
    }
    if (!adapterRows.isEmpty()) {
      md.append(adapterSection(BenchSuite.adapterMedians(adapterRows)));
    }
    if (!idle.isEmpty()) {
      md.append(String.format(Locale.ROOT, "## W4: %,d idle connections past the handshake, plus W3 (64 B)%n%n",
          idleConns));
      md.append("| server | heap B/conn | RSS B/conn | threads before → after | idle CPU % | W3 alone ops/s | W3 with idle ops/s | slowdown % | idle errors |\n");
      md.append("|---|---:|---:|---|---:|---:|---:|---:|---:|\n");
      for (IdleMeasurement i : idle) {
        md.append(String.format(Locale.ROOT, "| %s | %s | %.0f | %d → %d | %.2f | %,.0f | %,.0f | %.1f | %d |%n",
            i.server(), Double.isNaN(i.heapPerConnection()) ? "n/a" : String.format(Locale.ROOT, "%.0f",
                i.heapPerConnection()), i.rssPerConnection(), i.threadsBefore(), i.threadsAfter(), i.idleCpuPercent(),
            i.echoAlone(), i.echoWithIdle(), i.slowdownPercent(), i.idleErrors()));
      }
      md.append("\nTargets: `handle`: threads constant on JDK 21+, ≤ 2 KiB heap per connection, idle CPU zero; "
          + "`handleOnLoop`: ≤ 1 KiB heap per connection, threads constant, idle CPU zero, W3 within 10 %. The bench's "
          + "`handle` echoes with `InputStream.transferTo`, whose buffer (16 KiB on JDK 21+, 8 KiB on 17) each "
          + "connection holds while it waits.\n\n");
    }
    if (!loops.isEmpty()) {
      md.append(loopsSection(loops));
    }
    if (!jmh.isEmpty()) {
      md.append(jmhSection(jmh));
    }
    Files.writeString(out.resolve("results.md"), md, StandardCharsets.UTF_8);
    Files.writeString(out.resolve("results.svg"), chart(med), StandardCharsets.UTF_8);
  }

  /**
   * The adapter group's section of results.md: one table per workload with the CPU per operation
   * against plain Netty and Netty's {@code IpSubnetFilter} in the same run, and the two
   * verdicts: the Netty adapter costs less than {@code IpSubnetFilter} per connection (W1 and W2),
   * and {@code KernelGuard} makes a deny storm cost the guarded server nothing (its CPU per dropped
   * SYN at most 5 % of what {@code JettyGuard} spends per denied connection, which is 0 within the
   * clock tick the CPU time is read in).
   *
   * @param med {@link BenchSuite#adapterMedians} of the group's rows
   * @return the markdown
   */
  static String adapterSection(Map<String, Map<String, double[]>> med) {
    StringBuilder md = new StringBuilder("## Adapters: Portcullis in front of Netty and Jetty\n\n");
    for (BenchSuite.AdapterWorkload a : BenchSuite.ADAPTER_WORKLOADS) {
      Map<String, double[]> perServer = med.get(a.workload().id());
      if (perServer == null) {
        continue;
      }
      double plain = perServer.containsKey(BenchSuite.NETTY_PLAIN) ? perServer.get(BenchSuite.NETTY_PLAIN)[1]
          : Double.NaN;
      double filter = perServer.containsKey(BenchSuite.NETTY_FILTER) ? perServer.get(BenchSuite.NETTY_FILTER)[1]
          : Double.NaN;
      md.append("### ").append(a.workload().id()).append(": ").append(a.workload().title()).append("\n\n");
      md.append("| server | ops/s | server CPU µs/op | CPU vs Netty plain | CPU vs Netty IpSubnetFilter | errors |\n");
      md.append("|---|---:|---:|---:|---:|---:|\n");
      for (Map.Entry<String, double[]> e : perServer.entrySet()) {
        double[] v = e.getValue();
        md.append(String.format(Locale.ROOT, "| %s | %,.0f | %.2f | %s | %s | %d |%n", e.getKey(), v[0], v[1],
            ratio(v[1], plain), ratio(v[1], filter), (long) v[2]));
      }
      md.append('\n');
      double[] f = perServer.get(BenchSuite.NETTY_FILTER);
      double[] p = perServer.get(BenchSuite.NETTY_ADAPTER);
      if (f != null && p != null) {
        md.append(verdict("the Netty adapter's server CPU per connection < Netty `IpSubnetFilter`'s", p[1] < f[1],
            String.format(Locale.ROOT, "%.2f ×", p[1] / f[1]))).append("\n\n");
      }
    }
    double[] kernel = med.getOrDefault("W2-KG-ADAPT", Map.of()).get(BenchSuite.JETTY_KERNEL);
    double[] guard = med.getOrDefault("W2-ADAPT", Map.of()).get(BenchSuite.JETTY_GUARD);
    if (kernel != null && guard != null) {
      md.append("An op in W2-KG-ADAPT is a SYN from a denied address that got no answer within 20 ms (the rate is "
          + "bounded by the load generator, not the server); compare its server CPU per op with Jetty + JettyGuard's "
          + "per denied connection in W2-ADAPT.\n\n");
      md.append(verdict("`KernelGuard` makes a deny storm cost the guarded server nothing (CPU per dropped SYN ≤ "
          + "0.05 × Jetty + JettyGuard's per denied connection)", kernel[1] <= 0.05 * guard[1],
          String.format(Locale.ROOT, "%.3f µs against %.2f µs, %.3f ×", kernel[1], guard[1], kernel[1] / guard[1])))
          .append("\n\n");
    }
    return md.toString();
  }

  /** The W5 section of results.md, from JMH's CSV: the policy table, then the kernel filter's. */
  static String jmhSection(List<String[]> jmh) {
    return "## W5: policy lookup, build and kernel filter update (JMH)\n\n" + jmhTable(jmh)
        + "\nTarget: ≤ 50 ns at 100k rules, flat from 1k to 1M, faster than Netty `IpSubnetFilter` and the "
        + "IPAddress trie.\n" + kernelFilterTable(jmh);
  }

  /**
   * The kernel filter rows of JMH's CSV ({@code KernelFilterUpdateBenchmark}): how long {@code
   * updatePolicy} takes with the eBPF filter and without a kernel filter; empty if none ran.
   */
  static String kernelFilterTable(List<String[]> jmh) {
    List<String> header = java.util.Arrays.asList(jmh.get(0));
    int bench = header.indexOf("Benchmark");
    int score = header.indexOf("Score");
    int error = header.indexOf("Score Error (99.9%)");
    int family = header.indexOf("Param: family");
    int rules = header.indexOf("Param: rules");
    int filter = header.indexOf("Param: filter");
    Map<String, Map<String, String>> rows = new java.util.TreeMap<>();
    double worst = 0;
    for (String[] r : jmh.subList(1, jmh.size())) {
      if (filter < 0 || !r[bench].contains("KernelFilterUpdate")) {
        continue;
      }
      if (r[filter].equals("ebpf")) {
        worst = Math.max(worst, Double.parseDouble(r[score]));
      }
      rows.computeIfAbsent(r[family] + " " + String.format(Locale.ROOT, "%08d", Integer.parseInt(r[rules])),
          k -> new java.util.HashMap<>()).put(r[filter], String.format(Locale.ROOT, "%.1f ± %.1f",
              Double.parseDouble(r[score]), r[error].isEmpty() || r[error].equals("NaN") ? 0
                  : Double.parseDouble(r[error])));
    }
    if (rows.isEmpty()) {
      return "";
    }
    StringBuilder md = new StringBuilder("\n### Kernel filter update\n\n`RunningServer.updatePolicy` with nested"
        + " rules (`KernelFilterUpdateBenchmark`): with `kernelFilter()` in eBPF mode it returns once the kernel"
        + " decides by the new policy (a new generation of tries, switched in); without a kernel filter it is the"
        + " user-space swap alone.\n\n| family | rules | eBPF ms | no kernel filter ms |\n|---|---:|---:|---:|\n");
    for (Map.Entry<String, Map<String, String>> e : rows.entrySet()) {
      String[] k = e.getKey().split(" ");
      md.append("| ").append(k[0]).append(" | ").append(String.format(Locale.ROOT, "%,d", Integer.parseInt(k[1])))
          .append(" | ").append(e.getValue().getOrDefault("ebpf", "n/a")).append(" | ")
          .append(e.getValue().getOrDefault("none", "n/a")).append(" |\n");
    }
    md.append('\n').append(verdict("an update holds in the kernel within 100 ms of the call", worst <= 100,
        String.format(Locale.ROOT, "%.0f ms at most", worst))).append('\n');
    return md.toString();
  }

  /**
   * Re-renders the W5 section of a run's results.md from its jmh.csv, for a run made before the
   * report learned a table: {@code java -cp bench/target/portcullis-bench.jar
   * dev.portcullis.bench.Report DIR}.
   *
   * @param args the run's directory
   * @throws IOException if a file cannot be read or written
   */
  public static void main(String[] args) throws IOException {
    Path dir = Path.of(args[0]);
    List<String[]> jmh = new java.util.ArrayList<>();
    for (String line : Files.readAllLines(dir.resolve("jmh.csv"))) {
      jmh.add(BenchSuite.parseCsvLine(line));
    }
    String md = Files.readString(dir.resolve("results.md"));
    int at = md.indexOf("## W5:");
    Files.writeString(dir.resolve("results.md"), (at < 0 ? md : md.substring(0, at)) + jmhSection(jmh),
        StandardCharsets.UTF_8);
  }

  /** Pivots JMH's CSV: one row per family and rule count, lookup ns and build ms per implementation. */
  static String jmhTable(List<String[]> jmh) {
    String[] header = jmh.get(0);
    int bench = java.util.Arrays.asList(header).indexOf("Benchmark");
    int score = java.util.Arrays.asList(header).indexOf("Score");
    int error = java.util.Arrays.asList(header).indexOf("Score Error (99.9%)");
    int family = java.util.Arrays.asList(header).indexOf("Param: family");
    int rules = java.util.Arrays.asList(header).indexOf("Param: rules");
    String[] impls = {"portcullis", "netty", "ipaddressTrie"};
    Map<String, Map<String, String>> rows = new java.util.TreeMap<>();
    for (String[] r : jmh.subList(1, jmh.size())) {
      String name = r[bench];
      if (name.contains("KernelFilterUpdate")) {
        continue; // the kernel filter's rows have their own table
      }
      String method = name.substring(name.lastIndexOf('.') + 1);
      boolean build = name.contains("Build");
      String key = r[family] + " " + String.format(Locale.ROOT, "%08d", Integer.parseInt(r[rules]));
      String impl = java.util.Arrays.stream(impls).filter(method::startsWith).findFirst().orElse(method);
      rows.computeIfAbsent(key, k -> new java.util.HashMap<>()).put((build ? "build " : "lookup ") + impl,
          String.format(Locale.ROOT, "%.1f ± %.1f", Double.parseDouble(r[score]),
              r[error].isEmpty() || r[error].equals("NaN") ? 0 : Double.parseDouble(r[error])));
    }
    StringBuilder md = new StringBuilder("| family | rules | Portcullis ns | Netty ns | IPAddress ns | Portcullis build ms"
        + " | Netty build ms | IPAddress build ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (Map.Entry<String, Map<String, String>> e : rows.entrySet()) {
      String[] k = e.getKey().split(" ");
      md.append("| ").append(k[0]).append(" | ").append(String.format(Locale.ROOT, "%,d", Integer.parseInt(k[1])));
      for (String kind : new String[] {"lookup ", "build "}) {
        for (String impl : impls) {
          md.append(" | ").append(e.getValue().getOrDefault(kind + impl, "n/a"));
        }
      }
      md.append(" |\n");
    }
    md.append("\nNetty's figures come from a filter that drops nested rules when it is built (it keeps a few"
        + " thousand of the rules given, and disagrees with the rules on many addresses; see"
        + " `PolicyAgreement`), so they are the cost of a wrong answer.\n");
    return md.toString();
  }

  private static String target(String id, Map<String, double[]> s) {
    double[] h = s.get(BenchSuite.HANDLE);
    double[] l = s.get(BenchSuite.ON_LOOP);
    double[] c = s.get("C");
    double[] n = s.get("Netty");
    if (h == null || l == null || c == null || n == null) {
      return "";
    }
    boolean loopCarried = Runtime.version().feature() >= 21;
    String onLoop = switch (id) {
      case "W1" -> "\n" + verdict("`handleOnLoop` ≤ 1.05 × C", l[1] <= 1.05 * c[1],
          String.format(Locale.ROOT, "%.2f × C", l[1] / c[1]));
      case "W3-64" -> "\n" + verdict("`handleOnLoop` round trips/s ≥ 1.0 × C", l[0] >= c[0],
          String.format(Locale.ROOT, "%.2f × C", l[0] / c[0]));
      default -> "";
    };
    // The targets of `handle`: loop-carried virtual threads on JDK 21+, platform threads on 17.
    String handle = switch (id) {
      case "W1" -> loopCarried
          ? verdict("`handle` server CPU per connection ≤ 1.10 × C and ≤ 1.05 × `handleOnLoop`",
              h[1] <= 1.10 * c[1] && h[1] <= 1.05 * l[1], String.format(Locale.ROOT, "%.2f × C, %.2f × "
                  + "`handleOnLoop`", h[1] / c[1], h[1] / l[1]))
          : verdict("`handle` server CPU per connection ≤ 1.30 × C", h[1] <= 1.30 * c[1],
              String.format(Locale.ROOT, "%.2f × C", h[1] / c[1]));
      case "W2" -> verdict("server CPU per denied connection ≤ 1.10 × C", h[1] <= 1.10 * c[1],
          String.format(Locale.ROOT, "%.2f × C", h[1] / c[1]));
      case "W3-64" -> loopCarried
          ? verdict("`handle` round trips/s ≥ 0.95 × C and ≥ 1.15 × Netty, CPU per round trip ≤ 1.15 × C",
              h[0] >= 0.95 * c[0] && h[0] >= 1.15 * n[0] && h[1] <= 1.15 * c[1], String.format(Locale.ROOT,
                  "%.2f × C, %.2f × Netty, CPU %.2f × C", h[0] / c[0], h[0] / n[0], h[1] / c[1]))
          : verdict("`handle` round trips/s ≥ 0.85 × C", h[0] >= 0.85 * c[0],
              String.format(Locale.ROOT, "%.2f × C", h[0] / c[0]));
      default -> loopCarried
          ? verdict("`handle` round trips/s ≥ 0.90 × C", h[0] >= 0.90 * c[0],
              String.format(Locale.ROOT, "%.2f × C", h[0] / c[0]))
          : verdict("`handle` round trips/s ≥ 0.80 × C", h[0] >= 0.80 * c[0],
              String.format(Locale.ROOT, "%.2f × C", h[0] / c[0]));
    };
    return handle + onLoop;
  }

  /**
   * How the suite's {@code handle} server runs its handlers: it always gets {@code --add-opens
   * java.base/java.lang}, so on JDK 21+ they are virtual threads carried by the event loops (the
   * server says so on stderr: {@code portcullis handler mode LOOP_CARRIER}).
   */
  private static String handleMode() {
    return Runtime.version().feature() >= 21
        ? "with its handlers as virtual threads carried by the event loop (`LOOP_CARRIER`)"
        : "with a platform thread per handler (`PLATFORM`; JDK 17 has no virtual threads)";
  }

  /** {ops/s, CPU µs/op, spread} medians of one W6 workload (any loop count), or null. */
  private static double[] medianOf(List<LoopsMeasurement> loops, String workload) {
    List<LoopsMeasurement> mine = loops.stream().filter(m -> m.workload().equals(workload)).toList();
    if (mine.isEmpty()) {
      return null;
    }
    return new double[] {BenchSuite.median(mine.stream().mapToDouble(LoopsMeasurement::opsPerSecond).toArray()),
        BenchSuite.median(mine.stream().mapToDouble(LoopsMeasurement::cpuMicrosPerOp).toArray()),
        BenchSuite.median(mine.stream().mapToDouble(LoopsMeasurement::spread).toArray())};
  }

  /** W6: medians per workload and loop count, and the verdicts against one loop. */
  static String loopsSection(List<LoopsMeasurement> loops) {
    StringBuilder md = new StringBuilder("## W6: event loops, `handle`, 1 loop and more\n\n");
    md.append("Neither the server nor the load generator is pinned: the loops need every CPU, and the load "
        + "shares them. This machine has " + Runtime.getRuntime().availableProcessors() + " CPUs; scaling beyond "
        + "that was not measured here (`bench/run.sh --only W6 --loops N` on a bigger machine).\n\n");
    md.append("| workload | loops | ops/s | server CPU µs/op | CPU vs 1 loop | ops/s vs 1 loop | accepted per loop "
        + "(max/min) |\n|---|---:|---:|---:|---:|---:|---|\n");
    StringBuilder verdicts = new StringBuilder();
    for (String w : List.of("W6-churn", "W6-tls", "W6-mech-exclusive", "W6-mech-reuseport")) {
      Map<Integer, double[]> med = new java.util.TreeMap<>();
      Map<Integer, String> spreads = new java.util.TreeMap<>();
      for (int n : loops.stream().filter(m -> m.workload().equals(w)).map(LoopsMeasurement::loops).distinct()
          .toList()) {
        List<LoopsMeasurement> mine = loops.stream().filter(m -> m.workload().equals(w) && m.loops() == n).toList();
        double spread = BenchSuite.median(mine.stream().mapToDouble(LoopsMeasurement::spread).toArray());
        med.put(n, new double[] {BenchSuite.median(mine.stream().mapToDouble(LoopsMeasurement::opsPerSecond).toArray()),
            BenchSuite.median(mine.stream().mapToDouble(LoopsMeasurement::cpuMicrosPerOp).toArray()), spread});
        spreads.put(n, java.util.Arrays.toString(mine.get(mine.size() - 1).perLoop()) + (n > 1
            ? String.format(Locale.ROOT, " (%.2f)", spread) : ""));
      }
      double[] one = med.get(1);
      for (Map.Entry<Integer, double[]> e : med.entrySet()) {
        double[] v = e.getValue();
        md.append(String.format(Locale.ROOT, "| %s | %d | %,.0f | %.2f | %s | %s | %s |%n", w, e.getKey(), v[0], v[1],
            one == null ? "–" : String.format(Locale.ROOT, "%.2f", v[1] / one[1]),
            one == null ? "–" : String.format(Locale.ROOT, "%.2f", v[0] / one[0]), spreads.get(e.getKey())));
        if (one != null && e.getKey() > 1 && w.equals("W6-churn")) {
          verdicts.append(verdict(e.getKey() + " loops: server CPU per connection ≤ 1.05 × one loop",
              v[1] <= 1.05 * one[1], String.format(Locale.ROOT, "%.2f ×", v[1] / one[1]))).append('\n');
          verdicts.append(verdict("accepted connections spread max/min ≤ 1.25", v[2] <= 1.25,
              String.format(Locale.ROOT, "%.2f", v[2]))).append('\n');
        }
        if (one != null && e.getKey() > 1 && w.equals("W6-tls")) {
          verdicts.append(String.format(Locale.ROOT, "TLS handshakes/s with %d loops: %.2f × one loop (reported; two "
              + "`openssl s_time -new` clients share the CPUs with the server).%n", e.getKey(), v[0] / one[0]));
        }
      }
    }
    double[] exclusive = medianOf(loops, "W6-mech-exclusive");
    double[] reuseport = medianOf(loops, "W6-mech-reuseport");
    if (exclusive != null && reuseport != null) {
      verdicts.append(String.format(Locale.ROOT, "The kernel mechanisms alone (`W6-mech-*`: a C churn server, no policy, "
          + "its threads sharing one socket with `EPOLLEXCLUSIVE` or each with its own `SO_REUSEPORT` socket): "
          + "spread %.2f against %.2f, CPU per connection %.2f × (`SO_REUSEPORT` against `EPOLLEXCLUSIVE`).%n",
          exclusive[2], reuseport[2], reuseport[1] / exclusive[1]));
    }
    return md.append('\n').append(verdicts).append('\n').toString();
  }

  private static String verdict(String target, boolean met, String measured) {
    return "Target: " + target + ". Measured: " + measured + ": **" + (met ? "met" : "not met") + "**.";
  }

  private static String ratio(double a, double b) {
    return Double.isNaN(b) ? "–" : String.format(Locale.ROOT, "%.2f", a / b);
  }

  /** Grouped bars: server CPU per operation relative to C (C = 1), one group per workload. */
  static String chart(Map<String, Map<String, double[]>> all) {
    // Workloads without the C server (the kernel-filter row) have nothing to be relative to.
    Map<String, Map<String, double[]>> med = new java.util.LinkedHashMap<>(all);
    med.values().removeIf(g -> !g.containsKey("C"));
    int groups = med.size();
    int legend = 80 + BenchSuite.SERVERS.stream().mapToInt(s -> 24 + 7 * s.name().length()).sum();
    int width = Math.max(legend, 140 + groups * (34 * BenchSuite.SERVERS.size() + 36));
    int height = 360;
    int baseY = 300;
    double max = 1;
    for (Map<String, double[]> g : med.values()) {
      double c = g.containsKey("C") ? g.get("C")[1] : Double.NaN;
      for (double[] v : g.values()) {
        max = Math.max(max, v[1] / c);
      }
    }
    max = Math.ceil(max);
    double scale = 240 / max;
    StringBuilder svg = new StringBuilder();
    svg.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        + "font-family=\"sans-serif\" font-size=\"12\">%n", width, height));
    svg.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    svg.append("<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">Server CPU per operation, relative "
        + "to the C server (lower is better)</text>\n");
    for (int t = 0; t <= max; t++) {
      double y = baseY - t * scale;
      svg.append(String.format(Locale.ROOT, "<line x1=\"60\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
          + "<text x=\"30\" y=\"%.1f\">%d×</text>%n", y, width - 10, y, y + 4, t));
    }
    int gx = 80;
    for (Map.Entry<String, Map<String, double[]>> g : med.entrySet()) {
      double c = g.getValue().containsKey("C") ? g.getValue().get("C")[1] : Double.NaN;
      int i = 0;
      for (BenchSuite.ServerKind s : BenchSuite.SERVERS) {
        double[] v = g.getValue().get(s.name());
        if (v != null) {
          double r = v[1] / c;
          double h = r * scale;
          svg.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%.1f\" width=\"30\" height=\"%.1f\" fill=\"%s\"/>"
              + "<text x=\"%d\" y=\"%.1f\" font-size=\"10\">%.2f</text>%n", gx + i * 34, baseY - h, h, COLORS[i],
              gx + i * 34, baseY - h - 3, r));
        }
        i++;
      }
      svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text>%n", gx + 40, baseY + 18, g.getKey()));
      gx += 34 * BenchSuite.SERVERS.size() + 36;
    }
    int lx = 80;
    for (int i = 0; i < BenchSuite.SERVERS.size(); i++) {
      svg.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"335\" width=\"12\" height=\"12\" fill=\"%s\"/>"
          + "<text x=\"%d\" y=\"345\">%s</text>%n", lx, COLORS[i], lx + 16, BenchSuite.SERVERS.get(i).name()));
      lx += 24 + 7 * BenchSuite.SERVERS.get(i).name().length();
    }
    svg.append("</svg>\n");
    return svg.toString();
  }

  private static String cpuModel() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (line.startsWith("model name")) {
          return line.substring(line.indexOf(':') + 1).strip();
        }
      }
    } catch (IOException e) {
      // fall through
    }
    return System.getProperty("os.arch");
  }

  private static String kernel() {
    return System.getProperty("os.name") + " " + System.getProperty("os.version");
  }
}
