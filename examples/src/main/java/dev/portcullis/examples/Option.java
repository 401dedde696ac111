package dev.portcullis.examples;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * One option a launcher command accepts: what its parser ({@link Options}) reads and what its
 * {@code --help} lists, on one line, from the same value, so that the two cannot drift apart.
 *
 * @param name the option, such as {@code --port}
 * @param arg what it takes, such as {@code P} or {@code CIDR}; empty for a switch
 * @param optionalArg whether the argument may be left out ({@code --systemd [NAME]}): the next
 *     word is its argument unless it starts with {@code -}
 * @param help what it does, with its default, in one line
 */
public record Option(String name, String arg, boolean optionalArg, String help) {
  /**
   * Checks the parts.
   *
   * @throws IllegalArgumentException if the name does not start with {@code --}, or a part spans lines
   */
  public Option {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(arg, "arg");
    Objects.requireNonNull(help, "help");
    if (!name.startsWith("--") || (name + arg + help).contains("\n")) {
      throw new IllegalArgumentException("an option is '--name', with one line of help: " + name);
    }
  }

  /**
   * A switch, such as {@code --allow-all}.
   *
   * @param name the option
   * @param help what it does, in one line
   * @return the option
   */
  public static Option flag(String name, String help) {
    return new Option(name, "", false, help);
  }

  /**
   * An option with an argument, such as {@code --port P}.
   *
   * @param name the option
   * @param arg what it takes, such as {@code P}
   * @param help what it does and its default, in one line
   * @return the option
   */
  public static Option valued(String name, String arg, String help) {
    return new Option(name, arg, false, help);
  }

  /**
   * An option whose argument may be left out, such as {@code --systemd [NAME]}.
   *
   * @param name the option
   * @param arg what it may take, such as {@code NAME}
   * @param help what it does and its default, in one line
   * @return the option
   */
  public static Option optionalValue(String name, String arg, String help) {
    return new Option(name, arg, true, help);
  }

  /**
   * Whether the option takes an argument (perhaps an optional one).
   *
   * @return {@code false} for a switch
   */
  public boolean takesValue() {
    return !arg.isEmpty();
  }

  /**
   * The option as the help's left column shows it: {@code --port P}, {@code --systemd [NAME]}.
   *
   * @return the name and its argument
   */
  public String form() {
    return arg.isEmpty() ? name : name + " " + (optionalArg ? "[" + arg + "]" : arg);
  }

  /**
   * Several lists of options as one, in order.
   *
   * @param lists the lists
   * @return their concatenation, unmodifiable
   */
  @SafeVarargs
  public static List<Option> concat(List<Option>... lists) {
    List<Option> all = new ArrayList<>();
    for (List<Option> l : lists) {
      all.addAll(l);
    }
    return List.copyOf(all);
  }
}
