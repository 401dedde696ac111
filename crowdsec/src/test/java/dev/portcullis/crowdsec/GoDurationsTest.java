package dev.portcullis.crowdsec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class GoDurationsTest {
  @Test
  void readsWhatCrowdSecWrites() {
    assertEquals(Duration.ofHours(3).plusMinutes(59).plusSeconds(58).plusMillis(123),
        GoDurations.parse("3h59m58.123s"));
    assertEquals(Duration.ofNanos(-10_769_664), GoDurations.parse("-10.769664ms"));
    assertEquals(Duration.ofNanos(1_500), GoDurations.parse("1.5µs"));
    assertEquals(Duration.ofNanos(250_000), GoDurations.parse("250us"));
    assertEquals(Duration.ZERO, GoDurations.parse("0"));
    assertEquals(Duration.ZERO, GoDurations.parse("0s"));
    assertEquals(Duration.ofMinutes(90), GoDurations.parse("1h30m"));
  }

  @Test
  void refusesOtherTextNamingIt() {
    assertEquals("not a duration: \"10\" (a number without a unit)",
        assertThrows(IllegalArgumentException.class, () -> GoDurations.parse("10")).getMessage());
    assertEquals("not a duration: \"3d\" (unknown unit \"d\")",
        assertThrows(IllegalArgumentException.class, () -> GoDurations.parse("3d")).getMessage());
    assertEquals("not a duration: \"h\" (a unit without a number)",
        assertThrows(IllegalArgumentException.class, () -> GoDurations.parse("h")).getMessage());
    assertThrows(IllegalArgumentException.class, () -> GoDurations.parse("1.2.3s"));
    assertThrows(IllegalArgumentException.class, () -> GoDurations.parse("9999999999h"));
    assertThrows(IllegalArgumentException.class, () -> GoDurations.parse(""));
  }

  @Test
  void writesWholeSecondsTheLapiReads() {
    assertEquals("600s", GoDurations.format(Duration.ofMinutes(10)));
    assertEquals("2s", GoDurations.format(Duration.ofMillis(1500)));
    assertEquals("1s", GoDurations.format(Duration.ZERO));
  }
}
