package dev.portcullis;

import java.net.SocketAddress;
import java.util.Objects;

/**
 * The address of a Linux abstract Unix domain socket: a name with no file behind it, which the
 * JDK's {@link java.net.UnixDomainSocketAddress} cannot express. Shown as {@code @name}, as
 * {@code ss -x} shows it.
 */
public final class AbstractSocketAddress extends SocketAddress {
  private static final long serialVersionUID = 1L;

  /** The name, without the leading NUL byte. */
  private final String name;

  /**
   * An abstract address.
   *
   * @param name the name, without the leading NUL byte
   */
  public AbstractSocketAddress(String name) {
    this.name = Objects.requireNonNull(name, "name");
  }

  /**
   * The name, without the leading NUL byte.
   *
   * @return the name
   */
  public String name() {
    return name;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof AbstractSocketAddress a && a.name.equals(name);
  }

  @Override
  public int hashCode() {
    return name.hashCode();
  }

  /** {@code @name}. */
  @Override
  public String toString() {
    return "@" + name;
  }
}
