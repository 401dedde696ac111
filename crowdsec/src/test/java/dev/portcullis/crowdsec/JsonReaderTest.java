package dev.portcullis.crowdsec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonReaderTest {
  private static Object read(String json, JsonReader.Limits limits) throws IOException {
    JsonReader r = new JsonReader(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), limits);
    Object v = r.readValue();
    r.end();
    return v;
  }

  private static Object read(String json) throws IOException {
    return read(json, new JsonReader.Limits(1 << 20, 8, 100, 1000));
  }

  private static String refusal(String json) {
    return assertThrows(JsonReader.JsonException.class, () -> read(json)).getMessage();
  }

  @Test
  void readsObjectsArraysStringsNumbersAndLiterals() throws IOException {
    assertEquals(Map.of("a", List.of(new BigDecimal("1"), new BigDecimal("-2.5e3"), true, false),
        "é\n😀", "x\"/\\"), read(" {\"a\":[1,-2.5e3,true,false],\"\\u00e9\\n\\ud83d\\ude00\":\"x\\\"\\/\\\\\"} "));
    assertEquals(null, read("null"));
    assertEquals("héllo", read("\"héllo\""));
  }

  @Test
  void refusesMalformedInputNamingTheByte() {
    assertEquals("invalid JSON at byte 3: expected a value, found ']'", refusal("[1,]"));
    assertEquals("invalid JSON at byte 7: expected a member name, found '}'", refusal("{\"a\":1,}"));
    assertEquals("invalid JSON at byte 2: a number with a leading zero", refusal("01"));
    assertEquals("invalid JSON at byte 2: unexpected '2' after the document", refusal("1 2"));
    assertEquals("invalid JSON at byte 6: member \"a\" repeated", refusal("{\"a\":1,\"a\":2}"));
    assertEquals("invalid JSON at byte 8: an unpaired surrogate", refusal("\"\\ud83d\""));
    assertEquals("invalid JSON at byte 2: a control character in a string", refusal("\"\n\""));
    assertEquals("invalid JSON at byte 3: expected 'true', found the end", refusal("tru"));
    assertEquals("invalid JSON at byte 2: a string not closed", refusal("\"a"));
    byte[] latin1 = {'"', (byte) 0xe9, '"'};
    assertEquals("invalid JSON at byte 3: a string that is not UTF-8", assertThrows(JsonReader.JsonException.class,
        () -> new JsonReader(new ByteArrayInputStream(latin1), new JsonReader.Limits(100, 2, 10, 10)).readValue())
        .getMessage());
  }

  @Test
  void refusesPastEachBound() {
    JsonReader.Limits tight = new JsonReader.Limits(32, 3, 5, 6);
    assertEquals("invalid JSON at byte 3: nested deeper than 3",
        assertThrows(IOException.class, () -> read("[[[[1]]]]", tight)).getMessage());
    assertEquals("invalid JSON at byte 7: a string longer than 5 characters",
        assertThrows(IOException.class, () -> read("\"abcdef\"", tight)).getMessage());
    assertEquals("invalid JSON at byte 11: more than 6 values",
        assertThrows(IOException.class, () -> read("[1,2,3,4,5,6]", tight)).getMessage());
    assertEquals("JSON answer longer than 32 bytes: refused at byte 32",
        assertThrows(IOException.class, () -> read("\"" + "a".repeat(40) + "\"", tight)).getMessage());
  }
}
