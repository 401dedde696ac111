package dev.portcullis.examples;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small command-line parser for the launcher: {@code --name value} options (repeatable), {@code
 * --flag} switches, and positional arguments. The command's list of {@link Option}s is the whole
 * truth: anything else on the command line is a {@link UsageException}, and asking for an option
 * the list does not hold is a bug ({@link IllegalStateException}), so every option a command reads
 * is one its {@code --help} lists.
 */
public final class Options {
  private final Map<String, Option> accepted = new LinkedHashMap<>();
  private final Map<String, List<String>> values = new LinkedHashMap<>();
  private final List<String> positional = new ArrayList<>();

  private Options() {}

  /**
   * Parses {@code args}.
   *
   * @param args the command-line arguments, without the command name
   * @param accepted every option the command accepts, such as its {@link Command#options()}
   * @return the parsed options
   * @throws UsageException for an unknown option or a missing value
   */
  public static Options parse(String[] args, List<Option> accepted) {
    Options o = new Options();
    for (Option option : accepted) {
      o.accepted.put(option.name(), option);
    }
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      Option option = o.accepted.get(a);
      if (option != null && option.optionalArg()) {
        boolean given = i + 1 < args.length && !args[i + 1].startsWith("-");
        o.values.computeIfAbsent(a, k -> new ArrayList<>()).add(given ? args[++i] : "");
      } else if (option != null && option.takesValue()) {
        if (i + 1 >= args.length) {
          throw new UsageException("option " + option.form() + " needs a value");
        }
        o.values.computeIfAbsent(a, k -> new ArrayList<>()).add(args[++i]);
      } else if (option != null) {
        o.values.computeIfAbsent(a, k -> new ArrayList<>()).add("");
      } else if (a.startsWith("-") && a.length() > 1 && !Character.isDigit(a.charAt(1)) && a.charAt(1) != ':') {
        throw new UsageException("unknown option '" + a + "'");
      } else {
        o.positional.add(a);
      }
    }
    return o;
  }

  /**
   * Whether the command accepts an option, for code shared by commands that accept different ones.
   *
   * @param name the option, such as {@code --allow-uid}
   * @return {@code true} if it is in the command's list
   */
  public boolean accepts(String name) {
    return accepted.containsKey(name);
  }

  private List<String> values(String name) {
    if (!accepted.containsKey(name)) {
      throw new IllegalStateException("the command reads " + name + " but does not list it among its options");
    }
    return values.getOrDefault(name, List.of());
  }

  /**
   * Every value given for a repeatable option, in order.
   *
   * @param name the option, such as {@code --allow}
   * @return its values, empty if it was not given
   */
  public List<String> all(String name) {
    return values(name);
  }

  /**
   * The single value of an option, or null; given twice is a usage error.
   *
   * @param name the option, such as {@code --port}
   * @return its value, or null if it was not given
   */
  public String one(String name) {
    List<String> v = all(name);
    if (v.size() > 1) {
      throw new UsageException("option " + name + " given more than once");
    }
    return v.isEmpty() ? null : v.get(0);
  }

  /**
   * Whether a flag was given.
   *
   * @param name the flag, such as {@code --allow-all}
   * @return {@code true} if it was given
   */
  public boolean has(String name) {
    return !values(name).isEmpty();
  }

  /**
   * An integer option within a range, or the default when absent.
   *
   * @param name the option, such as {@code --port}
   * @param min the smallest value allowed
   * @param max the largest value allowed
   * @param fallback the value when the option is absent, or null if it is required
   * @return the value
   * @throws UsageException if it is required and absent, not a whole number, or out of range
   */
  public int integer(String name, int min, int max, Integer fallback) {
    String v = one(name);
    if (v == null) {
      if (fallback == null) {
        throw new UsageException("option " + name + " is required");
      }
      return fallback;
    }
    try {
      int n = Integer.parseInt(v);
      if (n < min || n > max) {
        throw new UsageException(name + " " + v + " is out of range " + min + ".." + max);
      }
      return n;
    } catch (NumberFormatException e) {
      if (v.matches("-?[0-9]+")) {
        throw new UsageException(name + " " + v + " is out of range " + min + ".." + max);
      }
      throw new UsageException(name + " '" + v + "' is not a whole number");
    }
  }

  /**
   * An option whose value is an IP address literal, such as {@code --from 127.0.0.2}; no name is
   * resolved.
   *
   * @param name the option
   * @return the address, or null if the option was not given
   * @throws UsageException if the value is not an IPv4 or IPv6 address
   */
  public java.net.InetAddress address(String name) {
    String v = one(name);
    if (v == null) {
      return null;
    }
    try {
      return dev.portcullis.policy.IpAddresses.parse(v);
    } catch (IllegalArgumentException e) {
      throw new UsageException(name + " '" + v + "' is not an IP address, such as 127.0.0.2 or ::1 (names are not"
          + " resolved)");
    }
  }

  /**
   * The positional arguments.
   *
   * @return the arguments that are not options, in order
   */
  public List<String> positional() {
    return positional;
  }

  /**
   * {@code HOST:PORT} or {@code [IPV6]:PORT} as a socket address (a host name is resolved).
   *
   * @param text such as {@code 127.0.0.1:7000}, {@code localhost:7000} or {@code [::1]:7000}
   * @return the address
   * @throws UsageException if it is not that form or the port is not 1..65535
   */
  public static java.net.InetSocketAddress hostAndPort(String text) {
    String host;
    String port;
    if (text.startsWith("[")) {
      int close = text.indexOf(']');
      if (close < 0 || close + 1 >= text.length() || text.charAt(close + 1) != ':') {
        throw new UsageException("'" + text + "' is not HOST:PORT");
      }
      host = text.substring(1, close);
      port = text.substring(close + 2);
    } else {
      int colon = text.indexOf(':');
      if (colon <= 0 || colon != text.lastIndexOf(':')) {
        throw new UsageException("'" + text + "' is not HOST:PORT" + (colon != text.lastIndexOf(':')
            ? " (write an IPv6 address in brackets: [::1]:7000)" : ""));
      }
      host = text.substring(0, colon);
      port = text.substring(colon + 1);
    }
    if (!port.matches("[0-9]{1,5}") || Integer.parseInt(port) < 1 || Integer.parseInt(port) > 65535) {
      throw new UsageException("'" + text + "': the port '" + port + "' is not 1..65535");
    }
    return new java.net.InetSocketAddress(host, Integer.parseInt(port));
  }
}
