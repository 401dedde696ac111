package dev.portcullis.examples;

import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;

/** The policy options shared by the launcher's commands: {@code --policy}, {@code --allow}, ... */
public final class PolicyOptions {
  private PolicyOptions() {}

  /** The option names that take a value. */
  public static final Set<String> VALUED = Set.of("--policy", "--allow", "--deny");

  /**
   * The policy the options describe: the file's rules plus every {@code --allow}/{@code --deny},
   * plus {@code allow 0.0.0.0/0} and {@code allow ::/0} when {@code allowAll}.
   *
   * @throws IllegalArgumentException for a malformed rule (the message names it)
   * @throws IOException if the policy file cannot be read
   */
  public static AccessPolicy policy(Options o, boolean allowAll) throws IOException {
    AccessPolicy.Builder b = AccessPolicy.builder();
    String file = o.one("--policy");
    if (file != null) {
      try {
        b.rules(AccessPolicy.load(Path.of(file)));
      } catch (java.nio.file.NoSuchFileException e) {
        throw new IOException("cannot read policy file " + file + ": no such file", e);
      } catch (java.nio.file.AccessDeniedException e) {
        throw new IOException("cannot read policy file " + file + ": permission denied", e);
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
    if (allowAll) {
      b.rules(AccessPolicy.allowAll());
    }
    return b.build();
  }
}
