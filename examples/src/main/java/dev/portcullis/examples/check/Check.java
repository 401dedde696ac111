package dev.portcullis.examples.check;

import dev.portcullis.examples.Command;
import dev.portcullis.examples.FileProblem;
import dev.portcullis.examples.Option;
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
import java.util.List;

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
 * With {@code --hosts-allow FILE --hosts-deny FILE [--daemon NAME]} it reads TCP Wrappers files
 * instead and names the deciding line, as {@code tcpdmatch} does; {@code --print-policy} prints the
 * equivalent policy text. A malformed rule stops at once with status 2; a malformed address is reported on stderr, the
 * others are still decided, and the status is 2 at the end.
 *
 * <p>{@code --diff NEW_POLICY} prints only what NEW_POLICY would change and exits as {@code diff(1)}
 * does, so a script can tell: 0 nothing changes, 1 something changes, 2 trouble (a bad command
 * line, rule or address, or a file that cannot be read).
 */
public final class Check {
  private Check() {}

  /** The exit status of {@code --diff} when the new policy changes something, as {@code diff(1)}'s 1. */
  public static final int CHANGES = 1;

  /** The command as {@code portcullis check --help} shows it; its options are what the parser accepts. */
  public static final Command COMMAND = new Command("check",
      List.of("[--policy FILE] [--allow CIDR]... [--deny CIDR]... [ADDRESS...]",
          "--hosts-allow FILE --hosts-deny FILE [--daemon NAME] [--print-policy] [ADDRESS...]",
          "--policy FILE [rules] --diff NEW_POLICY [ADDRESS...]",
          "--crowdsec URL --crowdsec-key-file FILE --decisions"),
      "decide addresses (the arguments, or one a line on stdin) without a server: 'ADDRESS allow|deny RULE'",
      Option.concat(PolicyOptions.RULES, List.of(
          Option.valued("--hosts-allow", "FILE", "read TCP Wrappers rules from FILE, with --hosts-deny; the deciding"
              + " line is printed"),
          Option.valued("--hosts-deny", "FILE", "the TCP Wrappers deny file that goes with --hosts-allow"),
          Option.valued("--daemon", "NAME", "the daemon whose TCP Wrappers lines apply (default ALL: lines for every"
              + " daemon)"),
          Option.flag("--print-policy", "print the rules as a --policy FILE holds them, then decide any ADDRESS"),
          Option.valued("--diff", "NEW_POLICY", "print only what the policy file NEW_POLICY would change: for each"
              + " ADDRESS, or every range"),
          Option.flag("--decisions", "print the decisions the CrowdSec Local API --crowdsec URL holds now, one a line,"
              + " and which ones Portcullis enforces"),
          dev.portcullis.examples.CrowdSecOptions.URL, dev.portcullis.examples.CrowdSecOptions.KEY_FILE,
          dev.portcullis.examples.CrowdSecOptions.CA)),
      List.of("Exit status: 0 every address decided; 2 a bad command line, rule, address or unreadable file.",
          "With --diff, as diff(1): 0 nothing changes, 1 something changes, 2 trouble (as above)."));

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.check.Check ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    System.exit(run(args, System.in, System.out, System.err));
  }

  /**
   * Runs the check and returns the exit status: 0, or 2 if any input was malformed; with {@code
   * --diff}, 0 when nothing changes, {@link #CHANGES} when something does, 2 for bad input.
   *
   * @param args the command-line arguments, without the command name
   * @param in standard input
   * @param out where results go
   * @param err where errors go
   * @return the exit status: 0 on success, 2 for bad input (with {@code --diff}, 1 when something changes)
   */
  public static int run(String[] args, InputStream in, PrintStream out, PrintStream err) {
    Options o = Options.parse(args, COMMAND.options());
    if (o.has("--decisions")) {
      return decisions(o, out, err);
    }
    AccessPolicy policy;
    dev.portcullis.policy.HostsFiles hosts = null;
    try {
      if (o.one("--hosts-allow") != null || o.one("--hosts-deny") != null) {
        if (o.one("--hosts-allow") == null || o.one("--hosts-deny") == null) {
          throw new IllegalArgumentException("give both --hosts-allow FILE and --hosts-deny FILE");
        }
        hosts = dev.portcullis.policy.HostsFiles.read(java.nio.file.Path.of(o.one("--hosts-allow")),
            java.nio.file.Path.of(o.one("--hosts-deny")), o.one("--daemon") == null ? "ALL" : o.one("--daemon"));
        policy = hosts.toPolicy();
      } else {
        policy = PolicyOptions.policy(o, false);
      }
    } catch (IOException e) {
      err.println("portcullis check: " + FileProblem.message(e));
      return 2;
    } catch (IllegalArgumentException e) {
      err.println("portcullis check: " + e.getMessage());
      return 2;
    }
    if (o.has("--print-policy")) {
      // The equivalent policy, ready for --policy FILE: the migration's output.
      out.print(policy);
      out.flush();
      if (o.positional().isEmpty()) {
        return 0;
      }
    }
    if (policy.isEmpty()) {
      err.println("portcullis check: no rules; give --policy FILE, --allow CIDR or --deny CIDR");
      return 2;
    }
    if (o.one("--diff") != null) {
      return diff(policy, o, out, err);
    }
    boolean bad = false;
    if (!o.positional().isEmpty()) {
      for (String a : o.positional()) {
        bad |= !decide(policy, hosts, a, out, err);
      }
    } else {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          // As in policy files: '#' starts a comment, and blank lines are skipped.
          int hash = line.indexOf('#');
          String a = (hash >= 0 ? line.substring(0, hash) : line).strip();
          if (!a.isEmpty()) {
            bad |= !decide(policy, hosts, a, out, err);
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

  /**
   * {@code --diff NEW}: with addresses, the ones whose decision NEW changes, with both rules;
   * without, every range whose decision changes, exact. Returns as {@code diff(1)} does: 0 when
   * nothing changes, {@link #CHANGES} when something does, 2 when NEW or an address is bad (even if
   * other addresses change).
   */
  private static int diff(AccessPolicy old, Options o, PrintStream out, PrintStream err) {
    AccessPolicy candidate;
    try {
      candidate = AccessPolicy.load(java.nio.file.Path.of(o.one("--diff")),
          o.integer("--policy-max-bytes", 1, Integer.MAX_VALUE, (int) AccessPolicy.DEFAULT_MAX_FILE_BYTES));
    } catch (IOException e) {
      err.println("portcullis check: " + FileProblem.message(e));
      return 2;
    } catch (IllegalArgumentException e) {
      err.println("portcullis check: " + e.getMessage());
      return 2;
    }
    if (o.positional().isEmpty()) {
      java.util.List<dev.portcullis.policy.PolicyChange> changes = old.changesTo(candidate);
      for (dev.portcullis.policy.PolicyChange c : changes) {
        out.println(c);
      }
      out.flush();
      err.println("portcullis check: " + changes.size() + (changes.size() == 1 ? " range changes" : " ranges change"));
      return changes.isEmpty() ? 0 : CHANGES;
    }
    boolean bad = false;
    boolean changed = false;
    for (String a : o.positional()) {
      try {
        Decision before = old.decide(a);
        Decision after = candidate.decide(a);
        if (before.isAllowed() != after.isAllowed()) {
          changed = true;
          out.println(a + " " + (before.isAllowed() ? "allow" : "deny") + " -> " + (after.isAllowed() ? "allow" : "deny")
              + " (was '" + before.reason() + "', now '" + after.reason() + "')");
        }
      } catch (IllegalArgumentException e) {
        err.println("portcullis check: " + e.getMessage());
        bad = true;
      }
    }
    out.flush();
    return bad ? 2 : changed ? CHANGES : 0;
  }

  private static boolean decide(AccessPolicy policy, dev.portcullis.policy.HostsFiles hosts, String address,
      PrintStream out, PrintStream err) {
    try {
      Decision d = policy.decide(address);
      if (hosts != null) {
        // As tcpdmatch: the line that decided, from the files themselves.
        dev.portcullis.policy.HostsFiles.Verdict v = hosts.explain(dev.portcullis.policy.IpAddresses.parse(address));
        out.println(address + " " + (v.granted() ? "allow" : "deny") + " " + v.line().orElse("no match (granted)"));
        return true;
      }
      out.println(address + " " + (d.isAllowed() ? "allow" : "deny") + " " + d.reason());
      return true;
    } catch (IllegalArgumentException e) {
      err.println("portcullis check: " + e.getMessage());
      return false;
    }
  }

  /**
   * {@code --decisions}: the Local API's decisions now, soonest to end first: {@code ban Ip 192.0.2.7
   * 3h59m58s crowdsecurity/ssh-bf (cscli) enforced}. Exit status 0, 1 if the LAPI cannot be reached or
   * its answer is refused, 2 for bad input.
   */
  private static int decisions(Options o, PrintStream out, PrintStream err) {
    if (o.one("--crowdsec") == null || o.one("--crowdsec-key-file") == null) {
      throw new dev.portcullis.examples.UsageException("--decisions needs --crowdsec URL and --crowdsec-key-file FILE");
    }
    java.util.List<dev.portcullis.crowdsec.CrowdSecDecision> list;
    try {
      dev.portcullis.crowdsec.Bouncer.Builder b = dev.portcullis.crowdsec.Bouncer.builder(
          java.net.URI.create(o.one("--crowdsec"))).apiKeyFile(java.nio.file.Path.of(o.one("--crowdsec-key-file")));
      if (o.one("--crowdsec-ca") != null) {
        b.caCertificate(java.nio.file.Path.of(o.one("--crowdsec-ca")));
      }
      list = b.build().fetchDecisions();
    } catch (IllegalArgumentException e) {
      err.println("portcullis check: --crowdsec: " + e.getMessage());
      return 2;
    } catch (IOException e) {
      err.println("portcullis check: " + e.getMessage());
      return 1;
    }
    java.time.Instant now = java.time.Instant.now();
    for (dev.portcullis.crowdsec.CrowdSecDecision d : list) {
      java.time.Duration left = java.time.Duration.between(now, d.until());
      boolean enforced = d.type().equalsIgnoreCase("ban")
          && (d.scope().equalsIgnoreCase("Ip") || d.scope().equalsIgnoreCase("Range"));
      out.println(d.type() + " " + d.scope() + " " + d.value() + " "
          + dev.portcullis.policy.Durations.format(left.isNegative() ? java.time.Duration.ZERO
              : left.truncatedTo(java.time.temporal.ChronoUnit.SECONDS))
          + " " + d.scenario() + " (" + d.origin() + ") " + (enforced ? "enforced" : "ignored"));
    }
    out.flush();
    return 0;
  }
}
