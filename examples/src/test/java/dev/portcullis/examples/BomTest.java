package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * The BOM ({@code bom/pom.xml}) pins every library artifact the build publishes, at the build's
 * version, and nothing else: a module added to the build without a BOM entry fails here. (The
 * BOM does not inherit the parent, so its version is written twice; this keeps them equal.)
 */
class BomTest {
  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

  private static Document read(Path pom) throws Exception {
    DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
    f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
    return f.newDocumentBuilder().parse(pom.toFile());
  }

  private static String child(Element e, String name) {
    NodeList l = e.getElementsByTagName(name);
    for (int i = 0; i < l.getLength(); i++) {
      if (l.item(i).getParentNode() == e) {
        return l.item(i).getTextContent().strip();
      }
    }
    return null;
  }

  @Test
  void theBomPinsEveryPublishedLibraryAtTheBuildsVersion() throws Exception {
    Element parent = read(ROOT.resolve("pom.xml")).getDocumentElement();
    Element bom = read(ROOT.resolve("bom/pom.xml")).getDocumentElement();
    assertEquals(child(parent, "version"), child(bom, "version"), "the BOM's version is the build's");
    assertEquals(child(parent, "groupId"), child(bom, "groupId"));

    // The libraries: every module but the launcher and examples (Spring Boot's too), the benchmarks, the site and the BOM.
    TreeSet<String> libraries = new TreeSet<>();
    NodeList modules = parent.getElementsByTagName("module");
    for (int i = 0; i < modules.getLength(); i++) {
      String dir = modules.item(i).getTextContent().strip();
      if (List.of("examples", "examples-spring-boot", "bench", "site", "bom").contains(dir)) {
        continue;
      }
      Element pom = read(ROOT.resolve(dir).resolve("pom.xml")).getDocumentElement();
      libraries.add(child(pom, "artifactId"));
    }
    TreeSet<String> pinned = new TreeSet<>();
    List<String> versions = new ArrayList<>();
    NodeList deps = bom.getElementsByTagName("dependency");
    for (int i = 0; i < deps.getLength(); i++) {
      Element d = (Element) deps.item(i);
      pinned.add(child(d, "artifactId"));
      versions.add(child(d, "version"));
    }
    assertEquals(libraries, pinned, "the BOM lists exactly the published libraries");
    for (String v : versions) {
      assertEquals("${project.version}", v);
    }
  }
}
