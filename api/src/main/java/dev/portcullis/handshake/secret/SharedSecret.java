package dev.portcullis.handshake.secret;

import dev.portcullis.handshake.Handshake;
import dev.portcullis.handshake.HandshakeContext;
import dev.portcullis.handshake.HandshakeException;
import dev.portcullis.handshake.HandshakeStep;
import dev.portcullis.handshake.Identity;
import dev.portcullis.handshake.Lines;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * A shared-secret challenge: the server sends a fresh random nonce, and the client proves it holds
 * one of the configured keys with an HMAC-SHA256 over that nonce, naming the key by id so keys can
 * be rotated. The identity of a connection that passes is {@code shared-secret:KEY_ID}.
 *
 * <h2>Wire format (version 1)</h2>
 *
 * All lines are ASCII and end with a single {@code \n}.
 *
 * <ol>
 *   <li>Server: {@code PORTCULLIS-AUTH v1 NONCE}, where NONCE is 32 random bytes as 64 lower-case
 *       hex digits, fresh for every connection.
 *   <li>Client: {@code AUTH KEY_ID MAC}, where KEY_ID matches {@code [A-Za-z0-9._-]{1,64}} and MAC
 *       is HMAC-SHA256, keyed with the key's bytes, over the ASCII text {@code portcullis-auth v1
 *       client NONCE KEY_ID} (single spaces, NONCE exactly as received), as 64 hex digits.
 *   <li>Server: {@code OK} when the MAC is right; otherwise it closes the connection without a
 *       word. Application bytes follow {@code OK}.
 * </ol>
 *
 * A shell client, with {@code KEY} the key in hex:
 *
 * <pre>
 * exec 3&lt;&gt;/dev/tcp/127.0.0.1/7000
 * read -r _ _ nonce &lt;&amp;3
 * mac=$(printf '%s' "portcullis-auth v1 client $nonce app-1" \
 *       | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY | awk '{print $NF}')
 * printf 'AUTH app-1 %s\n' "$mac" &gt;&amp;3
 * read -r ok &lt;&amp;3     # OK
 * </pre>
 *
 * The MAC is compared in constant time, an unknown key id costs the same work as a known one, a
 * nonce is never reused, so an answer recorded from one connection fails on every other, and the
 * MAC covers a client-side label that the server never signs, so nothing the server sends can be
 * reflected back as an answer. Keys must be at least 16 bytes.
 */
public final class SharedSecret implements Handshake {
  static final String GREETING = "PORTCULLIS-AUTH v1 ";
  static final String CONTEXT = "portcullis-auth v1 client ";
  static final Pattern KEY_ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");
  /** The longest client line: "AUTH " + 64 + " " + 64 + "\n". */
  static final int MAX_LINE = 5 + 64 + 1 + 64 + 1;
  private static final byte[] OK = "OK\n".getBytes(StandardCharsets.US_ASCII);
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final byte[] DECOY_KEY = new byte[32];

  private final Map<String, byte[]> keys;

  private SharedSecret(Map<String, byte[]> keys) {
    this.keys = keys;
  }

  /**
   * A challenge accepting any of these keys.
   *
   * @param keys key id to key bytes; ids match {@code [A-Za-z0-9._-]{1,64}}, keys are at least 16
   *     bytes
   * @return the shared-secret step, holding copies of the keys
   * @throws IllegalArgumentException naming the bad id or the short key, or if there are no keys
   */
  public static SharedSecret withKeys(Map<String, byte[]> keys) {
    Objects.requireNonNull(keys, "keys");
    if (keys.isEmpty()) {
      throw new IllegalArgumentException("a shared-secret handshake needs at least one key");
    }
    Map<String, byte[]> copy = new LinkedHashMap<>();
    for (Map.Entry<String, byte[]> e : keys.entrySet()) {
      checkKey(e.getKey(), e.getValue());
      copy.put(e.getKey(), e.getValue().clone());
    }
    return new SharedSecret(copy);
  }

  /**
   * Reads keys from a file of {@code KEY_ID:HEXKEY} lines ({@code #} comments and blank lines
   * ignored), the format the launcher's {@code --secret-file} takes.
   *
   * @param file the key file, read as UTF-8
   * @return key id to key bytes, in file order; never empty
   * @throws IOException if the file cannot be read
   * @throws IllegalArgumentException whose message starts with {@code FILE:N:}
   */
  public static Map<String, byte[]> loadKeys(Path file) throws IOException {
    List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    Map<String, byte[]> keys = new LinkedHashMap<>();
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      String where = file + ":" + (i + 1) + ": ";
      int colon = line.indexOf(':');
      if (colon < 0) {
        throw new IllegalArgumentException(where + "expected KEY_ID:HEXKEY, got a line without ':'");
      }
      String id = line.substring(0, colon);
      byte[] key;
      try {
        key = HexFormat.of().parseHex(line.substring(colon + 1));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(where + "the key of '" + id + "' is not hexadecimal");
      }
      try {
        checkKey(id, key);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(where + e.getMessage());
      }
      if (keys.put(id, key) != null) {
        throw new IllegalArgumentException(where + "key id '" + id + "' appears twice");
      }
    }
    if (keys.isEmpty()) {
      throw new IllegalArgumentException(file + ": no keys");
    }
    return keys;
  }

  static void checkKey(String id, byte[] key) {
    Objects.requireNonNull(id, "key id");
    Objects.requireNonNull(key, "key");
    if (!KEY_ID.matcher(id).matches()) {
      throw new IllegalArgumentException("key id '" + id + "' must match [A-Za-z0-9._-]{1,64}");
    }
    if (key.length < 16) {
      throw new IllegalArgumentException("key '" + id + "' is " + key.length + " bytes; at least 16 are required");
    }
  }

  /** The MAC a client sends for this nonce (as received, hex) and key. */
  static byte[] mac(byte[] key, String nonceHex, String keyId) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      return mac.doFinal((CONTEXT + nonceHex + " " + keyId).getBytes(StandardCharsets.US_ASCII));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is not available in this JDK", e);
    }
  }

  /** {@code shared-secret}. */
  @Override
  public String name() {
    return "shared-secret";
  }

  @Override
  public HandshakeStep newStep() {
    return new HandshakeStep() {
      private String nonce;

      @Override
      public Progress begin(HandshakeContext context) {
        byte[] raw = new byte[32];
        RANDOM.nextBytes(raw);
        nonce = HexFormat.of().formatHex(raw);
        context.write(ByteBuffer.wrap((GREETING + nonce + "\n").getBytes(StandardCharsets.US_ASCII)));
        return Progress.NEED_MORE;
      }

      @Override
      public Progress onInput(ByteBuffer input, HandshakeContext context) throws HandshakeException {
        int end = Lines.indexOfNewline(input);
        if (end < 0) {
          if (input.remaining() >= MAX_LINE) {
            throw new HandshakeException("shared-secret answer longer than " + MAX_LINE + " bytes");
          }
          return Progress.NEED_MORE;
        }
        if (end - input.position() + 1 > MAX_LINE) {
          throw new HandshakeException("shared-secret answer longer than " + MAX_LINE + " bytes");
        }
        String line = Lines.take(input, end);
        String[] parts = line.split(" ", -1);
        if (parts.length != 3 || !parts[0].equals("AUTH") || !KEY_ID.matcher(parts[1]).matches()
            || parts[2].length() != 64) {
          throw new HandshakeException("malformed shared-secret answer (expected 'AUTH KEY_ID MAC')");
        }
        byte[] given;
        try {
          given = HexFormat.of().parseHex(parts[2]);
        } catch (IllegalArgumentException e) {
          throw new HandshakeException("shared-secret MAC is not hexadecimal");
        }
        byte[] key = keys.get(parts[1]);
        // An unknown id costs the same HMAC as a known one, so timing does not tell which ids exist.
        byte[] expected = mac(key != null ? key : DECOY_KEY, nonce, parts[1]);
        if (!MessageDigest.isEqual(expected, given) || key == null) {
          throw new HandshakeException("shared-secret MAC does not match for key id '" + parts[1] + "'");
        }
        context.identity(Identity.of("shared-secret", parts[1]));
        context.write(ByteBuffer.wrap(OK));
        return Progress.DONE;
      }
    };
  }

  @Override
  public String toString() {
    return "shared-secret with key ids " + keys.keySet();
  }
}
