package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Server;
import dev.portcullis.jna.JnaTransport;
import java.io.File;
import java.io.IOException;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Portcullis from the module path: a tiny application module that only {@code requires
 * dev.portcullis} is compiled here and run in its own JVM with the api, the JNA transport and
 * their dependencies on {@code --module-path}, and no {@code --add-modules}: the transport module
 * is bound as a service provider because the api {@code uses} the Transport SPI. The artifacts are
 * found from the classes this test's class path loads, so it works with jars (mvn verify) and with
 * target/classes directories (mvn -pl examples -am test) alike.
 */
@Timeout(120)
class ModulePathTest {

  private static final String MAIN = """
      package app;

      import dev.portcullis.RunningServer;
      import dev.portcullis.Server;
      import java.io.BufferedReader;
      import java.io.InputStreamReader;
      import java.io.OutputStream;
      import java.net.InetSocketAddress;
      import java.net.Socket;
      import java.nio.charset.StandardCharsets;

      public final class Main {
        public static void main(String[] args) throws Exception {
          try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
              .handle(c -> {
                String line = new BufferedReader(new InputStreamReader(c.input(), StandardCharsets.UTF_8))
                    .readLine();
                c.output().write(("echo: " + line + "\\n").getBytes(StandardCharsets.UTF_8));
                c.output().flush();
              }).start();
              Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", server.port()), 5000);
            s.setSoTimeout(10000);
            OutputStream out = s.getOutputStream();
            out.write("hello\\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            System.out.println("reply: " + new BufferedReader(
                new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8)).readLine());
            System.out.println("api module: " + Server.class.getModule().getName());
            System.out.println("transport module resolved: "
                + ModuleLayer.boot().findModule("dev.portcullis.jna").isPresent());
            System.out.println("mbeans: " + java.lang.management.ManagementFactory.getPlatformMBeanServer()
                .queryNames(new javax.management.ObjectName("dev.portcullis:type=Server,*"), null).size());
            try {
              Class.forName("dev.portcullis.internal.Transports").getMethod("load").invoke(null);
              System.out.println("internal: accessible");
            } catch (IllegalAccessException e) {
              System.out.println("internal: " + e.getClass().getSimpleName());
            }
          }
        }
      }
      """;

  private static final String BAD = """
      package bad;

      import dev.portcullis.internal.Transports;

      public final class Bad {
        Object transport = Transports.load();
      }
      """;

  /** Where the class was loaded from: a jar, or a target/classes directory. */
  private static Path home(Class<?> c) {
    try {
      return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException e) {
      throw new AssertionError(e);
    }
  }

  /** The api and its dependencies: enough to compile an application module against. */
  private static List<Path> apiModules() throws ClassNotFoundException {
    return List.of(home(Server.class), home(org.slf4j.Logger.class));
  }

  /** The api, the JNA transport and every dependency either has at run time, plus a logger. */
  private static String runtimeModulePath(Path app) throws ClassNotFoundException {
    Set<Path> paths = new LinkedHashSet<>(apiModules());
    paths.add(home(JnaTransport.class));
    paths.add(home(com.sun.jna.Native.class));
    paths.add(home(Class.forName("org.slf4j.simple.SimpleServiceProvider")));
    paths.add(app);
    return paths.stream().map(Path::toString).collect(Collectors.joining(File.pathSeparator));
  }

  /** Compiles one module in {@code src} into {@code out}; the diagnostics, or null on success. */
  private static String compile(Path src, Path out, String name, String pkg, String cls, String code,
      String descriptor) throws IOException, ClassNotFoundException {
    Path dir = Files.createDirectories(src.resolve(name).resolve(pkg));
    Files.writeString(src.resolve(name).resolve("module-info.java"), descriptor, StandardCharsets.UTF_8);
    Files.writeString(dir.resolve(cls + ".java"), code, StandardCharsets.UTF_8);
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertNotNull(javac, "no system Java compiler: run the tests on a JDK");
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, Locale.ROOT,
        StandardCharsets.UTF_8)) {
      // An explicit, empty class path: by default javac would use this JVM's java.class.path,
      // where the api is also present, as the unnamed module.
      Path noClasses = Files.createDirectories(out.resolve("empty-class-path"));
      List<String> options = new ArrayList<>(List.of("-d", out.resolve(name).toString(),
          "--class-path", noClasses.toString(), "--module-path",
          apiModules().stream().map(Path::toString).collect(Collectors.joining(File.pathSeparator))));
      boolean ok = javac.getTask(new StringWriter(), files, diagnostics, options, null,
          files.getJavaFileObjects(src.resolve(name).resolve("module-info.java"), dir.resolve(cls + ".java")))
          .call();
      String messages = diagnostics.getDiagnostics().stream()
          .filter(d -> d.getKind() == Diagnostic.Kind.ERROR)
          .map(d -> d.getMessage(Locale.ROOT)).collect(Collectors.joining("\n"));
      return ok ? null : messages;
    }
  }

  @Test
  void aModulePathApplicationStartsAServerWithTheTransportBoundAsAService(@TempDir Path tmp) throws Exception {
    assertEquals(null, compile(tmp.resolve("src"), tmp.resolve("out"), "app", "app", "Main", MAIN,
        "module app {\n  requires dev.portcullis;\n  requires java.management;\n}\n"));

    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // No --add-modules: service binding puts dev.portcullis.jna in the boot layer. JNA loads its
    // native library with System.load; --enable-native-access keeps JDK 24+ from warning about it.
    Process p = new ProcessBuilder(java, "--enable-native-access=com.sun.jna",
        "--module-path", runtimeModulePath(tmp.resolve("out").resolve("app")), "--module", "app/app.Main")
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
        .redirectOutput(tmp.resolve("stdout").toFile()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try {
      assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the module-path application did not exit");
      String out = Files.readString(tmp.resolve("stdout"), StandardCharsets.UTF_8);
      assertEquals(0, p.exitValue(), out);
      assertEquals(String.join("\n",
          "reply: echo: hello",
          "api module: dev.portcullis",
          "transport module resolved: true",
          "mbeans: 1",
          "internal: IllegalAccessException", ""), out);
    } finally {
      p.destroyForcibly();
    }
  }

  @Test
  void theInternalPackageIsNotExportedToApplications(@TempDir Path tmp) throws Exception {
    String errors = compile(tmp.resolve("src"), tmp.resolve("out"), "bad", "bad", "Bad", BAD,
        "module bad {\n  requires dev.portcullis;\n}\n");
    assertNotNull(errors, "an application module compiled against dev.portcullis.internal");
    assertTrue(errors.contains("does not export"), errors);
    assertFalse(Server.class.getModule().isNamed(), "this test itself runs on the class path");
  }
}
