package dev.portcullis.examples.admin;

import dev.portcullis.Connection;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.examples.Options;
import dev.portcullis.examples.Service;
import dev.portcullis.examples.UsageException;
import dev.portcullis.policy.PeerCredentials;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An administration console on a Unix domain socket that only the user who started it may use:
 * the socket file is {@code 0600} and the single credential rule allows only the owner's uid, so
 * even a process of another user that could reach the file (say, with {@code --mode 0666}) is
 * refused by its kernel-recorded credentials.
 *
 * <pre>
 * portcullis admin --socket /run/user/1000/portcullis-admin.sock
 * socat - UNIX-CONNECT:/run/user/1000/portcullis-admin.sock
 * &gt; whoami
 * uid=1000 gid=1000 pid=4242
 * </pre>
 *
 * Commands, one a line: {@code help}, {@code whoami} (the caller's credentials), {@code uptime},
 * {@code stats} (this console's own counters), {@code quit}.
 */
public final class AdminConsole {
  private AdminConsole() {}

  /** The command as {@code portcullis admin --help} shows it; its options are what the parser accepts. */
  public static final dev.portcullis.examples.Command COMMAND = new dev.portcullis.examples.Command("admin",
      java.util.List.of("--socket PATH [OPTIONS]"),
      "an admin console on a Unix socket that only this user may use (by peer credentials)",
      java.util.List.of(
          dev.portcullis.examples.Option.valued("--socket", "PATH", "the socket file to listen on (required)"),
          dev.portcullis.examples.Option.valued("--mode", "MODE", "the socket file's permissions, octal (default 0600;"
              + " the uid rule still admits only this user)")),
      java.util.List.of("Commands on the socket, one a line: help, whoami, uptime, stats, quit."));

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.admin.AdminConsole ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    int status = run(args, System.out, System.err);
    if (status != 0) {
      System.exit(status);
    }
  }

  /**
   * Runs the console until the process is asked to stop; returns the exit status.
   *
   * @param args the command-line arguments, without the command name
   * @param out where results go
   * @param err where errors go
   * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    Options o = Options.parse(args, COMMAND.options());
    if (!o.positional().isEmpty()) {
      throw new UsageException("unexpected argument '" + o.positional().get(0) + "'");
    }
    String socket = o.one("--socket");
    if (socket == null) {
      throw new UsageException("option --socket PATH is required");
    }
    int mode = 0600;
    if (o.one("--mode") != null) {
      if (!o.one("--mode").matches("0?[0-7]{3}")) {
        throw new UsageException("--mode '" + o.one("--mode") + "' is not an octal mode such as 0600");
      }
      mode = Integer.parseInt(o.one("--mode"), 8);
    }
    Instant started = Instant.now();
    AtomicReference<RunningServer> self = new AtomicReference<>();
    int owner;
    try {
      owner = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    } catch (IOException e) {
      err.println("portcullis admin: cannot tell which user this is: " + e.getMessage());
      return 1;
    }
    int fileMode = mode;
    Service.Setup setup = () -> {
      RunningServer running = Server.onUnix(Path.of(socket)).mode(fileMode).allowUid(owner)
          .handle(conn -> session(conn, started, self.get())).start();
      self.set(running);
      return running;
    };
    return Service.run("admin", setup, Duration.ofSeconds(1), " for uid " + owner, out, err);
  }

  private static void session(Connection conn, Instant started, RunningServer server) throws IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(conn.input(), StandardCharsets.UTF_8));
    PrintWriter w = new PrintWriter(conn.output(), true, StandardCharsets.UTF_8);
    w.println("portcullis admin; 'help' lists the commands");
    for (String line; (line = in.readLine()) != null; ) {
      switch (line.strip()) {
        case "help" -> w.println("help | whoami | uptime | stats | quit");
        case "whoami" -> w.println(conn.attribute(PeerCredentials.class).map(String::valueOf).orElse("unknown"));
        case "uptime" -> w.println(dev.portcullis.policy.Durations.format(
            Duration.ofSeconds(Duration.between(started, Instant.now()).toSeconds())));
        case "stats" -> w.println(server == null ? "starting" : server.stats());
        case "quit" -> {
          w.println("bye");
          return;
        }
        case "" -> {
          // ignore blank lines
        }
        default -> w.println("unknown command '" + line.strip() + "'; 'help' lists them");
      }
    }
  }
}
