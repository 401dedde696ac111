package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Every command's {@code --help} lists every option its parser accepts, one line each, and every
 * option its code reads is one it accepts.
 */
class LauncherHelpTest {
  /** Where each command's code is, to find the options it reads (the tests run in examples/). */
  private static final Map<String, List<String>> SOURCES = Map.ofEntries(
      Map.entry("demo", List.of("demo/Demo.java")),
      Map.entry("echo", List.of("echo/EchoService.java")),
      Map.entry("check", List.of("check/Check.java")),
      Map.entry("guard", List.of("guard/Guard.java")),
      Map.entry("kv", List.of("kv/KvServer.java")),
      Map.entry("kv-client", List.of("kv/KvClient.java")),
      Map.entry("http", List.of("http/HttpService.java")),
      Map.entry("jetty-http", List.of("jetty/JettyHttpService.java", "GuardedService.java")),
      Map.entry("netty-http", List.of("netty/NettyHttpService.java", "GuardedService.java")),
      Map.entry("admin", List.of("admin/AdminConsole.java")),
      Map.entry("connect", List.of("connect/Connect.java")));

  private static String help(String command) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = Launcher.run(new String[] {command, "--help"}, new ByteArrayInputStream(new byte[0]),
        new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(0, status, command + " --help: " + err.toString(StandardCharsets.UTF_8));
    assertEquals("", err.toString(StandardCharsets.UTF_8), command + " --help writes only to stdout");
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void everyCommandsHelpListsEachOptionItsParserAcceptsOnOneLineInOneColumn() {
    assertEquals(SOURCES.keySet(), Launcher.COMMANDS.stream().map(Command::name).collect(Collectors.toSet()),
        "every command the launcher runs is listed");
    for (Command command : Launcher.COMMANDS) {
      String help = help(command.name());
      assertTrue(help.startsWith("usage: portcullis " + command.name()), help);
      assertTrue(Launcher.USAGE.contains("\n  " + command.name() + " "), "the top usage lists " + command.name());
      Set<Integer> columns = new TreeSet<>();
      for (Option option : command.options()) {
        // The parser takes exactly this list: the option is known to it, with or without a value.
        String[] args = option.takesValue() && !option.optionalArg() ? new String[] {option.name(), "x"}
            : new String[] {option.name()};
        assertTrue(Options.parse(args, command.options()).has(option.name()), option.name());
        List<String> lines = help.lines().filter(l -> l.startsWith("  " + option.form() + " ")).toList();
        assertEquals(1, lines.size(), command.name() + " --help has one line for " + option.form() + ":\n" + help);
        String line = lines.get(0);
        String text = line.substring(2 + option.form().length()).stripLeading();
        assertFalse(text.isEmpty(), line);
        columns.add(line.length() - text.length());
      }
      assertTrue(columns.size() <= 1 || command.options().stream().anyMatch(o -> o.form().length() > 30),
          command.name() + ": the descriptions start in one column: " + columns);
      assertThrows(UsageException.class, () -> Options.parse(new String[] {"--no-such-option"}, command.options()));
    }
  }

  @Test
  void everyOptionACommandsCodeNamesIsOneItsHelpLists() throws Exception {
    Pattern literal = Pattern.compile("\"(--[a-z][a-z0-9-]*)\"");
    for (Command command : Launcher.COMMANDS) {
      Set<String> listed = command.options().stream().map(Option::name).collect(Collectors.toSet());
      for (String file : SOURCES.get(command.name())) {
        String source = Files.readString(Path.of("src/main/java/dev/portcullis/examples", file));
        Matcher m = literal.matcher(source);
        while (m.find()) {
          assertTrue(listed.contains(m.group(1)), command.name() + " reads " + m.group(1) + " (" + file
              + ") but its --help does not list it");
        }
      }
    }
  }

  @Test
  void theOptionsNamedInTheIssueAreListed() {
    assertTrue(help("kv").contains("\n  --deny CIDR ") && help("kv").contains("\n  --allow-all "), help("kv"));
    assertTrue(help("guard").contains("\n  --connect-timeout SECONDS ") && help("guard").contains("(default 5)"),
        help("guard"));
    assertTrue(help("http").contains("\n  --bind ADDR "), help("http"));
    assertTrue(help("connect").contains("\n  --from ADDR "), help("connect"));
    assertTrue(help("check").contains("With --diff, as diff(1): 0 nothing changes, 1 something changes, 2 trouble"),
        help("check"));
  }

  @Test
  void readingAnOptionTheCommandDoesNotListIsABugNotASilentNull() {
    Options o = Options.parse(new String[0], List.of(Option.flag("--known", "a switch")));
    assertFalse(o.has("--known"));
    assertThrows(IllegalStateException.class, () -> o.one("--unknown"));
  }
}
