package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every {@code ```java} snippet of the site's pages and the README compiles against the api and the
 * JNA transport with the imports its page shows: a new user pastes them. A snippet is compiled with
 * its own {@code import} lines and those of the page's import-only blocks, as a whole compilation
 * unit when it declares a class, as class members when it starts with a method, else as the body of
 * a method. {@code ...} (code left out) becomes an empty block, and the snippets' free variables
 * (lower-case names the prose introduces, such as {@code conn}, {@code key}, {@code port}) are
 * allowed; any other error fails, above all a type that no import names.
 */
@Timeout(120)
class SiteSnippetsTest {
  private static final Pattern BLOCK = Pattern.compile("(?m)^```java\\n(.*?)^```$", Pattern.DOTALL);
  private static final Pattern UNRESOLVED = Pattern.compile("symbol:\\s+(?:class|variable|method) (\\w+)");

  /** One snippet: where it is, and the Java source it becomes. */
  private record Snippet(String where, String className, String source) {}

  @Test
  void everyJavaSnippetCompilesWithTheImportsItsPageShows(@TempDir Path out) throws IOException {
    Path root = Path.of("").toAbsolutePath().getParent();
    Path pages = root.resolve("site/src/site/markdown");
    assertTrue(Files.isDirectory(pages), "the site's pages at " + pages);
    List<Path> files = new ArrayList<>();
    files.add(root.resolve("README.md"));
    try (Stream<Path> walk = Files.walk(pages)) {
      walk.filter(p -> p.toString().endsWith(".md")).sorted().forEach(files::add);
    }
    List<Snippet> snippets = new ArrayList<>();
    for (Path file : files) {
      snippets.addAll(snippets(root.relativize(file).toString(), Files.readString(file)));
    }
    assertTrue(snippets.size() >= 20, "found the snippets: " + snippets.size());

    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    List<JavaFileObject> units = snippets.stream().map(SiteSnippetsTest::source).collect(Collectors.toList());
    javac.getTask(null, null, diagnostics, List.of("-proc:none", "-d", out.toString(), "-classpath",
        System.getProperty("java.class.path")), null, units).call();

    List<String> problems = new ArrayList<>();
    for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
      if (d.getKind() != Diagnostic.Kind.ERROR) {
        continue;
      }
      String message = d.getMessage(Locale.ROOT);
      Matcher m = UNRESOLVED.matcher(message);
      if (m.find() && Character.isLowerCase(m.group(1).charAt(0))) {
        continue; // a variable or method the page's prose stands for
      }
      String name = d.getSource() == null ? "?" : d.getSource().getName();
      Snippet s = snippets.stream().filter(x -> name.endsWith(x.className() + ".java")).findFirst().orElse(null);
      problems.add((s == null ? name : s.where()) + ": " + message.replace('\n', ' ')
          + (s == null ? "" : "\n" + s.source()));
    }
    assertTrue(problems.isEmpty(), problems.size() + " snippet error(s):\n" + String.join("\n\n", problems));
  }

  /** The snippets of one page, each with its own and the page's imports. */
  private static List<Snippet> snippets(String page, String text) {
    List<String> pageImports = new ArrayList<>();
    List<String> blocks = new ArrayList<>();
    Matcher m = BLOCK.matcher(text);
    while (m.find()) {
      String block = m.group(1);
      if (block.lines().allMatch(l -> l.isBlank() || l.startsWith("import "))) {
        block.lines().filter(l -> l.startsWith("import ")).forEach(pageImports::add);
      } else {
        blocks.add(block);
      }
    }
    List<Snippet> snippets = new ArrayList<>();
    for (int i = 0; i < blocks.size(); i++) {
      String block = blocks.get(i);
      if (block.startsWith("module ")) {
        continue; // a module-info.java: ModulePathTest compiles one
      }
      List<String> imports = new ArrayList<>(pageImports);
      StringBuilder body = new StringBuilder();
      for (String line : block.lines().toList()) {
        if (line.startsWith("import ")) {
          imports.add(line);
        } else {
          body.append(line).append('\n');
        }
      }
      String className = "Snippet_" + page.replaceAll("\\W", "_") + "_" + (i + 1);
      String code = elide(body.toString());
      String unit;
      if (Pattern.compile("(?m)^(public )?(final )?class ").matcher(code).find()) {
        // a whole class: named as the file must be
        unit = code.replaceFirst("(?m)^(public )?(final )?class \\w+", "final class " + className);
      } else if (Pattern.compile("^(public |private |protected )?(static )?[\\w<>\\[\\]]+ \\w+\\(").matcher(code.strip())
          .lookingAt() && !code.strip().startsWith("return ")) {
        unit = "abstract class " + className + " {\n" + code + "}\n";
      } else {
        unit = "abstract class " + className + " {\n void snippet() throws Exception {\n" + code + "\n }\n}\n";
      }
      String source = imports.stream().distinct().map(l -> l + "\n").collect(Collectors.joining()) + unit;
      snippets.add(new Snippet(page + " snippet " + (i + 1), className, source));
    }
    return snippets;
  }

  /** {@code ...} outside string literals becomes {@code {}}: the code a snippet leaves out. */
  private static String elide(String code) {
    StringBuilder b = new StringBuilder();
    boolean inString = false;
    for (int i = 0; i < code.length(); i++) {
      char c = code.charAt(i);
      if (code.startsWith("\"\"\"", i)) {
        int end = code.indexOf("\"\"\"", i + 3); // a text block, copied whole
        int stop = end < 0 ? code.length() : end + 3;
        b.append(code, i, stop);
        i = stop - 1;
        continue;
      }
      if (c == '"' && (i == 0 || code.charAt(i - 1) != '\\')) {
        inString = !inString;
      }
      if (!inString && code.startsWith("...", i)) {
        b.append("{}");
        i += 2;
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  private static JavaFileObject source(Snippet s) {
    return new SimpleJavaFileObject(URI.create("string:///" + s.className() + ".java"), JavaFileObject.Kind.SOURCE) {
      @Override
      public CharSequence getCharContent(boolean ignoreEncodingErrors) {
        return s.source();
      }
    };
  }
}
