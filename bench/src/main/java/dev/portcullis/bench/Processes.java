package dev.portcullis.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Starting, reading and measuring the server and load-generator processes. */
final class Processes {
  private Processes() {}

  /** A started server: its process, its port, and a line reader on its stdout. */
  record Running(Process process, int port, BufferedReader out, OutputStream in) implements AutoCloseable {
    /** utime + stime of the whole process (every thread), in clock ticks. */
    long cpuTicks() throws IOException {
      String stat = Files.readAllLines(Path.of("/proc/" + process.pid() + "/stat")).get(0);
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    /** Threads of the process, from /proc. */
    int threads() throws IOException {
      for (String line : Files.readAllLines(Path.of("/proc/" + process.pid() + "/status"))) {
        if (line.startsWith("Threads:")) {
          return Integer.parseInt(line.substring(8).strip());
        }
      }
      return -1;
    }

    /** Asks a Java server for {@code stats heap=B threads=N loops=...}; returns {heap, threads}. */
    long[] javaStats() throws IOException {
      String[] parts = statsLine();
      return new long[] {Long.parseLong(parts[1].substring(5)), Long.parseLong(parts[2].substring(8))};
    }

    /** A Portcullis server's connections accepted per event loop (from its stats line). */
    long[] perLoop() throws IOException {
      String[] parts = statsLine();
      String loops = parts.length > 3 ? parts[3].substring(6) : "";
      return loops.isEmpty() ? new long[0] : java.util.Arrays.stream(loops.split(",")).mapToLong(Long::parseLong)
          .toArray();
    }

    private String[] statsLine() throws IOException {
      in.write("stats\n".getBytes(StandardCharsets.US_ASCII));
      in.flush();
      String line;
      while ((line = out.readLine()) != null) {
        if (line.startsWith("stats ")) {
          return line.split(" ");
        }
      }
      throw new IOException("server exited before answering stats");
    }

    @Override
    public void close() throws InterruptedException {
      process.destroy();
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }

  static Running startServer(List<String> command) throws IOException {
    Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    String line = out.readLine();
    if (line == null || !line.startsWith("ready ")) {
      p.destroyForcibly();
      throw new IOException("server did not start: " + String.join(" ", command) + " said " + line);
    }
    return new Running(p, Integer.parseInt(line.substring(6).strip()), out, p.getOutputStream());
  }

  /** The parsed {@code result ops=N seconds=S errors=E ...} line of a load-generator run. */
  record Result(long ops, double seconds, long errors, long bytes) {
    double opsPerSecond() {
      return ops / seconds;
    }
  }

  static Result runLoad(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String result = null;
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = out.readLine()) != null) {
        if (line.startsWith("result ")) {
          result = line;
        }
      }
    }
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
    }
    if (result == null) {
      throw new IOException("load generator printed no result: " + String.join(" ", command));
    }
    return parse(result);
  }

  static Result parse(String line) {
    long ops = 0;
    double seconds = 0;
    long errors = 0;
    long bytes = 0;
    for (String kv : line.substring(7).split(" ")) {
      String[] p = kv.split("=", 2);
      if (p.length != 2) {
        continue;
      }
      switch (p[0]) {
        case "ops" -> ops = Long.parseLong(p[1]);
        case "seconds" -> seconds = Double.parseDouble(p[1]);
        case "errors" -> errors = Long.parseLong(p[1]);
        case "bytes" -> bytes = Long.parseLong(p[1]);
        default -> { }
      }
    }
    return new Result(ops, seconds, errors, bytes);
  }

  static List<String> pinned(int cpu, List<String> command) {
    List<String> c = new ArrayList<>();
    if (Runtime.getRuntime().availableProcessors() >= 2 && Files.isExecutable(Path.of("/usr/bin/taskset"))) {
      c.addAll(List.of("taskset", "-c", String.valueOf(cpu)));
    }
    c.addAll(command);
    return c;
  }

  static void run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).inheritIO().start();
    if (p.waitFor() != 0) {
      throw new IOException("failed: " + String.join(" ", command));
    }
  }
}
