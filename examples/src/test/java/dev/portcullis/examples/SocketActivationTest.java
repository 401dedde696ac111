package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The echo service started by the real {@code systemd-socket-activate}: the socket exists before
 * the JVM does, a named socket is chosen by name, and with {@code --accept} every connection starts
 * a process that applies the policy to its one connection (inetd style).
 */
@Timeout(120)
class SocketActivationTest {
  private final List<Process> started = new ArrayList<>();

  @AfterEach
  void stop() throws InterruptedException {
    for (Process p : started) {
      p.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
    }
  }

  /** Starts systemd-socket-activate around the launcher and returns once it listens. */
  private Process activate(int port, List<String> activatorOptions, String... echoArgs) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(Tools.require("systemd-socket-activate"), "-l", "127.0.0.1:" + port));
    cmd.addAll(activatorOptions);
    cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
        System.getProperty("java.class.path"), Launcher.class.getName(), "echo"));
    cmd.addAll(List.of(echoArgs));
    Process p = new ProcessBuilder(cmd).start();
    started.add(p);
    BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
    String line = err.readLine();
    assertTrue(line != null && line.startsWith("Listening on 127.0.0.1:" + port), String.valueOf(line));
    // The activator's own lines quote the whole class path; keep the rest (the service's messages).
    Thread drain = new Thread(() -> err.lines().filter(l -> !l.startsWith("Execing ") && !l.startsWith("Spawned "))
        .forEach(System.err::println));
    drain.setDaemon(true);
    drain.start();
    return p;
  }

  private static String exchange(String from, int port, String text) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      s.setSoTimeout(30_000); // the first exchange waits for a JVM to start
      s.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
      s.shutdownOutput();
      byte[] reply = s.getInputStream().readAllBytes();
      return reply.length == 0 ? null : new String(reply, StandardCharsets.UTF_8);
    } catch (SocketException reset) {
      return null;
    }
  }

  private static String command(Process p) {
    return p.toHandle().info().command().orElse("?");
  }

  @Test
  void aClientThatConnectsBeforeTheJvmStartsIsServedAndTheDeniedOneIsNot() throws Exception {
    int port = freePort();
    Process p = activate(port, List.of(), "--systemd", "--allow", "127.0.0.0/8", "--deny", "127.0.0.2");
    assertTrue(command(p).endsWith("systemd-socket-activate"), "no JVM yet: " + command(p));
    assertEquals("early bird", exchange("127.0.0.1", port, "early bird"));
    assertTrue(command(p).endsWith("java"), "the activator exec'd the JVM: " + command(p));
    assertEquals(null, exchange("127.0.0.2", port, "denied"));
    assertEquals("again", exchange("127.0.0.3", port, "again"));
    BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    assertEquals("listening on 127.0.0.1:" + port, out.readLine());
  }

  @Test
  void aNamedSocketIsChosenByNameAndAWrongNameStopsWithAMessage() throws Exception {
    int port = freePort();
    activate(port, List.of("--fdname=web"), "--systemd", "web", "--allow", "127.0.0.1");
    assertEquals("by name", exchange("127.0.0.1", port, "by name"));

    int other = freePort();
    Process wrong = activate(other, List.of("--fdname=web"), "--systemd", "admin", "--allow", "127.0.0.1");
    assertEquals(null, exchange("127.0.0.1", other, "nobody answers"));
    assertTrue(wrong.waitFor(30, TimeUnit.SECONDS));
    assertEquals(2, wrong.exitValue());
  }

  @Test
  void withAcceptEachConnectionStartsAProcessThatAppliesThePolicy() throws Exception {
    int port = freePort();
    activate(port, List.of("--accept"), "--inetd", "--allow", "127.0.0.1");
    assertEquals("one connection", exchange("127.0.0.1", port, "one connection"));
    assertEquals(null, exchange("127.0.0.2", port, "denied"));
    assertEquals("and another", exchange("127.0.0.1", port, "and another"));
  }

  @Test
  void underClassicInetdTheConnectionIsStandardInputAndTheOutputCarriesOnlyTheEcho(@org.junit.jupiter.api.io.TempDir Path dir)
      throws Exception {
    // socat plays inetd: with nofork, the accepted socket becomes the program's stdin and stdout.
    String socat = Tools.require("socat");
    Path script = dir.resolve("echo-inetd.sh");
    java.nio.file.Files.writeString(script, "#!/bin/sh\nexec '" + Path.of(System.getProperty("java.home"), "bin", "java")
        + "' -cp '" + System.getProperty("java.class.path") + "' " + Launcher.class.getName()
        + " echo --inetd --allow 127.0.0.1\n");
    script.toFile().setExecutable(true);
    int port = freePort();
    Process p = new ProcessBuilder(socat, "TCP-LISTEN:" + port + ",bind=127.0.0.1,reuseaddr,fork",
        "EXEC:" + script + ",nofork").redirectErrorStream(true).start();
    started.add(p);
    assertTrue(waitForPort(port), "socat listens");
    assertEquals("classic inetd", exchange("127.0.0.1", port, "classic inetd"));
    assertEquals(null, exchange("127.0.0.2", port, "denied"));
  }

  private static boolean waitForPort(int port) throws InterruptedException {
    for (int i = 0; i < 200; i++) {
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return true; // this probe spends one connection: the service serves and exits
      } catch (IOException notYet) {
        Thread.sleep(50);
      }
    }
    return false;
  }
}
