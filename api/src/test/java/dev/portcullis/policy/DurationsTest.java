package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class DurationsTest {
  @ParameterizedTest
  @CsvSource({
      "PT5S, 5s",
      "PT1M, 1m",
      "PT1M30S, 1m30s",
      "PT0.25S, 250ms",
      "PT1H, 1h",
      "PT48H, 2d",
      "PT25H1S, 1d1h1s",
      "PT1.5S, 1s500ms",
      "PT0.000001S, 1us",
      "PT0.000000001S, 1ns",
      "PT1.000000001S, 1s1ns",
      "PT0S, 0s",
      "PT-5S, -5s",
      "PT-1.5S, -1s500ms",
      "PT-0.000000001S, -1ns",
  })
  void writesTheLargestUnitsThatKeepItExact(String iso, String text) {
    assertEquals(text, Durations.format(Duration.parse(iso)));
  }

  @ParameterizedTest
  @ValueSource(strings = {"5s", "1m", "1m30s", "250ms", "1h", "2d", "1d1h1s", "1s500ms", "1us", "1ns", "0s", "-5s",
      "-1s500ms", "10s"})
  void readsBackWhatItWrites(String text) {
    assertEquals(text, Durations.format(Durations.parse(text)));
  }

  @Test
  void roundTripsEveryDurationIncludingTheExtremes() {
    Random random = new Random(21);
    for (int i = 0; i < 10_000; i++) {
      Duration d = Duration.ofSeconds(random.nextLong() >> random.nextInt(64), random.nextInt(1_000_000_000));
      assertEquals(d, Durations.parse(Durations.format(d)), d::toString);
    }
    for (Duration d : new Duration[] {Duration.ZERO, Duration.ofNanos(1), Duration.ofNanos(-1),
        Duration.ofSeconds(Long.MAX_VALUE, 999_999_999), Duration.ofSeconds(Long.MIN_VALUE)}) {
      assertEquals(d, Durations.parse(Durations.format(d)), d::toString);
    }
  }

  @ParameterizedTest
  @CsvSource({"90s, PT1M30S", "1500ms, PT1.5S", "0, PT0S", "-0, PT0S", "1h90m, PT2H30M"})
  void readsAmountsAboveAUnitsRange(String text, String iso) {
    assertEquals(Duration.parse(iso), Durations.parse(text));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "-", "5", "s", "5 s", "5S", "PT5S", "1.5s", "+5s", "5x", "30s1m", "1s1s", "5s ",
      "1m-5s", "99999999999999999999s", "106751991167301d"})
  void refusesWhatItDoesNotWriteQuotingTheInput(String text) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Durations.parse(text));
    assertTrue(e.getMessage().startsWith("'" + text + "'"), e.getMessage());
  }
}
