package dev.portcullis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The api's packages form layers: no package reaches, through imports or fully qualified names in
 * code, a package that reaches it back. Comments do not count (a {@code {@link}} to another
 * package is written in full rather than imported).
 */
class PackageCyclesTest {
  private static final Path MAIN = Path.of("src/main/java");
  private static final Pattern REFERENCE = Pattern.compile("\\b(dev\\.portcullis(?:\\.[a-z][a-z0-9]*)*)\\.[A-Z]");

  @Test
  void apiPackagesHaveNoCycle() throws IOException {
    Map<String, Map<String, String>> graph = dependencies(MAIN);
    assertTrue(graph.size() > 5, "found the api's packages under " + MAIN.toAbsolutePath() + ": " + graph.keySet());
    List<String> cycles = cycles(graph);
    assertEquals(List.of(), cycles, "package cycles (each edge with one file that makes it)");
  }

  @Test
  void aCycleIsFound() {
    Map<String, Map<String, String>> graph = new TreeMap<>();
    graph.computeIfAbsent("a", k -> new TreeMap<>()).put("b", "A.java");
    graph.computeIfAbsent("b", k -> new TreeMap<>()).put("c", "B.java");
    graph.computeIfAbsent("c", k -> new TreeMap<>()).put("a", "C.java");
    graph.computeIfAbsent("d", k -> new TreeMap<>()).put("a", "D.java");
    assertEquals(List.of("a -> b (A.java), b -> c (B.java), c -> a (C.java)"), cycles(graph));
  }

  @Test
  void commentsAndStringsAreNotReferences() {
    String code = "package dev.portcullis.x;\n/** {@link dev.portcullis.y.Y} */\nclass X {\n"
        + "  // dev.portcullis.z.Z\n  String s = \"dev.portcullis.w.W\";\n  dev.portcullis.v.V v;\n}\n";
    assertEquals(Set.of("dev.portcullis.v"), references(code));
  }

  /** Package -> (package it uses -> one file that uses it). */
  static Map<String, Map<String, String>> dependencies(Path root) throws IOException {
    Map<String, Map<String, String>> graph = new TreeMap<>();
    try (Stream<Path> files = Files.walk(root)) {
      for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
        String from = root.relativize(f.getParent()).toString().replace('/', '.');
        Map<String, String> out = graph.computeIfAbsent(from, k -> new TreeMap<>());
        for (String to : references(Files.readString(f))) {
          if (!to.equals(from)) {
            out.putIfAbsent(to, f.getFileName().toString());
          }
        }
      }
    }
    return graph;
  }

  /** The packages a source file names outside comments and string literals. */
  static Set<String> references(String source) {
    String code = source.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", " ")
        .replaceAll("\"(?:\\\\.|[^\"\\\\])*\"", "\"\"");
    Set<String> out = new TreeSet<>();
    for (String line : code.split("\n")) {
      if (line.startsWith("package ")) {
        continue;
      }
      Matcher m = REFERENCE.matcher(line);
      while (m.find()) {
        out.add(m.group(1));
      }
    }
    return out;
  }

  /** Each strongly connected component of more than one package, as one cycle through it. */
  static List<String> cycles(Map<String, Map<String, String>> graph) {
    List<String> found = new ArrayList<>();
    Set<String> reported = new TreeSet<>();
    for (String start : graph.keySet()) {
      if (reported.contains(start)) {
        continue;
      }
      List<String> path = shortestCycle(graph, start);
      if (path != null) {
        reported.addAll(path);
        List<String> edges = new ArrayList<>();
        for (int i = 0; i < path.size(); i++) {
          String a = path.get(i);
          String b = path.get((i + 1) % path.size());
          edges.add(a + " -> " + b + " (" + graph.get(a).get(b) + ")");
        }
        found.add(String.join(", ", edges));
      }
    }
    return found;
  }

  /** The shortest path from {@code start} back to itself, or null (a breadth-first search). */
  private static List<String> shortestCycle(Map<String, Map<String, String>> graph, String start) {
    Map<String, String> parent = new TreeMap<>();
    Deque<String> queue = new ArrayDeque<>();
    queue.add(start);
    while (!queue.isEmpty()) {
      String at = queue.poll();
      for (String next : graph.getOrDefault(at, Map.of()).keySet()) {
        if (next.equals(start)) {
          List<String> path = new ArrayList<>();
          for (String p = at; p != null; p = p.equals(start) ? null : parent.get(p)) {
            path.add(0, p);
          }
          return path;
        }
        if (!parent.containsKey(next) && !next.equals(start)) {
          parent.put(next, at);
          queue.add(next);
        }
      }
    }
    return null;
  }
}
