package dev.portcullis.handshake;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Line helpers for handshake steps that speak a line protocol: find a {@code \n} in what has
 * arrived, take the line out, and quote what a peer sent without letting control bytes into a
 * log.
 *
 * <pre>{@code
 * int end = Lines.indexOfNewline(input);
 * if (end < 0) return HandshakeStep.Progress.NEED_MORE;
 * String line = Lines.take(input, end);
 * }</pre>
 */
public final class Lines {
  private Lines() {}

  /**
   * The index of the first {@code \n} between the buffer's position and limit, or -1.
   *
   * @param input a buffer; its position is not changed
   * @return the absolute index of the first {@code \n}, or -1 if there is none
   */
  public static int indexOfNewline(ByteBuffer input) {
    for (int i = input.position(); i < input.limit(); i++) {
      if (input.get(i) == '\n') {
        return i;
      }
    }
    return -1;
  }

  /**
   * Consumes the bytes up to and including the {@code \n} at {@code newlineIndex} and returns them
   * as UTF-8 text without the line ending ({@code \n} or {@code \r\n}).
   *
   * @param input the buffer; its position is moved just past the {@code \n}
   * @param newlineIndex the absolute index of a {@code \n}, as {@link #indexOfNewline} returns
   * @return the line, without its ending
   */
  public static String take(ByteBuffer input, int newlineIndex) {
    int start = input.position();
    int end = newlineIndex;
    if (end > start && input.get(end - 1) == '\r') {
      end--;
    }
    byte[] bytes = new byte[end - start];
    input.get(bytes);
    input.position(newlineIndex + 1);
    return new String(bytes, StandardCharsets.UTF_8);
  }

  /**
   * At most 80 characters of {@code s}, control characters escaped ({@code \x1b}) and a longer
   * text cut with {@code ...}: safe to quote in a message or a log line.
   *
   * @param s what a peer sent
   * @return the quotable text
   */
  public static String printable(String s) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < s.length() && i < 80; i++) {
      char c = s.charAt(i);
      sb.append(c < 0x20 || c == 0x7f ? String.format("\\x%02x", (int) c) : String.valueOf(c));
    }
    return s.length() > 80 ? sb + "..." : sb.toString();
  }

}
