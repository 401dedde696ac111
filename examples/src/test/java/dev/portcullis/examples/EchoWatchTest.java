package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code echo --policy FILE --watch} in its own JVM: a policy file rewritten in place in two steps
 * is never applied half-written, and one renamed into place is picked up.
 */
@Timeout(120)
class EchoWatchTest {
  private static final String OLD = "allow 127.0.0.0/8\ndeny 127.0.1.0/24\ndeny 127.0.2.0/24\n";
  private static final String NEW_FIRST_LINE = "allow 127.0.0.0/8\n";
  private static final String NEW_REST = "deny 127.0.1.0/24\ndeny 127.0.3.0/24\n";

  /** Whether a connection from {@code from} gets its bytes echoed (false: refused or closed). */
  private static boolean served(String from, int port) {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      s.setSoTimeout(5000);
      s.getOutputStream().write("probe".getBytes(StandardCharsets.US_ASCII));
      s.shutdownOutput();
      return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).equals("probe");
    } catch (SocketException e) {
      return false;
    } catch (IOException e) {
      throw new AssertionError("probe from " + from + " failed: " + e, e);
    }
  }

  /** Polls {@code served(from)} until it is {@code want}; at most 100 tries, 100 ms apart. */
  private static boolean becomes(boolean want, String from, int port) throws InterruptedException {
    for (int i = 0; i < 100; i++) {
      if (served(from, port) == want) {
        return true;
      }
      Thread.sleep(100);
    }
    return false;
  }

  private static void awaitLine(BlockingQueue<String> lines, String containing) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (System.nanoTime() < deadline) {
      String l = lines.poll(100, TimeUnit.MILLISECONDS);
      if (l != null && l.contains(containing)) {
        return;
      }
    }
    throw new AssertionError("no line with '" + containing + "' on standard error");
  }

  /** A running {@code echo --watch}: its port and its standard error lines. */
  private record Echo(Process process, int port, BlockingQueue<String> errLines) {}

  private static Echo start(Path policy, String... more) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = new java.util.ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"),
        Launcher.class.getName(), "echo", "--port", "0", "--bind", "127.0.0.1", "--policy", policy.toString(),
        "--watch"));
    command.addAll(List.of(more));
    Process p = new ProcessBuilder(command).start();
    BlockingQueue<String> errLines = new LinkedBlockingQueue<>();
    Thread drain = new Thread(() -> new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))
        .lines().forEach(errLines::add));
    drain.setDaemon(true);
    drain.start();
    String first = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)).readLine();
    if (first == null || !first.startsWith("listening on 127.0.0.1:")) {
      p.destroyForcibly();
      throw new AssertionError("no ready line: " + first + " " + errLines);
    }
    return new Echo(p, Integer.parseInt(first.substring(first.lastIndexOf(':') + 1)), errLines);
  }

  private static void stop(Echo echo) throws InterruptedException {
    echo.process().destroy();
    if (!echo.process().waitFor(20, TimeUnit.SECONDS)) {
      echo.process().destroyForcibly();
    }
  }

  @Test
  void aPolicyRewrittenInPlaceInTwoStepsIsNeverAppliedHalfWritten(@TempDir Path dir) throws Exception {
    Path policy = Files.writeString(dir.resolve("echo.policy"), OLD);
    Echo echo = start(policy);
    try {
      int port = echo.port();
      assertFalse(served("127.0.1.9", port), "127.0.1.9 is denied by the old policy");
      assertFalse(served("127.0.2.9", port), "127.0.2.9 is denied by the old policy");
      assertTrue(served("127.0.3.9", port), "127.0.3.9 is allowed by the old policy");

      // 127.0.1.9 is denied by the old policy and by the new one: whatever is applied when, it must never be served.
      AtomicInteger probes = new AtomicInteger();
      AtomicInteger servedProbes = new AtomicInteger();
      AtomicBoolean done = new AtomicBoolean();
      Thread prober = new Thread(() -> {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!done.get() && probes.get() < 1000 && System.nanoTime() < deadline) {
          if (served("127.0.1.9", port)) {
            servedProbes.incrementAndGet();
          }
          probes.incrementAndGet();
          try {
            Thread.sleep(20);
          } catch (InterruptedException e) {
            return;
          }
        }
      }, "probe-127.0.1.9");
      prober.setDaemon(true);
      prober.start();

      try (FileOutputStream w = new FileOutputStream(policy.toFile())) { // truncates: the same file, rewritten
        w.write(NEW_FIRST_LINE.getBytes(StandardCharsets.US_ASCII));
        int before = probes.get();
        Thread.sleep(500);
        for (int i = 0; i < 100 && probes.get() < before + 5; i++) {
          Thread.sleep(50); // a slow machine: make sure the half-written file was probed
        }
        w.write(NEW_REST.getBytes(StandardCharsets.US_ASCII));
      }
      awaitLine(echo.errLines(), "reloaded");
      boolean newApplied = becomes(true, "127.0.2.9", port);
      done.set(true);
      prober.join(TimeUnit.SECONDS.toMillis(20));

      assertTrue(probes.get() > 5, "probes ran: " + probes.get());
      assertEquals(0, servedProbes.get(), servedProbes.get() + " of " + probes.get()
          + " probes from 127.0.1.9 were served: a half-written policy was applied; " + echo.errLines());
      assertTrue(newApplied, "the new policy allows 127.0.2.9 in the end");
      assertFalse(served("127.0.3.9", port), "the new policy denies 127.0.3.9");
      assertFalse(served("127.0.1.9", port), "the new policy denies 127.0.1.9");
    } finally {
      stop(echo);
    }
  }

  @Test
  void aPolicyRenamedIntoPlaceIsPickedUp(@TempDir Path dir) throws Exception {
    Path policy = Files.writeString(dir.resolve("echo.policy"), OLD);
    Echo echo = start(policy);
    try {
      int port = echo.port();
      assertFalse(served("127.0.2.9", port), "127.0.2.9 is denied by the old policy");
      Path tmp = Files.writeString(dir.resolve(".echo.policy.tmp"), NEW_FIRST_LINE + NEW_REST);
      Files.move(tmp, policy, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING); // as mv does
      awaitLine(echo.errLines(), "reloaded");
      assertTrue(served("127.0.2.9", port), "the new policy allows 127.0.2.9");
      assertFalse(served("127.0.3.9", port), "the new policy denies 127.0.3.9");
      assertFalse(served("127.0.1.9", port), "both deny 127.0.1.9");
    } finally {
      stop(echo);
    }
  }

  /**
   * {@code --watch --shadow 2}: a new file is first a shadow (the old policy still decides, and the
   * flips are logged with both rules), then, after 2 s, live.
   */
  @Test
  void withShadowANewPolicyIsShadowedAndThenPromoted(@TempDir Path dir) throws Exception {
    Path policy = Files.writeString(dir.resolve("echo.policy"), OLD);
    Echo echo = start(policy, "--shadow", "2");
    try {
      int port = echo.port();
      Path tmp = Files.writeString(dir.resolve(".echo.policy.tmp"), NEW_FIRST_LINE + NEW_REST);
      Files.move(tmp, policy, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      awaitLine(echo.errLines(), "shadowing the new policy for 2s");
      assertFalse(served("127.0.2.9", port), "while shadowed, the old policy still denies 127.0.2.9");
      awaitLine(echo.errLines(), "Shadow policy would allow 127.0.2.9 (live: deny by 'deny 127.0.2.0/24'");
      awaitLine(echo.errLines(), "promoted the new policy after");
      assertTrue(served("127.0.2.9", port), "promoted: the new policy allows 127.0.2.9");
      assertFalse(served("127.0.3.9", port), "promoted: the new policy denies 127.0.3.9");
    } finally {
      stop(echo);
    }
  }
}
