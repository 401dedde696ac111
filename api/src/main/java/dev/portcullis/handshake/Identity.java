package dev.portcullis.handshake;

import java.util.Objects;

/**
 * Who a peer proved to be during the handshake: a key id, a certificate subject, a Unix user.
 * {@link #kind()} says which step established it, {@link #name()} the identity itself.
 */
public interface Identity {
  /**
   * Which kind of identity this is, such as {@code shared-secret} or {@code tls}.
   *
   * @return the kind, never null
   */
  String kind();

  /**
   * The identity itself, such as a key id or a certificate subject.
   *
   * @return the name, never null
   */
  String name();

  /**
   * A plain identity of a kind and a name.
   *
   * @param kind which kind of identity, such as {@code shared-secret}
   * @param name the identity itself, such as a key id
   * @return an identity whose {@code toString()} is {@code kind:name}
   * @throws NullPointerException if either is null
   */
  static Identity of(String kind, String name) {
    return new Simple(Objects.requireNonNull(kind, "kind"), Objects.requireNonNull(name, "name"));
  }

  /**
   * The value type behind {@link #of}.
   *
   * @param kind which kind of identity
   * @param name the identity itself
   */
  record Simple(String kind, String name) implements Identity {
    /** {@code kind:name}. */
    @Override
    public String toString() {
      return kind + ":" + name;
    }
  }
}
