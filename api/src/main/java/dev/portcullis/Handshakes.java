package dev.portcullis;

import dev.portcullis.handshake.Handshake;
import dev.portcullis.handshake.HandshakeContext;
import dev.portcullis.handshake.HandshakeException;
import dev.portcullis.handshake.HandshakeStep;
import dev.portcullis.handshake.Lines;
import dev.portcullis.handshake.proxy.ProxyProtocol;
import dev.portcullis.handshake.secret.SharedSecret;
import dev.portcullis.handshake.secret.SharedSecretClient;
import dev.portcullis.handshake.tls.Tls;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * The built-in handshake steps, and helpers for writing line-based steps of your own.
 *
 * <pre>{@code
 * Server.on(7000)
 *     .allow("127.0.0.1")
 *     .handshake(Handshakes.greeting("portcullis ready"))  // server speaks first
 *     .handshake(Handshakes.expectLine("HELLO"))            // client must answer HELLO
 *     .handle(conn -> ...)
 *     .start();
 * }</pre>
 */
public final class Handshakes {
  private Handshakes() {}

  /**
   * The PROXY protocol, v1 and v2, accepted only from the proxies given to {@link
   * ProxyProtocol#trustedFrom}; see {@link ProxyProtocol}. By default every connection must come
   * from a trusted proxy and begin with a header; {@link ProxyProtocol#optional()} serves a mixed
   * port, where health checks and direct clients send none:
   *
   * <pre>{@code
   * Handshakes.proxyProtocol().trustedFrom("10.0.0.1/32")             // a header from 10.0.0.1, always
   * Handshakes.proxyProtocol().trustedFrom("10.0.0.1/32").optional()  // honoured from 10.0.0.1 if sent
   * }</pre>
   *
   * @return a PROXY protocol step that trusts no proxy yet; {@code Server.start()} refuses it
   *     until {@link ProxyProtocol#trustedFrom} names one
   */
  public static ProxyProtocol proxyProtocol() {
    return ProxyProtocol.create();
  }

  /**
   * TLS 1.3/1.2 with the server certificate chain and private key read from PEM files, as {@code
   * openssl} writes them; see {@link Tls}.
   *
   * @param certificateChain PEM file: the server certificate first, then any intermediates
   * @param privateKey PEM file: the certificate's unencrypted private key, PKCS#8 ({@code BEGIN
   *     PRIVATE KEY}) or PKCS#1 ({@code BEGIN RSA PRIVATE KEY})
   * @return the TLS step, with no client certificate required yet
   * @throws java.io.IOException if a file cannot be read
   * @throws IllegalArgumentException if a file holds no usable certificate or key, or the key does
   *     not belong to the certificate; the message names the file
   */
  public static Tls tls(java.nio.file.Path certificateChain, java.nio.file.Path privateKey)
      throws java.io.IOException {
    return Tls.fromPem(certificateChain, privateKey);
  }

  /**
   * TLS 1.3/1.2 with the server's key and certificate chain taken from a key store; see {@link Tls}.
   *
   * @param keyStore a store with the server's private key entry
   * @param password the key entry's password
   * @return the TLS step, with no client certificate required yet
   * @throws IllegalArgumentException if the store has no usable private key entry
   */
  public static Tls tls(java.security.KeyStore keyStore, char[] password) {
    return Tls.fromKeyStore(keyStore, password);
  }

  /**
   * A shared-secret challenge-response (HMAC-SHA256 over a fresh nonce, keys named by id); see
   * {@link SharedSecret} for the wire format and {@link SharedSecretClient} for the client side.
   *
   * @param keys key id to key bytes, at least one; see {@link SharedSecret#withKeys}
   * @return the shared-secret step
   * @throws IllegalArgumentException for a bad key id or a key shorter than 16 bytes, or no keys
   */
  public static SharedSecret sharedSecret(java.util.Map<String, byte[]> keys) {
    return SharedSecret.withKeys(keys);
  }

  /**
   * The server sends {@code line} followed by {@code \n} and goes on without waiting.
   *
   * @param line the greeting, without a line ending
   * @return the greeting step, named {@code greeting}
   * @throws IllegalArgumentException if the line contains a CR or LF
   */
  public static Handshake greeting(String line) {
    checkLine(line);
    byte[] bytes = (line + "\n").getBytes(StandardCharsets.UTF_8);
    return Handshake.of("greeting", () -> new HandshakeStep() {
      @Override
      public Progress begin(HandshakeContext context) {
        context.write(ByteBuffer.wrap(bytes));
        return Progress.DONE;
      }

      @Override
      public Progress onInput(ByteBuffer input, HandshakeContext context) {
        return Progress.DONE;
      }
    });
  }

  /**
   * The client must send exactly {@code line}, ended by {@code \n} or {@code \r\n}, before the
   * deadline; anything else closes the connection. Bytes after the line are kept for the next step
   * or the handler.
   *
   * @param line the line the client must send, without a line ending
   * @return the step, named {@code expect-line}
   * @throws IllegalArgumentException if the line contains a CR or LF, or is longer than 1024 bytes
   */
  public static Handshake expectLine(String line) {
    checkLine(line);
    byte[] expected = line.getBytes(StandardCharsets.UTF_8);
    if (expected.length > 1024) {
      throw new IllegalArgumentException("expected line is " + expected.length + " bytes; at most 1024");
    }
    return Handshake.of("expect-line", () -> (input, context) -> {
      int end = Lines.indexOfNewline(input);
      if (end < 0) {
        if (input.remaining() > expected.length + 1) {
          throw new HandshakeException("expected the line '" + line + "', got " + input.remaining()
              + " bytes without a newline");
        }
        return HandshakeStep.Progress.NEED_MORE;
      }
      String got = Lines.take(input, end);
      if (!got.equals(line)) {
        throw new HandshakeException("expected the line '" + line + "', got '" + Lines.printable(got) + "'");
      }
      return HandshakeStep.Progress.DONE;
    });
  }

  private static void checkLine(String line) {
    Objects.requireNonNull(line, "line");
    if (line.indexOf('\n') >= 0 || line.indexOf('\r') >= 0) {
      throw new IllegalArgumentException("line must not contain CR or LF: '" + Lines.printable(line) + "'");
    }
  }
}
