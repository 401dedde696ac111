package dev.portcullis.policy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * User and group names from the local account files, {@code /etc/passwd} and {@code /etc/group}.
 * Other name services (LDAP, SSSD) are not consulted: the api module calls no native code, and a
 * rule should not change meaning with a directory server's mood. Use numeric ids for those.
 */
public final class Accounts {
  static final Path PASSWD = Path.of("/etc/passwd");
  static final Path GROUP = Path.of("/etc/group");

  private Accounts() {}

  /**
   * The uid of a local user.
   *
   * @param user a user name from {@code /etc/passwd}
   * @return its uid
   * @throws IllegalArgumentException if there is no such user, naming it and the file
   */
  public static int uid(String user) {
    return lookup(PASSWD, user, "user");
  }

  /**
   * The gid of a local group.
   *
   * @param group a group name from {@code /etc/group}
   * @return its gid
   * @throws IllegalArgumentException if there is no such group, naming it and the file
   */
  public static int gid(String group) {
    return lookup(GROUP, group, "group");
  }

  private static int lookup(Path file, String name, String what) {
    if (name.isEmpty() || name.contains(":") || name.chars().anyMatch(Character::isWhitespace)) {
      throw new IllegalArgumentException("'" + name + "' is not a " + what + " name");
    }
    List<String> lines;
    try {
      lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot look up " + what + " '" + name + "': " + file + " is unreadable ("
          + e.getMessage() + ")", e);
    }
    for (String line : lines) {
      String[] f = line.split(":", -1);
      if (f.length >= 3 && f[0].equals(name)) {
        try {
          return Integer.parseInt(f[2]);
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException(file + " has a malformed entry for " + what + " '" + name + "'");
        }
      }
    }
    throw new IllegalArgumentException("no " + what + " '" + name + "' in " + file + " (names are looked up in"
        + " the local account files only; for accounts from LDAP or other name services use '"
        + (what.equals("user") ? "uid" : "gid") + " N')");
  }
}
