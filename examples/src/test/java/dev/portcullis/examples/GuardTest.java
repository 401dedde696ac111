package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code portcullis guard} in its own JVM in front of real backends: Python's {@code http.server}
 * reached with {@code curl}, and a backend that reads the PROXY v2 header the guard sends; plain
 * sockets as backends that half-close first, answer after the client half-closed, or never read.
 */
@Timeout(90)
class GuardTest {
  @RegisterExtension final StartedProcesses started = new StartedProcesses();

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
    }
  }

  private int startGuard(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Launcher.class.getName(), "guard", "--listen", "0", "--bind",
        "127.0.0.1"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    started.add(p);
    String first = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)).readLine();
    assertTrue(first != null && first.startsWith("listening on 127.0.0.1:") && first.contains(" -> "),
        String.valueOf(first));
    return Integer.parseInt(first.substring("listening on 127.0.0.1:".length(), first.indexOf(" -> ")));
  }

  private static String[] curl(String from, int port, String path) throws Exception {
    Process p = new ProcessBuilder(Tools.require("curl"), "-s", "-S", "--max-time", "10", "--interface", from,
        "http://127.0.0.1:" + port + path).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(20, TimeUnit.SECONDS));
    return new String[] {String.valueOf(p.exitValue()), out};
  }

  @Test
  void guardsAnHttpServerThatHasNoAccessControl(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("hello.txt"), "hello from behind the guard\n");
    int backend = freePort();
    Process http = new ProcessBuilder(Tools.require("python3"), "-m", "http.server", "--bind", "127.0.0.1",
        String.valueOf(backend)).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    started.add(http);
    for (int i = 0; i < 100; i++) { // wait until Python listens
      try (Socket s = new Socket("127.0.0.1", backend)) {
        break;
      } catch (java.io.IOException notYet) {
        Thread.sleep(100);
      }
    }
    int guard = startGuard("--backend", "127.0.0.1:" + backend, "--allow", "127.0.0.0/8", "--deny", "127.0.0.2");
    String[] ok = curl("127.0.0.1", guard, "/hello.txt");
    assertEquals("0", ok[0]);
    assertEquals("hello from behind the guard\n", ok[1]);
    String[] denied = curl("127.0.0.2", guard, "/hello.txt");
    assertNotEquals("0", denied[0], "127.0.0.2 is refused before the backend is reached");
    assertEquals("", denied[1]);
  }

  @Test
  void withProxyV2TheBackendLearnsTheRealClient() throws Exception {
    try (ServerSocket backend = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"))) {
      int guard = startGuard("--backend", "127.0.0.1:" + backend.getLocalPort(), "--allow", "127.0.0.0/8",
          "--proxy-v2");
      try (Socket client = new Socket()) {
        client.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.3"), 0));
        client.connect(new InetSocketAddress("127.0.0.1", guard), 5000);
        client.setSoTimeout(10_000);
        try (Socket b = backend.accept()) {
          b.setSoTimeout(10_000);
          byte[] header = b.getInputStream().readNBytes(28);
          ByteBuffer h = ByteBuffer.wrap(header);
          assertEquals(0x21, header[12] & 0xFF, "version 2, PROXY");
          assertEquals(0x11, header[13] & 0xFF, "TCP over IPv4");
          assertEquals(12, h.getShort(14));
          byte[] src = new byte[4];
          h.position(16);
          h.get(src);
          assertEquals("127.0.0.3", InetAddress.getByAddress(src).getHostAddress());
          assertEquals(client.getLocalPort(), h.getShort(24) & 0xFFFF);
          assertEquals(guard, h.getShort(26) & 0xFFFF);
          OutputStream toClient = b.getOutputStream();
          toClient.write("welcome 127.0.0.3\n".getBytes(StandardCharsets.US_ASCII));
          toClient.flush();
          assertEquals("welcome 127.0.0.3",
              new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.US_ASCII)).readLine());
        }
      }
    }
  }

  /** The backend's connection, accepted within a bounded wait. */
  private static Socket accept(ServerSocket backend) throws IOException {
    backend.setSoTimeout(10_000);
    Socket b = backend.accept();
    b.setSoTimeout(20_000);
    return b;
  }

  private static Socket connect(int guard) throws IOException {
    Socket client = new Socket();
    client.connect(new InetSocketAddress("127.0.0.1", guard), 5000);
    client.setSoTimeout(20_000);
    return client;
  }

  private static byte[] random(int n) {
    byte[] b = new byte[n];
    new Random(n).nextBytes(b);
    return b;
  }

  @Test
  void aBackendThatHalfClosesFirstStillReceivesTheWholeUpload() throws Exception {
    // A banner, then shutdown(SHUT_WR), then the backend reads an upload: as over a direct connection.
    try (ServerSocket backend = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"))) {
      int guard = startGuard("--backend", "127.0.0.1:" + backend.getLocalPort(), "--allow", "127.0.0.0/8");
      byte[] upload = random(1 << 20);
      try (Socket client = connect(guard); Socket b = accept(backend)) {
        b.getOutputStream().write("220 ready\n".getBytes(StandardCharsets.US_ASCII));
        b.shutdownOutput();
        CompletableFuture<byte[]> received = CompletableFuture.supplyAsync(() -> {
          try {
            return b.getInputStream().readAllBytes();
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        });
        assertEquals("220 ready\n", new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII),
            "the client gets the banner, then the end of stream");
        client.getOutputStream().write(upload);
        client.shutdownOutput();
        assertArrayEquals(upload, received.get(30, TimeUnit.SECONDS), "the backend gets every byte, then the end");
      }
    }
  }

  @Test
  void aClientThatHalfClosesFirstStillGetsTheWholeAnswer() throws Exception {
    try (ServerSocket backend = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"))) {
      int guard = startGuard("--backend", "127.0.0.1:" + backend.getLocalPort(), "--allow", "127.0.0.0/8");
      byte[] answer = random(1 << 20);
      try (Socket client = connect(guard); Socket b = accept(backend)) {
        client.getOutputStream().write("GET everything\n".getBytes(StandardCharsets.US_ASCII));
        client.shutdownOutput();
        assertEquals("GET everything\n", new String(b.getInputStream().readAllBytes(), StandardCharsets.US_ASCII),
            "the backend gets the request, then the end of stream");
        CompletableFuture<byte[]> received = CompletableFuture.supplyAsync(() -> {
          try {
            return client.getInputStream().readAllBytes();
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        });
        b.getOutputStream().write(answer);
        b.shutdownOutput();
        assertArrayEquals(answer, received.get(30, TimeUnit.SECONDS), "the client gets every byte, then the end");
      }
    }
  }

  /** The guard process's threads whose name starts with {@code guard-} (the kernel keeps 15 characters). */
  private static long guardThreads(Process guard) throws IOException {
    try (Stream<Path> tasks = Files.list(Path.of("/proc", String.valueOf(guard.pid()), "task"))) {
      return tasks.filter(t -> {
        try {
          return Files.readString(t.resolve("comm")).startsWith("guard-");
        } catch (IOException gone) {
          return false; // the thread ended while we looked
        }
      }).count();
    }
  }

  /**
   * The guard process's TCP connections from clients (local port {@code guardPort}) and to the
   * backend (remote port {@code backendPort}): its socket descriptors matched by inode against the
   * kernel's table. Only these: the JDK may open sockets of its own (a Unix socket pair it keeps
   * for closing descriptors under blocked threads) the first time it needs them.
   */
  private static long connections(Process guard, int guardPort, int backendPort) throws IOException {
    Path proc = Path.of("/proc", String.valueOf(guard.pid()));
    java.util.Set<String> ours = new java.util.HashSet<>();
    for (String table : List.of("tcp", "tcp6")) {
      for (String line : Files.readAllLines(proc.resolve("net").resolve(table))) {
        String[] f = line.trim().split("\\s+");
        if (f.length < 10 || !f[1].contains(":") || f[3].equals("0A")) { // the header; LISTEN
          continue;
        }
        int local = Integer.parseInt(f[1].substring(f[1].lastIndexOf(':') + 1), 16);
        int remote = Integer.parseInt(f[2].substring(f[2].lastIndexOf(':') + 1), 16);
        if (local == guardPort || remote == backendPort) {
          ours.add("socket:[" + f[9] + "]");
        }
      }
    }
    try (Stream<Path> fds = Files.list(proc.resolve("fd"))) {
      return fds.filter(fd -> {
        try {
          return ours.contains(Files.readSymbolicLink(fd).toString());
        } catch (IOException gone) {
          return false; // closed while we looked
        }
      }).count();
    }
  }

  @Test
  void clientsThatGiveUpOnAStalledBackendLeaveNoSocketOrThreadBehind() throws Exception {
    // Half of them send a line and wait for an answer that never comes (the idle timeout ends
    // them); half send more than the backend takes, so the guard's write stalls (the write timeout).
    clientsGiveUpOnABackendThatNeverReads(50, true, "--idle-timeout", "2", "--write-timeout", "1");
  }

  @Test
  void aWriteTheBackendNeverTakesEndsThePairLongBeforeTheIdleTimeout() throws Exception {
    clientsGiveUpOnABackendThatNeverReads(10, false, "--idle-timeout", "3600", "--write-timeout", "1");
  }

  /**
   * {@code clients} connect through the guard to a backend that accepts and never reads, send
   * (every other one a line, if {@code someSendALine}; the others until the guard takes no more)
   * and close; then the guard must be back to the sockets it had and have no copy thread left.
   */
  private void clientsGiveUpOnABackendThatNeverReads(int clients, boolean someSendALine, String... timeouts)
      throws Exception {
    List<Socket> held = new CopyOnWriteArrayList<>();
    try (ServerSocket backend = new ServerSocket()) {
      backend.setReceiveBufferSize(4096); // a small window, so the guard's writes stall soon
      backend.bind(new InetSocketAddress("127.0.0.1", 0), clients);
      Thread acceptor = new Thread(() -> { // accepts and never reads
        try {
          while (held.size() < clients) {
            held.add(backend.accept());
          }
        } catch (IOException closed) {
          // the test is over
        }
      });
      acceptor.setDaemon(true);
      acceptor.start();
      List<String> args = new ArrayList<>(List.of("--backend", "127.0.0.1:" + backend.getLocalPort(), "--allow",
          "127.0.0.0/8"));
      args.addAll(List.of(timeouts));
      int guard = startGuard(args.toArray(String[]::new));
      Process guardProcess = started.get(started.size() - 1);
      int backendPort = backend.getLocalPort();
      assertEquals(0, guardThreads(guardProcess), "no copy thread before any client");

      ByteBuffer chunk = ByteBuffer.wrap(random(64 * 1024));
      for (int i = 0; i < clients; i++) {
        try (SocketChannel client = SocketChannel.open(new InetSocketAddress("127.0.0.1", guard))) {
          if (i == 0) { // the count below sees a pair: the client's connection and the backend's
            long seen = 0;
            for (long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10); seen != 2 && System.nanoTime() < until;) {
              Thread.sleep(20);
              seen = connections(guardProcess, guard, backendPort);
            }
            assertEquals(2, seen, "the first client's pair, as the guard's descriptors show it");
          }
          if (someSendALine && i % 2 == 0) { // a little, then gone: the guard waits for an answer
            client.write(ByteBuffer.wrap("hello\n".getBytes(StandardCharsets.US_ASCII)));
          } else { // more than the backend takes: the guard's write to the backend stalls
            client.configureBlocking(false);
            int full = 0;
            for (int round = 0; round < 4096 && full < 20; round++) { // at most 256 MiB; stops once nothing fits
              chunk.clear();
              if (client.write(chunk) == 0) {
                full++;
                Thread.sleep(10);
              } else {
                full = 0;
              }
            }
          }
        } // the client gives up: closed
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (System.nanoTime() < deadline
          && (guardThreads(guardProcess) > 0 || connections(guardProcess, guard, backendPort) > 0)) {
        Thread.sleep(100);
      }
      assertEquals(0, guardThreads(guardProcess), "copy threads left behind");
      assertEquals(0, connections(guardProcess, guard, backendPort), "client or backend connections left open");
      assertEquals(clients, held.size(), "every client reached the backend");
    } finally {
      for (Socket s : held) {
        s.close();
      }
    }
  }

  @Test
  void aClientThatNeverReadsIsClosedWithItsBackendAfterTheWriteTimeout() throws Exception {
    try (ServerSocket backend = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"))) {
      int guard = startGuard("--backend", "127.0.0.1:" + backend.getLocalPort(), "--allow", "127.0.0.0/8",
          "--idle-timeout", "3600", "--write-timeout", "1");
      try (Socket client = new Socket()) {
        client.setReceiveBufferSize(4096); // a small window: the guard's writes to it stall soon
        client.connect(new InetSocketAddress("127.0.0.1", guard), 5000);
        try (Socket b = accept(backend)) {
          byte[] chunk = random(64 * 1024);
          CompletableFuture<Long> streamed = CompletableFuture.supplyAsync(() -> {
            long sent = 0;
            try {
              for (int i = 0; i < 4096; i++) { // at most 256 MiB, far beyond every buffer on the way
                b.getOutputStream().write(chunk);
                sent += chunk.length;
              }
              return -sent; // never stopped
            } catch (IOException closedByTheGuard) {
              return sent;
            }
          });
          long sent = streamed.get(30, TimeUnit.SECONDS);
          assertTrue(sent >= 0, "the backend's stream to a client that never reads was cut");
        }
      }
    }
  }

  @Test
  void helpNamesTheTimeoutsAndTheConnectionCapWithTheirDefaults() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrintStream print = new PrintStream(out, true, StandardCharsets.UTF_8);
    assertEquals(0, Launcher.run(new String[] {"guard", "--help"}, System.in, print, print));
    String help = out.toString(StandardCharsets.UTF_8);
    for (String option : List.of("--max-connections N (default 1000)", "--connect-timeout SECONDS (default 5)",
        "--idle-timeout SECONDS (default 300)", "--write-timeout SECONDS (default 30)")) {
      String name = option.substring(0, option.indexOf(" ("));
      String defaultValue = option.substring(option.indexOf(" (") + 1);
      assertTrue(help.lines().anyMatch(l -> l.startsWith("  " + name + " ") && l.endsWith(defaultValue)),
          option + ", on one line, in " + help);
    }
  }

  @Test
  void aTimeoutOutOfRangeIsAUsageErrorThatNamesIt() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream print = new PrintStream(err, true, StandardCharsets.UTF_8);
    assertEquals(2, Launcher.run(new String[] {"guard", "--listen", "0", "--backend", "127.0.0.1:9", "--allow-all",
        "--write-timeout", "0"}, System.in, print, print));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("--write-timeout 0 is out of range 1.."),
        err.toString(StandardCharsets.UTF_8));
  }
}
