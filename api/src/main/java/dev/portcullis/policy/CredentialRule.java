package dev.portcullis.policy;

import java.util.Objects;

/**
 * A rule on the credentials of a Unix domain socket peer ({@link PeerCredentials}): {@code allow
 * uid 1000}, {@code deny gid 0}, {@code allow user alice}, {@code allow group wheel}. User and group
 * names are resolved to ids when the rule is made, from the local account files.
 *
 * <p>How a policy decides for a peer: the uid rules that match its uid decide (deny if any of them
 * denies); if none matches, the gid rules that match its primary gid decide the same way; if none
 * matches either, the policy's default for local peers does. A uid is more specific than a group,
 * as a longer prefix is more specific than a shorter one. Only the primary group ({@code
 * SO_PEERCRED}'s gid) is matched: supplementary groups would have to be read from {@code /proc}
 * after the fact, racing with the peer.
 */
public final class CredentialRule {
  /** What the rule matches. */
  public enum Kind {
    /** The peer's user id. */
    UID,
    /** The peer's primary group id. */
    GID,
    /** Every local peer: {@code allow uid *}, which {@link AccessPolicy#allowAll()} adds. */
    ANY
  }

  private final Rule.Action action;
  private final Kind kind;
  private final int id;
  private final String name;

  private CredentialRule(Rule.Action action, Kind kind, int id, String name) {
    this.action = action;
    this.kind = kind;
    this.id = id;
    this.name = name;
  }

  private static int checkId(int id, String what) {
    if (id < 0) {
      throw new IllegalArgumentException(what + " " + id + " is negative; ids are 0 or more");
    }
    return id;
  }

  /**
   * {@code allow uid N}.
   *
   * @param uid a user id, 0 or more
   * @return the rule
   * @throws IllegalArgumentException if negative
   */
  public static CredentialRule allowUid(int uid) {
    return new CredentialRule(Rule.Action.ALLOW, Kind.UID, checkId(uid, "uid"), null);
  }

  /**
   * {@code deny uid N}.
   *
   * @param uid a user id, 0 or more
   * @return the rule
   * @throws IllegalArgumentException if negative
   */
  public static CredentialRule denyUid(int uid) {
    return new CredentialRule(Rule.Action.DENY, Kind.UID, checkId(uid, "uid"), null);
  }

  /**
   * {@code allow gid N}.
   *
   * @param gid a group id, 0 or more
   * @return the rule
   * @throws IllegalArgumentException if negative
   */
  public static CredentialRule allowGid(int gid) {
    return new CredentialRule(Rule.Action.ALLOW, Kind.GID, checkId(gid, "gid"), null);
  }

  /**
   * {@code deny gid N}.
   *
   * @param gid a group id, 0 or more
   * @return the rule
   * @throws IllegalArgumentException if negative
   */
  public static CredentialRule denyGid(int gid) {
    return new CredentialRule(Rule.Action.DENY, Kind.GID, checkId(gid, "gid"), null);
  }

  /**
   * {@code allow user NAME}, resolved now from {@code /etc/passwd}.
   *
   * @param user a user name
   * @return the rule
   * @throws IllegalArgumentException if there is no such local user, naming it
   */
  public static CredentialRule allowUser(String user) {
    return new CredentialRule(Rule.Action.ALLOW, Kind.UID, Accounts.uid(Objects.requireNonNull(user, "user")), user);
  }

  /**
   * {@code deny user NAME}, resolved now from {@code /etc/passwd}.
   *
   * @param user a user name
   * @return the rule
   * @throws IllegalArgumentException if there is no such local user, naming it
   */
  public static CredentialRule denyUser(String user) {
    return new CredentialRule(Rule.Action.DENY, Kind.UID, Accounts.uid(Objects.requireNonNull(user, "user")), user);
  }

  /**
   * {@code allow group NAME}, resolved now from {@code /etc/group}; matches the primary group.
   *
   * @param group a group name
   * @return the rule
   * @throws IllegalArgumentException if there is no such local group, naming it
   */
  public static CredentialRule allowGroup(String group) {
    return new CredentialRule(Rule.Action.ALLOW, Kind.GID, Accounts.gid(Objects.requireNonNull(group, "group")), group);
  }

  /**
   * {@code deny group NAME}, resolved now from {@code /etc/group}; matches the primary group.
   *
   * @param group a group name
   * @return the rule
   * @throws IllegalArgumentException if there is no such local group, naming it
   */
  public static CredentialRule denyGroup(String group) {
    return new CredentialRule(Rule.Action.DENY, Kind.GID, Accounts.gid(Objects.requireNonNull(group, "group")), group);
  }

  /**
   * Allows every local peer; what {@link AccessPolicy#allowAll()} adds for Unix domain sockets.
   *
   * @return the rule
   */
  public static CredentialRule allowAnyLocalPeer() {
    return new CredentialRule(Rule.Action.ALLOW, Kind.ANY, 0, null);
  }

  /** Whether {@code text} is a credential rule rather than an address rule. */
  static boolean looksLike(String text) {
    String[] words = text.strip().split("[ \t]+");
    return words.length >= 2 && switch (words[1]) {
      case "uid", "gid", "user", "group" -> true;
      default -> false;
    };
  }

  /**
   * Parses {@code allow|deny uid|gid N}, {@code allow|deny user|group NAME}, or {@code allow|deny uid *}
   * (every local peer).
   *
   * @param text one rule; words separated by spaces or tabs
   * @return the rule
   * @throws IllegalArgumentException naming the text and what is wrong
   */
  public static CredentialRule parse(String text) {
    Objects.requireNonNull(text, "text");
    String[] words = text.strip().split("[ \t]+");
    if (words.length != 3) {
      throw new IllegalArgumentException("'" + text + "' is not a rule: expected 'allow|deny uid|gid N' or"
          + " 'allow|deny user|group NAME'");
    }
    boolean allow = switch (words[0]) {
      case "allow" -> true;
      case "deny" -> false;
      default -> throw new IllegalArgumentException("'" + text + "' starts with '" + words[0]
          + "'; a rule starts with 'allow' or 'deny'");
    };
    String value = words[2];
    try {
      return switch (words[1]) {
        case "uid" -> value.equals("*") ? new CredentialRule(allow ? Rule.Action.ALLOW : Rule.Action.DENY, Kind.ANY, 0, null)
            : allow ? allowUid(number(value, text)) : denyUid(number(value, text));
        case "gid" -> allow ? allowGid(number(value, text)) : denyGid(number(value, text));
        case "user" -> allow ? allowUser(value) : denyUser(value);
        case "group" -> allow ? allowGroup(value) : denyGroup(value);
        default -> throw new IllegalArgumentException("'" + words[1] + "' is not uid, gid, user or group");
      };
    } catch (IllegalArgumentException e) {
      if (e.getMessage().startsWith("'" + text + "'")) {
        throw e;
      }
      throw new IllegalArgumentException("'" + text + "': " + e.getMessage(), e);
    }
  }

  private static int number(String value, String text) {
    if (!value.matches("[0-9]+")) {
      throw new IllegalArgumentException("'" + value + "' is not a numeric id");
    }
    if (value.length() > 10 || Long.parseLong(value) > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(value + " is too large for an id");
    }
    return Integer.parseInt(value);
  }

  /**
   * Whether the rule allows or denies.
   *
   * @return the action
   */
  public Rule.Action action() {
    return action;
  }

  /**
   * What the rule matches.
   *
   * @return uid, gid, or any local peer
   */
  public Kind kind() {
    return kind;
  }

  /**
   * The user or group id matched; 0 for {@link Kind#ANY}.
   *
   * @return the id
   */
  public int id() {
    return id;
  }

  boolean matches(PeerCredentials c) {
    return switch (kind) {
      case UID -> c.uid() == id;
      case GID -> c.gid() == id;
      case ANY -> true;
    };
  }

  boolean isAllow() {
    return action == Rule.Action.ALLOW;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof CredentialRule r && r.action == action && r.kind == kind && r.id == id;
  }

  @Override
  public int hashCode() {
    return Objects.hash(action, kind, id);
  }

  /** In policy-text form: {@code allow uid 1000}, {@code deny user alice}, or {@code allow uid *} for any local peer. */
  @Override
  public String toString() {
    String a = action.keyword();
    return switch (kind) {
      case ANY -> a + " uid *";
      case UID -> name == null ? a + " uid " + id : a + " user " + name;
      case GID -> name == null ? a + " gid " + id : a + " group " + name;
    };
  }
}
