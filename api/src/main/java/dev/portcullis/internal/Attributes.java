package dev.portcullis.internal;

import java.util.Map;
import java.util.Optional;

/** Values handshake steps attach to a connection, keyed by type; immutable, usually empty. */
final class Attributes {
  static final Attributes NONE = new Attributes(Map.of());

  private final Map<Class<?>, Object> values;

  private Attributes(Map<Class<?>, Object> values) {
    this.values = values;
  }

  <T> Attributes with(Class<T> type, T value) {
    java.util.HashMap<Class<?>, Object> copy = new java.util.HashMap<>(values);
    copy.put(java.util.Objects.requireNonNull(type, "type"), type.cast(java.util.Objects.requireNonNull(value, "value")));
    return new Attributes(Map.copyOf(copy));
  }

  <T> Optional<T> get(Class<T> type) {
    return Optional.ofNullable(type.cast(values.get(type)));
  }
}
