package dev.portcullis.examples;

import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The policy options shared by the launcher's commands: {@code --policy}, {@code --allow}, ... A
 * bad rule is a {@link UsageException} in the command line's words ({@code --allow A --allow B},
 * not the Java method the library's own message names).
 */
public final class PolicyOptions {
  private PolicyOptions() {}

  /** The address rules: {@code --allow}, {@code --deny}, {@code --policy} and {@code --policy-max-bytes}. */
  public static final List<Option> RULES = List.of(
      Option.valued("--allow", "CIDR", "allow this address or prefix (repeatable; the most specific rule wins,"
          + " deny at a tie)"),
      Option.valued("--deny", "CIDR", "deny this address or prefix (repeatable)"),
      Option.valued("--policy", "FILE", "add the rules of FILE, one a line ('allow 10.0.0.0/8', 'deny ::1')"),
      Option.valued("--policy-max-bytes", "N", "the largest --policy FILE read (default "
          + AccessPolicy.DEFAULT_MAX_FILE_BYTES + ")"));

  /** {@code --allow-all}, for the servers: without a rule they refuse to start. */
  public static final Option ALLOW_ALL = Option.flag("--allow-all", "allow every address (0.0.0.0/0 and ::/0): an"
      + " open server, on purpose (with no rule at all the server refuses to start)");

  /** The rules on a Unix domain socket peer's credentials: {@code --allow-uid N}, {@code --deny-user NAME}, ... */
  public static final List<Option> CREDENTIAL_RULES = List.of(
      Option.valued("--allow-uid", "N", "allow a local peer whose user id is N (repeatable; --unix, --abstract)"),
      Option.valued("--deny-uid", "N", "deny a local peer whose user id is N (repeatable)"),
      Option.valued("--allow-user", "NAME", "allow a local peer running as the user NAME (repeatable)"),
      Option.valued("--deny-user", "NAME", "deny a local peer running as the user NAME (repeatable)"),
      Option.valued("--allow-gid", "N", "allow a local peer whose group id is N (repeatable)"),
      Option.valued("--deny-gid", "N", "deny a local peer whose group id is N (repeatable)"),
      Option.valued("--allow-group", "NAME", "allow a local peer in the group NAME (repeatable)"),
      Option.valued("--deny-group", "NAME", "deny a local peer in the group NAME (repeatable)"));

  /**
   * The policy the options describe: the file's rules plus every {@code --allow}/{@code --deny}
   * and, if the command accepts them, every credential rule ({@code --allow-uid N}, {@code
   * --deny-user NAME}, ...), plus {@code allow 0.0.0.0/0} and {@code allow ::/0} when {@code
   * allowAll}. The file is read as {@link AccessPolicy#load(Path, long)} reads it, up to {@code
   * --policy-max-bytes N} (default {@link AccessPolicy#DEFAULT_MAX_FILE_BYTES}).
   *
   * @param o the parsed command line
   * @param allowAll whether {@code --allow-all} (or its like) was given
   * @return the combined policy; empty if no rule was given
   * @throws UsageException for a malformed rule given as an option (the message names the option)
   * @throws IllegalArgumentException for a malformed rule in the file (the message names the line)
   * @throws IOException if the policy file cannot be read (the message starts with the path)
   */
  public static AccessPolicy policy(Options o, boolean allowAll) throws IOException {
    AccessPolicy.Builder b = AccessPolicy.builder();
    String file = o.one("--policy");
    int maxBytes = o.integer("--policy-max-bytes", 1, Integer.MAX_VALUE, (int) AccessPolicy.DEFAULT_MAX_FILE_BYTES);
    if (file != null) {
      try {
        b.rules(AccessPolicy.load(Path.of(file), maxBytes));
      } catch (IOException e) {
        String why = FileProblem.message(e);
        throw new IOException(why + (why.endsWith("limit of " + maxBytes + " bytes") ? " (--policy-max-bytes N sets it)"
            : ""), e);
      }
    }
    for (String c : o.all("--allow")) {
      b.rule(dev.portcullis.policy.Rule.allow(cidr("--allow", c)));
    }
    for (String c : o.all("--deny")) {
      b.rule(dev.portcullis.policy.Rule.deny(cidr("--deny", c)));
    }
    // Rules on Unix domain socket peers, in the policy file's words: --allow-uid 1000 is 'allow uid 1000'.
    for (String kind : new String[] {"uid", "gid", "user", "group"}) {
      for (String action : new String[] {"allow", "deny"}) {
        String option = "--" + action + "-" + kind;
        if (!o.accepts(option)) {
          continue;
        }
        for (String v : o.all(option)) {
          String text = action + " " + kind + " " + v;
          try {
            b.rule(dev.portcullis.policy.CredentialRule.parse(text));
          } catch (IllegalArgumentException e) {
            String why = e.getMessage().startsWith("'" + text + "': ")
                ? e.getMessage().substring(text.length() + 4) : e.getMessage();
            // The library speaks policy text ('uid N'); on the command line that is --allow-uid N.
            why = why.replace("'uid N'", "--" + action + "-uid N").replace("'gid N'", "--" + action + "-gid N");
            throw new UsageException(option + ": " + why);
          }
        }
      }
    }
    if (allowAll) {
      b.rules(AccessPolicy.allowAll());
    }
    return b.build();
  }

  /**
   * The prefix an option such as {@code --allow} or {@code --proxy-protocol} gives, or a usage
   * error in the command line's words: a list ({@code 10.0.0.1,10.0.0.2}) is told to be {@code
   * --allow 10.0.0.1 --allow 10.0.0.2}, and any other mistake is the parser's message after the
   * option's name.
   *
   * @param option the option, such as {@code --allow}
   * @param value its value
   * @return the prefix
   * @throws UsageException if the value is not one prefix
   */
  public static Cidr cidr(String option, String value) {
    String[] list = value.strip().split("[,;\\s]+");
    if (list.length > 1) {
      throw new UsageException(option + " '" + value + "' is a list; " + option + " takes one prefix, so repeat it: "
          + option + " " + list[0] + " " + option + " " + list[1] + (list.length > 2 ? " ..." : ""));
    }
    try {
      return Cidr.parse(value);
    } catch (IllegalArgumentException e) {
      throw new UsageException(option + ": " + e.getMessage());
    }
  }
}
