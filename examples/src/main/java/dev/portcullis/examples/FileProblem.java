package dev.portcullis.examples;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;

/**
 * How every launcher message names a file that could not be read: the path as the user gave it,
 * unquoted, then a colon and what is wrong ({@code keys: no such file}), the form the library uses
 * for a line of a file ({@code office.policy:3: ...}).
 */
public final class FileProblem {
  private FileProblem() {}

  /**
   * The message for a failed read.
   *
   * @param e what reading the file threw
   * @return {@code PATH: no such file}, {@code PATH: permission denied}, {@code PATH: REASON}; or the
   *     exception's own message when it names no file
   */
  public static String message(IOException e) {
    if (e instanceof FileSystemException f && f.getFile() != null) {
      String why = e instanceof NoSuchFileException ? "no such file"
          : e instanceof AccessDeniedException ? "permission denied"
          : f.getReason() != null ? f.getReason() : e.getClass().getSimpleName();
      return f.getFile() + ": " + why;
    }
    return String.valueOf(e.getMessage());
  }

  /**
   * A message about a file the user named.
   *
   * @param path the path as the user gave it
   * @param what what is wrong with it
   * @return {@code PATH: what}
   */
  public static String about(String path, String what) {
    return path + ": " + what;
  }
}
