package dev.portcullis.examples.check;

import dev.portcullis.examples.Options;
import dev.portcullis.examples.PolicyOptions;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Decision;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Set;

/**
 * Decides addresses against a policy without starting a server, one line per address: {@code
 * ADDRESS allow|deny RULE}, where RULE is the matching rule ({@code allow 10.0.0.0/8}) or {@code
 * default}.
 *
 * <pre>
 * portcullis check --allow 10.0.0.0/8 --deny 10.66.0.0/16 10.66.1.1 10.1.1.1
 * cat addresses.txt | portcullis check --policy office.policy
 * </pre>
 *
 * A malformed rule stops at once with status 2; a malformed address is reported on stderr, the
 * others are still decided, and the status is 2 at the end.
 */
public final class Check {
  private Check() {}

  /** {@code java -cp portcullis-examples.jar dev.portcullis.examples.check.Check ...}. */
  public static void main(String[] args) {
    System.exit(run(args, System.in, System.out, System.err));
  }

  /** Runs the check and returns the exit status: 0, or 2 if any input was malformed. */
  public static int run(String[] args, InputStream in, PrintStream out, PrintStream err) {
    Options o = Options.parse(args, PolicyOptions.VALUED, Set.of());
    AccessPolicy policy;
    try {
      policy = PolicyOptions.policy(o, false);
    } catch (IllegalArgumentException | IOException e) {
      err.println("portcullis check: " + e.getMessage());
      return 2;
    }
    if (policy.isEmpty()) {
      err.println("portcullis check: no rules; give --policy FILE, --allow CIDR or --deny CIDR");
      return 2;
    }
    boolean bad = false;
    if (!o.positional().isEmpty()) {
      for (String a : o.positional()) {
        bad |= !decide(policy, a, out, err);
      }
    } else {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          String a = line.strip();
          if (!a.isEmpty()) {
            bad |= !decide(policy, a, out, err);
          }
        }
      } catch (IOException e) {
        err.println("portcullis check: reading stdin: " + e.getMessage());
        return 2;
      }
    }
    out.flush();
    return bad ? 2 : 0;
  }

  private static boolean decide(AccessPolicy policy, String address, PrintStream out, PrintStream err) {
    try {
      Decision d = policy.decide(address);
      out.println(address + " " + (d.isAllowed() ? "allow" : "deny") + " " + d.reason());
      return true;
    } catch (IllegalArgumentException e) {
      err.println("portcullis check: " + e.getMessage());
      return false;
    }
  }
}
