package dev.portcullis.examples;

import dev.portcullis.examples.admin.AdminConsole;
import dev.portcullis.examples.check.Check;
import dev.portcullis.examples.connect.Connect;
import dev.portcullis.examples.demo.Demo;
import dev.portcullis.examples.echo.EchoService;
import dev.portcullis.examples.guard.Guard;
import dev.portcullis.examples.http.HttpService;
import dev.portcullis.examples.jetty.JettyHttpService;
import dev.portcullis.examples.kv.KvClient;
import dev.portcullis.examples.kv.KvServer;
import dev.portcullis.examples.netty.NettyHttpService;
import java.io.InputStream;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * The {@code portcullis} launcher: {@code java -jar portcullis-examples.jar COMMAND [OPTIONS]}.
 * Each command is an example with its own package and {@code main}; this class only dispatches.
 */
public final class Launcher {
  private Launcher() {}

  /** Every command, in the order the usage lists them. */
  public static final List<Command> COMMANDS = List.of(Demo.COMMAND, EchoService.COMMAND, Check.COMMAND,
      Guard.COMMAND, KvServer.COMMAND, KvClient.COMMAND, HttpService.COMMAND, JettyHttpService.COMMAND,
      NettyHttpService.COMMAND, AdminConsole.COMMAND, Connect.COMMAND);

  /** The usage text printed on {@code --help} and, with exit status 2, when no command is given. */
  public static final String USAGE = usage();

  private static String usage() {
    StringBuilder sb = new StringBuilder("usage: portcullis COMMAND [OPTIONS]\n\ncommands:\n");
    for (Command c : COMMANDS) {
      sb.append("  ").append(c.name()).append(" ".repeat(Math.max(1, 11 - c.name().length()))).append(c.summary())
          .append('\n');
    }
    return sb.append("\n'portcullis COMMAND --help' lists the command's options, one a line, with their defaults.\n")
        .append("Exit status: 0 done, 1 failed (check --diff: 1 when something changes), 2 a bad command line or input.\n")
        .toString();
  }

  /**
   * Entry point; exits with the command's status.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    Service.handleSignals();
    int status = run(args, System.in, System.out, System.err);
    String command = args.length > 0 ? args[0] : "";
    if (status != 0 || !Set.of("echo", "guard", "admin", "kv", "http", "jetty-http", "netty-http").contains(command)) {
      System.exit(status);
    }
  }

  /**
   * Runs a command with the given streams and returns its exit status.
   *
   * @param args the command-line arguments, without the command name
   * @param in standard input
   * @param out where results go
   * @param err where errors go
   * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise (for {@code check
   *     --diff}: 0 nothing changes, 1 something does, 2 trouble, as {@code diff(1)})
   */
  public static int run(String[] args, InputStream in, PrintStream out, PrintStream err) {
    if (args.length == 0) {
      err.print(USAGE);
      return 2;
    }
    String[] rest = Arrays.copyOfRange(args, 1, args.length);
    if (Arrays.asList(rest).contains("--help") || Arrays.asList(rest).contains("-h")) {
      String own = usage(args[0]);
      out.print(own != null ? own : USAGE); // 'portcullis echo --help': that command's own usage
      return 0;
    }
    try {
      return switch (args[0]) {
        case "demo" -> Demo.run(rest, out, err);
        case "echo" -> EchoService.run(rest, out, err);
        case "check" -> Check.run(rest, in, out, err);
        case "connect" -> Connect.run(rest, in, out, err);
        case "guard" -> Guard.run(rest, out, err);
        case "admin" -> AdminConsole.run(rest, out, err);
        case "kv" -> KvServer.run(rest, out, err);
        case "kv-client" -> KvClient.run(rest, out, err);
        case "http" -> HttpService.run(rest, out, err);
        case "jetty-http" -> JettyHttpService.run(rest, out, err);
        case "netty-http" -> NettyHttpService.run(rest, out, err);
        case "help", "--help", "-h" -> {
          out.print(USAGE);
          yield 0;
        }
        default -> {
          err.println("portcullis: unknown command '" + args[0] + "'; see 'portcullis --help'");
          yield 2;
        }
      };
    } catch (UsageException e) {
      err.println("portcullis " + args[0] + ": " + e.getMessage());
      err.println("see 'portcullis " + args[0] + " --help'");
      return 2;
    }
  }

  /**
   * One command's help: {@code usage: portcullis COMMAND ...}, what it does, and one line per option.
   *
   * @param command a command name, such as {@code echo}
   * @return that command's help, or null for a command there is not
   */
  public static String usage(String command) {
    for (Command c : COMMANDS) {
      if (c.name().equals(command)) {
        return c.help();
      }
    }
    return null;
  }
}
