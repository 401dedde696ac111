package dev.portcullis.examples;

import dev.portcullis.examples.check.Check;
import dev.portcullis.examples.connect.Connect;
import dev.portcullis.examples.demo.Demo;
import dev.portcullis.examples.echo.EchoService;
import java.io.InputStream;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.Set;

/**
 * The {@code portcullis} launcher: {@code java -jar portcullis-examples.jar COMMAND [OPTIONS]}.
 * Each command is an example with its own package and {@code main}; this class only dispatches.
 */
public final class Launcher {
  private Launcher() {}

  /** The usage text printed on {@code --help} and, with exit status 2, on a bad command line. */
  public static final String USAGE = String.join("\n",
      "usage: portcullis COMMAND [OPTIONS]",
      "",
      "commands:",
      "  demo     start a server that allows only 127.0.0.1, connect from 127.0.0.1 and 127.0.0.2",
      "  echo     --port P [--bind ADDR] [--backlog N] [--allow CIDR]... [--deny CIDR]...",
      "           [--policy FILE] [--allow-all] [--proxy-protocol TRUSTED_CIDR]... [--proxy-optional]",
      "           [--secret-file FILE]",
      "           [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM [--tls-allow-subject DN]...]]",
      "           [--systemd [NAME] | --inetd] instead of --port: serve a socket systemd or inetd passed",
      "           [--unix PATH [--mode 0660] | --abstract NAME] instead of --port: a Unix domain socket,",
      "           with [--allow-uid N]... [--allow-user NAME]... [--allow-gid N]... [--allow-group NAME]...",
      "           (and --deny-uid, --deny-user, --deny-gid, --deny-group)",
      "           [--max-connections N] [--max-per-source N] [--rate-per-source RATE[:BURST]]",
      "           [--max-pending-handshakes N (default " + dev.portcullis.policy.Limits.defaultMaxPendingHandshakes()
          + ": an eighth of the heap at 32 KiB a handshake)]",
      "           [--idle-timeout SECONDS] [--kernel-filter] [--grace SECONDS]",
      "           [--watch (reload --policy FILE) [--shadow SECONDS (decide beside the live one, then promote)]]",
      "           [--policy-max-bytes N] (the largest --policy FILE read; default 16777216)",
      "           [--loops N] (event loops; default: one per processor)",
      "           [--penalty N:SECONDS] (N failed handshakes within a minute: refused SECONDS, doubling)",
      "           an access-controlled echo service; prints 'listening on HOST:PORT' when ready",
      "  check    [--policy FILE] [--allow CIDR]... [--deny CIDR]... [ADDRESS...]",
      "           or --hosts-allow FILE --hosts-deny FILE [--daemon NAME] [--print-policy] [ADDRESS...]",
      "           decide addresses (arguments, or one a line on stdin): 'ADDRESS allow|deny RULE'",
      "           [--diff NEW_POLICY]: only what NEW_POLICY would change (the address arguments, or every range)",
      "  guard    --listen PORT --backend HOST:PORT [--bind ADDR] [rules as for echo] [--proxy-v2]",
      "           [--max-connections N] (default 1000) [--max-per-source N] [--secret-file FILE] [--loops N]",
      "           [--penalty N:SECONDS] [--connect-timeout SECONDS] (default 5)",
      "           [--idle-timeout SECONDS] (default 300: nothing moved either way; both sides are closed)",
      "           [--write-timeout SECONDS] (default 30: one write to either side unfinished; both closed)",
      "           an access-controlled TCP forwarder in front of a service without access control",
      "  kv       --port P --secret-file FILE [--bind ADDR] [--allow CIDR]... [--policy FILE]",
      "           [--loops N] [--idle-timeout SECONDS] [--penalty N:SECONDS]",
      "           [--max-connections N (256)] [--max-per-source N (32)] [--max-keys N (100000)]",
      "           [--max-key-bytes SIZE (1k)] [--max-value-bytes SIZE (64k)] [--max-bytes SIZE (64m)]",
      "           [--max-list N (1000): keys one KEYS reply lists] (SIZE: bytes, or with k, m, g)",
      "           a key-value store (SET/GET/DEL/KEYS) behind an allow-list and the shared secret",
      "  kv-client HOST:PORT --secret-file FILE --key-id ID COMMAND [ARGS...] [--from ADDR]",
      "  http     --port P [--proxy-protocol TRUSTED_CIDR]... [rules] [--loops N] [--idle-timeout SECONDS]",
      "           [--penalty N:SECONDS] [--head-timeout SECONDS (10): the whole request head, never reset]",
      "           [--max-connections N (1024): one handler thread each] [--max-per-source N (64; 0: none)]",
      "           HTTP/1.1 /health and /hello behind a PROXY-protocol proxy such as HAProxy",
      "  admin    --socket PATH [--mode 0600]",
      "           an admin console on a Unix socket that only this user may use (by peer credentials)",
      "  connect  HOST:PORT [--secret-file FILE --key-id ID]",
      "           like nc: pass the shared-secret handshake, then relay stdin and stdout",
      "");

  /**
   * Entry point; exits with the command's status.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    Service.handleSignals();
    int status = run(args, System.in, System.out, System.err);
    String command = args.length > 0 ? args[0] : "";
    if (status != 0 || !Set.of("echo", "guard", "admin", "kv", "http").contains(command)) {
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
   * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise
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
        case "guard" -> dev.portcullis.examples.guard.Guard.run(rest, out, err);
        case "admin" -> dev.portcullis.examples.admin.AdminConsole.run(rest, out, err);
        case "kv" -> dev.portcullis.examples.kv.KvServer.run(rest, out, err);
        case "kv-client" -> dev.portcullis.examples.kv.KvClient.run(rest, out, err);
        case "http" -> dev.portcullis.examples.http.HttpService.run(rest, out, err);
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
   * One command's part of {@link #USAGE}, as {@code usage: portcullis COMMAND ...} with its
   * continuation lines, or null for a command the usage does not list.
   *
   * @param command a command name, such as {@code echo}
   * @return that command's usage, or null
   */
  public static String usage(String command) {
    String[] lines = USAGE.split("\n");
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < lines.length; i++) {
      String l = lines[i];
      if (l.startsWith("  " + command + " ") && l.length() > 11 && l.charAt(2) != ' ') {
        sb.append("usage: portcullis ").append(command).append(' ').append(l.substring(2 + command.length()).strip())
            .append('\n');
        for (int j = i + 1; j < lines.length && lines[j].startsWith("           "); j++) {
          sb.append("       ").append(lines[j].substring(11)).append('\n');
        }
        return sb.toString();
      }
    }
    return null;
  }
}
