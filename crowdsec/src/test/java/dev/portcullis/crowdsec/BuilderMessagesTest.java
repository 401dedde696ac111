package dev.portcullis.crowdsec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.URI;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** A bad duration given to a builder is quoted as people write it ({@code 50ms}), not {@code PT0.05S}. */
class BuilderMessagesTest {
  @Test
  void aBadDurationIsQuotedAsPeopleWriteIt() {
    Bouncer.Builder b = Bouncer.builder(URI.create("http://127.0.0.1:1"));
    assertEquals("a poll interval is at least 100ms: 50ms",
        assertThrows(IllegalArgumentException.class, () -> b.pollInterval(Duration.ofMillis(50))).getMessage());
    assertEquals("a request timeout is positive: -5s",
        assertThrows(IllegalArgumentException.class, () -> b.requestTimeout(Duration.ofSeconds(-5))).getMessage());
  }
}
