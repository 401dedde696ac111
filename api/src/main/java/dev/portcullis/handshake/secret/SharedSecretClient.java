package dev.portcullis.handshake.secret;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ProtocolException;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/**
 * The client side of {@link SharedSecret}, over any pair of blocking streams.
 *
 * <pre>{@code
 * try (Socket s = new Socket("10.0.0.7", 7000)) {
 *     SharedSecretClient.authenticate(s.getInputStream(), s.getOutputStream(), "app-1", key);
 *     s.getOutputStream().write(request);   // the server has said OK
 * }
 * }</pre>
 */
public final class SharedSecretClient {
  private SharedSecretClient() {}

  /**
   * Answers the server's challenge and waits for its {@code OK}. Reads exactly the server's lines,
   * so the streams are positioned at the first application byte afterwards.
   *
   * @param in the stream from the server
   * @param out the stream to the server; flushed after the answer
   * @param keyId the id of the key, as the server knows it
   * @param key the key bytes, at least 16
   * @throws ProtocolException if the server's greeting is malformed, or it answers other than
   *     {@code OK}
   * @throws IOException if the server closes the connection (a wrong key) or the stream fails
   * @throws IllegalArgumentException if the key id or key is unacceptable
   */
  public static void authenticate(InputStream in, OutputStream out, String keyId, byte[] key) throws IOException {
    SharedSecret.checkKey(keyId, key);
    String greeting = readLine(in, "the server closed the connection before its greeting: it refused this client"
        + " before any handshake (its address, a limit, or the penalty box?)");
    if (!greeting.startsWith(SharedSecret.GREETING)) {
      throw new ProtocolException("not a Portcullis shared-secret greeting: '" + greeting + "'");
    }
    String nonce = greeting.substring(SharedSecret.GREETING.length());
    if (!nonce.matches("[0-9a-f]{64}")) {
      throw new ProtocolException("malformed nonce in the server's greeting: '" + nonce + "'");
    }
    String mac = HexFormat.of().formatHex(SharedSecret.mac(key, nonce, keyId));
    out.write(("AUTH " + keyId + " " + mac + "\n").getBytes(StandardCharsets.US_ASCII));
    out.flush();
    String answer = readLine(in);
    if (!answer.equals("OK")) {
      throw new ProtocolException("the server answered '" + answer + "' instead of OK");
    }
  }

  /** Reads one line byte by byte, so nothing after it is consumed; at most 256 bytes. */
  private static String readLine(InputStream in) throws IOException {
    return readLine(in, "the server closed the connection during the shared-secret handshake (wrong key or key id?)");
  }

  private static String readLine(InputStream in, String atEndOfStream) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    while (true) {
      int b = in.read();
      if (b < 0) {
        throw new IOException(atEndOfStream);
      }
      if (b == '\n') {
        return line.toString(StandardCharsets.US_ASCII);
      }
      if (line.size() >= 256) {
        throw new ProtocolException("the server's handshake line is longer than 256 bytes");
      }
      line.write(b);
    }
  }
}
