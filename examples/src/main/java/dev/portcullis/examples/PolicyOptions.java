package dev.portcullis.examples;

import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;

/** The policy options shared by the launcher's commands: {@code --policy}, {@code --allow}, ... */
public final class PolicyOptions {
  private PolicyOptions() {}

  /** The option names that take a value. */
  public static final Set<String> VALUED = Set.of("--policy", "--policy-max-bytes", "--allow", "--deny", "--allow-uid",
      "--deny-uid", "--allow-gid", "--deny-gid", "--allow-user", "--deny-user", "--allow-group", "--deny-group");

  /**
   * The policy the options describe: the file's rules plus every {@code --allow}/{@code --deny}
   * and every credential rule ({@code --allow-uid N}, {@code --deny-user NAME}, ...),
   * plus {@code allow 0.0.0.0/0} and {@code allow ::/0} when {@code allowAll}. The file is read
   * as {@link AccessPolicy#load(Path, long)} reads it, up to {@code --policy-max-bytes N} (default
   * {@link AccessPolicy#DEFAULT_MAX_FILE_BYTES}).
   *
   * @param o the parsed command line
   * @param allowAll whether {@code --allow-all} (or its like) was given
   * @return the combined policy; empty if no rule was given
   * @throws IllegalArgumentException for a malformed rule (the message names it)
   * @throws IOException if the policy file cannot be read
   */
  public static AccessPolicy policy(Options o, boolean allowAll) throws IOException {
    AccessPolicy.Builder b = AccessPolicy.builder();
    String file = o.one("--policy");
    int maxBytes = o.integer("--policy-max-bytes", 1, Integer.MAX_VALUE, (int) AccessPolicy.DEFAULT_MAX_FILE_BYTES);
    if (file != null) {
      try {
        b.rules(AccessPolicy.load(Path.of(file), maxBytes));
      } catch (java.nio.file.NoSuchFileException e) {
        throw new IOException("cannot read policy file " + file + ": no such file", e);
      } catch (java.nio.file.AccessDeniedException e) {
        throw new IOException("cannot read policy file " + file + ": permission denied", e);
      } catch (java.nio.file.FileSystemException e) {
        // The loader's refusals (not a regular file, too large, not UTF-8) say why in the reason.
        String why = e.getReason() == null ? e.getMessage() : e.getReason();
        throw new IOException("cannot read policy file " + file + ": " + why
            + (why.endsWith("limit of " + maxBytes + " bytes") ? " (--policy-max-bytes N sets it)" : ""), e);
      } catch (IOException e) {
        throw new IOException("cannot read policy file " + file + ": " + e.getMessage(), e);
      }
    }
    for (String c : o.all("--allow")) {
      b.allow(c);
    }
    for (String c : o.all("--deny")) {
      b.deny(c);
    }
    // Rules on Unix domain socket peers, in the policy file's words: --allow-uid 1000 is 'allow uid 1000'.
    for (String kind : new String[] {"uid", "gid", "user", "group"}) {
      for (String action : new String[] {"allow", "deny"}) {
        for (String v : o.all("--" + action + "-" + kind)) {
          b.rule(dev.portcullis.policy.CredentialRule.parse(action + " " + kind + " " + v));
        }
      }
    }
    if (allowAll) {
      b.rules(AccessPolicy.allowAll());
    }
    return b.build();
  }
}
