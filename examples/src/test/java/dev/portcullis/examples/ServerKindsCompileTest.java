package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;

/**
 * Each kind of server has only the setters that apply to it: the others are compile errors, not
 * run-time ones. Here rather than in the api's tests because those compile inside the api module,
 * which does not read {@code java.compiler}.
 */
class ServerKindsCompileTest {
  /** Each line calls a setter the kind of server does not have; each must be a compile error. */
  private static final List<String> MISPLACED = List.of(
      "Server.on(0).mode(0600);",
      "Server.on(0).owner(\"root\");",
      "Server.on(0).allowUid(0);",
      "Server.on(0).perSourceByGroup();",
      "Server.onUnix(java.nio.file.Path.of(\"/tmp/x\")).bindAddress(\"::1\");",
      "Server.onUnix(java.nio.file.Path.of(\"/tmp/x\")).allow(\"10.0.0.0/8\");",
      "Server.onUnix(java.nio.file.Path.of(\"/tmp/x\")).penalties(null);",
      "Server.onUnix(java.nio.file.Path.of(\"/tmp/x\")).kernelFilter();",
      "Server.onAbstract(\"x\").mode(0600);",
      "Server.onAbstract(\"x\").sourcePrefix(24, 48);",
      "Server.fromSystemd().backlog(5);",
      "Server.fromSystemd().bindAddress(\"127.0.0.1\");",
      "Server.fromInetd().kernelFilter();",
      "Server.fromInetd().perSourceByGroup();");

  @Test
  void aSetterThatDoesNotApplyToTheKindOfServerDoesNotCompile() {
    StringBuilder bad = new StringBuilder("class Misplaced {\n");
    for (int i = 0; i < MISPLACED.size(); i++) {
      bad.append("  void m").append(i).append("() { dev.portcullis.").append(MISPLACED.get(i)).append(" }\n");
    }
    List<Diagnostic<? extends JavaFileObject>> errors = compile("Misplaced", bad.append("}\n").toString());
    for (int i = 0; i < MISPLACED.size(); i++) {
      long line = i + 2;
      String call = MISPLACED.get(i);
      String method = call.substring(call.lastIndexOf(").") + 2, call.lastIndexOf('('));
      assertTrue(errors.stream().anyMatch(d -> d.getLineNumber() == line
          && d.getMessage(Locale.ROOT).contains("method " + method + "(")),
          call + " compiled, or failed for another reason: " + messages(errors));
    }
    assertEquals(MISPLACED.size(), errors.size(), messages(errors));

    // The same file with setters that do apply compiles, so the errors above are the kinds' own.
    assertEquals(List.of(), compile("Placed", "class Placed {\n  void m() throws Exception {\n"
        + "    dev.portcullis.Server.on(0).bindAddress(\"::1\").backlog(5).kernelFilter().allow(\"10.0.0.0/8\")"
        + ".penalties(null).sourcePrefix(24, 48).maxConnections(3).handle(c -> { });\n"
        + "    dev.portcullis.Server.onUnix(java.nio.file.Path.of(\"/tmp/x\")).mode(0600).backlog(5).allowUid(0)"
        + ".perSourceByGroup().maxConnectionsPerSource(2).handle(c -> { });\n"
        + "    dev.portcullis.Server.onAbstract(\"x\").backlog(5).allowUser(\"root\").handle(c -> { });\n"
        + "    dev.portcullis.Server.fromSystemd().allow(\"10.0.0.0/8\").allowUid(0).penalties(null)"
        + ".handle(c -> { });\n"
        + "  }\n}\n"));
  }

  /** The errors javac reports for one class compiled against this test's class path. */
  private static List<Diagnostic<? extends JavaFileObject>> compile(String name, String code) {
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertNotNull(javac, "no system Java compiler: run the tests on a JDK");
    JavaFileObject source = new SimpleJavaFileObject(URI.create("string:///" + name + ".java"),
        JavaFileObject.Kind.SOURCE) {
      @Override
      public CharSequence getCharContent(boolean ignoreEncodingErrors) {
        return code;
      }
    };
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    // -proc:none: no annotation processing; -implicit:none and no -d needed: nothing is written on
    // failure, and the one class that compiles goes to a throwaway in-memory manager below.
    javac.getTask(new java.io.StringWriter(), new NoOutput(javac.getStandardFileManager(diagnostics, Locale.ROOT,
        StandardCharsets.UTF_8)), diagnostics, List.of("-proc:none", "-implicit:none"), null, List.of(source)).call();
    return diagnostics.getDiagnostics().stream().filter(d -> d.getKind() == Diagnostic.Kind.ERROR)
        .collect(Collectors.toList());
  }

  private static String messages(List<Diagnostic<? extends JavaFileObject>> errors) {
    return errors.stream().map(d -> d.getLineNumber() + ": " + d.getMessage(Locale.ROOT))
        .collect(Collectors.joining("\n"));
  }

  /** A file manager that drops the class files javac writes. */
  private static final class NoOutput
      extends javax.tools.ForwardingJavaFileManager<javax.tools.StandardJavaFileManager> {
    NoOutput(javax.tools.StandardJavaFileManager files) {
      super(files);
    }

    @Override
    public JavaFileObject getJavaFileForOutput(Location location, String className, JavaFileObject.Kind kind,
        javax.tools.FileObject sibling) {
      return new SimpleJavaFileObject(URI.create("mem:///" + className.replace('.', '/') + kind.extension), kind) {
        @Override
        public java.io.OutputStream openOutputStream() {
          return java.io.OutputStream.nullOutputStream();
        }
      };
    }
  }
}
