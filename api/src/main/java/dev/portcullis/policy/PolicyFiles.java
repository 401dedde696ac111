package dev.portcullis.policy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * How a rule file is read and how its lines are quoted: only a regular file, never more than a
 * cap, and never more than a short prefix of a line in a message.
 */
final class PolicyFiles {
  /** The most of a line, or of a word in it, that an error message quotes. */
  static final int EXCERPT_CHARS = 80;
  /** The longest explanation kept for a long line; a longer one is replaced by a fixed one. */
  private static final int MAX_REASON_CHARS = 1000;

  private PolicyFiles() {}

  /**
   * The file's text, UTF-8, read only if it is a regular file (after following symbolic links) of
   * at most {@code maxBytes}; never more than {@code maxBytes + 1} bytes are read.
   *
   * <p>The type is checked with {@code stat(2)} before the file is opened, so a FIFO, device,
   * socket or directory at the path is refused without opening it. A FIFO swapped in between that
   * check and the open can still block the open (Java cannot open with {@code O_NONBLOCK}); a
   * caller that must never block reads on a thread of its own with a timeout.
   */
  static String read(Path file, long maxBytes) throws IOException {
    if (maxBytes < 1) {
      throw new IllegalArgumentException("maxBytes must be at least 1: " + maxBytes);
    }
    BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
    if (!a.isRegularFile()) {
      throw new FileSystemException(file.toString(), null, "not a regular file but " + kind(file, a)
          + "; a policy is read only from a regular file");
    }
    if (a.size() > maxBytes) {
      throw tooLarge(file, a.size() + " bytes", maxBytes);
    }
    byte[] bytes;
    int length = 0;
    try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
      // Sized by what stat said, and grown only up to the cap: the file may grow, or say it is empty (/proc).
      bytes = new byte[(int) Math.min(maxBytes + 1, Math.max(a.size() + 1, 8192))];
      while (true) {
        if (length == bytes.length) {
          if (length > maxBytes) {
            throw tooLarge(file, "more than " + maxBytes + " bytes (its size grew, or was not known, until it was read)",
                maxBytes);
          }
          bytes = java.util.Arrays.copyOf(bytes, (int) Math.min(maxBytes + 1, 2L * length));
        }
        int n = in.read(ByteBuffer.wrap(bytes, length, bytes.length - length));
        if (n < 0) {
          break;
        }
        length += n;
      }
    }
    if (length > maxBytes) {
      throw tooLarge(file, "more than " + maxBytes + " bytes", maxBytes);
    }
    try {
      return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes, 0, length)).toString();
    } catch (CharacterCodingException e) {
      throw new FileSystemException(file.toString(), null, "not UTF-8 text");
    }
  }

  private static FileSystemException tooLarge(Path file, String size, long maxBytes) {
    return new FileSystemException(file.toString(), null, size + ", more than the limit of " + maxBytes + " bytes");
  }

  /** What a file that is not regular is, as {@code ls -l} would say; "unix:mode" is there on Linux and macOS. */
  private static String kind(Path file, BasicFileAttributes a) {
    if (a.isDirectory()) {
      return "a directory";
    }
    try {
      int type = (Integer) Files.getAttribute(file, "unix:mode") & 0170000;
      switch (type) {
        case 0010000:
          return "a FIFO (named pipe)";
        case 0020000:
          return "a character device";
        case 0060000:
          return "a block device";
        case 0140000:
          return "a socket";
        default:
          break;
      }
    } catch (IOException | RuntimeException e) {
      // no unix view here, or the file went away: say what every platform can tell
    }
    return "a FIFO, socket or device";
  }

  /**
   * {@code text} in quotes if it is short, else its first {@value #EXCERPT_CHARS} characters in
   * quotes and its length.
   */
  static String quote(String text) {
    return text.length() <= EXCERPT_CHARS ? "'" + text + "'" : "'" + prefix(text) + "...' (" + text.length()
        + " characters)";
  }

  /**
   * The parser's explanation for a bad {@code line}, with every quote of the line, or of a word of
   * it, longer than {@value #EXCERPT_CHARS} characters cut to a prefix. If a long quote is left (of
   * some other part of the line) or the whole is still long, a fixed explanation instead.
   */
  static String shorten(String why, String line) {
    if (line.length() <= EXCERPT_CHARS) {
      return why; // nothing in it can be a long quote of the line
    }
    String s = why.replace("'" + line + "'", quote(line)).replace(line, quote(line));
    for (String word : line.split("[ \t]+")) {
      if (word.length() > EXCERPT_CHARS) {
        s = s.replace("'" + word + "'", quote(word)).replace(word, quote(word));
      }
    }
    return s.length() <= MAX_REASON_CHARS && longestQuoted(s) <= EXCERPT_CHARS + 3 ? s
        : quote(line) + " is not valid (the parser's reason would quote too much of it)";
  }

  /** The longest run between two quote marks (single or double), as the parsers quote. */
  private static int longestQuoted(String s) {
    int longest = 0;
    int open = -1;
    char mark = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (open < 0 && (c == '\'' || c == '"')) {
        open = i;
        mark = c;
      } else if (open >= 0 && c == mark) {
        longest = Math.max(longest, i - open - 1);
        open = -1;
      }
    }
    return longest;
  }

  /** The first {@value #EXCERPT_CHARS} characters, without splitting a surrogate pair. */
  private static String prefix(String text) {
    int end = Character.isHighSurrogate(text.charAt(EXCERPT_CHARS - 1)) ? EXCERPT_CHARS - 1 : EXCERPT_CHARS;
    return text.substring(0, end);
  }
}
