package dev.portcullis.examples;

import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * A launcher command as {@code portcullis COMMAND --help} shows it: how it is called, what it does,
 * every option it accepts on one line each (the same list its parser is given), and notes such as
 * its exit status.
 *
 * @param name the command, such as {@code echo}
 * @param synopses how it is called, without {@code portcullis COMMAND}: one or more forms, such
 *     as {@code --port P [OPTIONS]}
 * @param summary what it does, in one line
 * @param options every option it accepts, in the order the help lists them
 * @param notes lines printed after the options (may be empty)
 */
public record Command(String name, List<String> synopses, String summary, List<Option> options, List<String> notes) {
  /** The left column of the options' lines is at most this wide; a longer form pushes its own help right. */
  private static final int MAX_COLUMN = 30;

  /**
   * Checks that no option is listed twice, and copies the lists.
   *
   * @throws IllegalArgumentException if an option name appears twice
   */
  public Command {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(summary, "summary");
    synopses = List.copyOf(synopses);
    options = List.copyOf(options);
    notes = List.copyOf(notes);
    Set<String> seen = new HashSet<>();
    for (Option o : options) {
      if (!seen.add(o.name())) {
        throw new IllegalArgumentException(name + " lists " + o.name() + " twice");
      }
    }
  }

  /**
   * The text of {@code portcullis COMMAND --help}: the usage lines, the summary, then {@code
   * options:} with one line per option ({@code   --port P     what it does (default X)}), then the
   * notes.
   *
   * @return the help, ending with a newline
   */
  public String help() {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < synopses.size(); i++) {
      String call = ("portcullis " + name + " " + synopses.get(i)).strip();
      sb.append(i == 0 ? "usage: " : "       ").append(call).append('\n');
    }
    sb.append(summary).append('\n');
    if (!options.isEmpty()) {
      int column = 0;
      for (Option o : options) {
        column = Math.max(column, Math.min(MAX_COLUMN, o.form().length()));
      }
      sb.append("\noptions:\n");
      for (Option o : options) {
        String form = o.form();
        sb.append("  ").append(form).append(" ".repeat(Math.max(1, column + 2 - form.length()))).append(o.help())
            .append('\n');
      }
    }
    if (!notes.isEmpty()) {
      sb.append('\n');
      for (String n : notes) {
        sb.append(n).append('\n');
      }
    }
    return sb.toString();
  }
}
