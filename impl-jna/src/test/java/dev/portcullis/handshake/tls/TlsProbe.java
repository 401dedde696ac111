package dev.portcullis.handshake.tls;

/** Test access to what {@link TlsChannel} keeps package-private. */
public final class TlsProbe {
  private TlsProbe() {}

  /**
   * The most ciphertext any TLS connection in this JVM has had waiting for its peer.
   *
   * @return bytes
   */
  public static long owedHighWater() {
    return TlsChannel.OWED_HIGH_WATER.get();
  }

  /**
   * How many times a TLS connection stopped reading because its peer did not take its output.
   *
   * @return a count
   */
  public static long readsPaused() {
    return TlsChannel.READS_PAUSED.sum();
  }

  /**
   * The documented most a TLS connection owes its peer.
   *
   * @return bytes
   */
  public static long maxOwed() {
    return TlsChannel.MAX_OWED;
  }
}
