package dev.portcullis.handshake.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.portcullis.handshake.HandshakeException;
import java.nio.ByteBuffer;

/**
 * The PROXY protocol parser under Jazzer. In a normal {@code mvn verify} this replays the seed
 * corpus in {@code ProxyHeaderParserFuzzTestInputs/parse/} (v1 and v2 headers of every family,
 * TLVs with a CRC32C, truncated and unterminated ones); {@code JAZZER_FUZZ=1 mvn -pl api test
 * -Dtest=ProxyHeaderParserFuzzTest} fuzzes it, coverage-guided, for as long as {@code
 * maxDuration} says. Any exception other than {@link HandshakeException} is a finding, and so is
 * a broken invariant: the parser never consumes more than its input, consumes nothing while it
 * waits for more, and refuses with a message.
 */
class ProxyHeaderParserFuzzTest {
  @FuzzTest(maxDuration = "5m")
  void parse(byte[] data) {
    ByteBuffer in = ByteBuffer.wrap(data).asReadOnlyBuffer();
    try {
      ProxyHeader header = ProxyHeaderParser.parse(in);
      assertTrue(in.position() <= data.length, "consumed more than the input");
      if (header == null) {
        assertEquals(0, in.position(), "waiting for more must consume nothing");
        assertTrue(data.length < ProxyHeaderParser.V2_SIGNATURE.length + 4 + 65535,
            "a header that can never complete must be refused, not waited for");
      } else {
        assertTrue(in.position() > 0, "a parsed header consumed its bytes");
      }
    } catch (HandshakeException refused) {
      assertFalse(refused.getMessage() == null || refused.getMessage().isBlank(), "a refusal says why");
    }
  }
}
