package dev.portcullis.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The report's arithmetic and layout, on made-up measurements. */
class ReportTest {
  @Test
  void jmhCsvIsPivotedIntoOneRowPerFamilyAndRuleCount() {
    List<String[]> csv = new ArrayList<>();
    String header = "\"Benchmark\",\"Mode\",\"Threads\",\"Samples\",\"Score\",\"Score Error (99.9%)\",\"Unit\","
        + "\"Param: family\",\"Param: rules\"";
    csv.add(BenchSuite.parseCsvLine(header));
    csv.add(BenchSuite.parseCsvLine("\"x.PolicyLookupBenchmark.portcullis\",\"avgt\",1,3,20.5,1.25,\"ns/op\",ipv4,1000"));
    csv.add(BenchSuite.parseCsvLine("\"x.PolicyLookupBenchmark.netty\",\"avgt\",1,3,50,2,\"ns/op\",ipv4,1000"));
    csv.add(BenchSuite.parseCsvLine("\"x.PolicyBuildBenchmark.portcullis\",\"ss\",1,3,4.5,NaN,\"ms/op\",ipv4,1000"));
    csv.add(BenchSuite.parseCsvLine("\"x.PolicyLookupBenchmark.portcullis\",\"avgt\",1,3,31,3,\"ns/op\",ipv6,100000"));
    String table = Report.jmhTable(csv);
    assertTrue(table.contains("| ipv4 | 1,000 | 20.5 ± 1.3 | 50.0 ± 2.0 | n/a | 4.5 ± 0.0 | n/a | n/a |"), table);
    assertTrue(table.contains("| ipv6 | 100,000 | 31.0 ± 3.0 |"), table);
    assertTrue(table.indexOf("ipv4") < table.indexOf("ipv6"));
  }

  @Test
  void theKernelFilterUpdateRowsHaveATableOfTheirOwn() {
    List<String[]> csv = new ArrayList<>();
    csv.add(BenchSuite.parseCsvLine("\"Benchmark\",\"Mode\",\"Threads\",\"Samples\",\"Score\",\"Score Error (99.9%)\","
        + "\"Unit\",\"Param: family\",\"Param: filter\",\"Param: rules\""));
    csv.add(BenchSuite.parseCsvLine("\"x.PolicyLookupBenchmark.portcullis\",\"avgt\",1,3,20.5,1.25,\"ns/op\",ipv4,,1000"));
    csv.add(BenchSuite.parseCsvLine("\"x.KernelFilterUpdateBenchmark.updatePolicy\",\"ss\",1,10,132.4,29.4,\"ms/op\","
        + "ipv4,ebpf,100000"));
    csv.add(BenchSuite.parseCsvLine("\"x.KernelFilterUpdateBenchmark.updatePolicy\",\"ss\",1,10,0.66,0.49,\"ms/op\","
        + "ipv4,none,100000"));
    String section = Report.jmhSection(csv);
    assertTrue(section.contains("| ipv4 | 100,000 | 132.4 ± 29.4 | 0.7 ± 0.5 |"), section);
    assertTrue(section.contains("| ipv4 | 1,000 | 20.5 ± 1.3 |"), section);
    assertTrue(!Report.jmhTable(csv).contains("100,000"), "the policy table has no kernel filter row");
  }

  @Test
  void mediansAndRatiosComeFromEveryRunOfEachServer() {
    List<BenchSuite.Measurement> rows = List.of(
        new BenchSuite.Measurement("W1", "C", 1, new Processes.Result(1000, 1.0, 0, 0), 0.010),
        new BenchSuite.Measurement("W1", "C", 2, new Processes.Result(3000, 1.0, 0, 0), 0.030),
        new BenchSuite.Measurement("W1", "C", 3, new Processes.Result(2000, 1.0, 1, 0), 0.010));
    Map<String, Map<String, double[]>> med = BenchSuite.medians(rows);
    double[] c = med.get("W1").get("C");
    assertEquals(2000, c[0], 1e-9, "median ops/s");
    assertEquals(10.0, c[1], 1e-9, "median CPU µs per op: 10, 10 and 5 µs");
    assertEquals(1, c[2], 1e-9, "errors are summed");
  }

  @Test
  void theChartLeavesOutWorkloadsWithoutTheCServerInsteadOfDrawingNaN() {
    java.util.Map<String, java.util.Map<String, double[]>> med = new java.util.LinkedHashMap<>();
    med.put("W2", new java.util.LinkedHashMap<>(java.util.Map.of("C", new double[] {100, 10, 0}, "Portcullis",
        new double[] {100, 11, 0})));
    med.put("W2-KF", new java.util.LinkedHashMap<>(java.util.Map.of("Portcullis", new double[] {1000, 0, 0})));
    String svg = Report.chart(med);
    org.junit.jupiter.api.Assertions.assertFalse(svg.contains("NaN"), svg);
    org.junit.jupiter.api.Assertions.assertTrue(svg.contains(">W2<") || svg.contains("W2"), svg);
    org.junit.jupiter.api.Assertions.assertFalse(svg.contains("W2-KF"), "no group for the row without C");
  }

  @Test
  void theAdapterSectionComparesWithPlainNettyAndIpSubnetFilterAndJudgesBothTargets() {
    List<BenchSuite.Measurement> rows = List.of(
        new BenchSuite.Measurement("W1-ADAPT", BenchSuite.NETTY_PLAIN, 1, new Processes.Result(1000, 1.0, 0, 0), 0.020),
        new BenchSuite.Measurement("W1-ADAPT", BenchSuite.NETTY_FILTER, 1, new Processes.Result(1000, 1.0, 0, 0), 0.030),
        new BenchSuite.Measurement("W1-ADAPT", BenchSuite.NETTY_ADAPTER, 1, new Processes.Result(1000, 1.0, 0, 0),
            0.025),
        new BenchSuite.Measurement("W2-ADAPT", BenchSuite.NETTY_FILTER, 1, new Processes.Result(1000, 1.0, 0, 0), 0.010),
        new BenchSuite.Measurement("W2-ADAPT", BenchSuite.NETTY_ADAPTER, 1, new Processes.Result(1000, 1.0, 2, 0),
            0.012),
        new BenchSuite.Measurement("W2-ADAPT", BenchSuite.JETTY_GUARD, 1, new Processes.Result(1000, 1.0, 0, 0), 0.020),
        new BenchSuite.Measurement("W2-KG-ADAPT", BenchSuite.JETTY_KERNEL, 1, new Processes.Result(1000, 1.0, 0, 0),
            0.0));
    String md = Report.adapterSection(BenchSuite.adapterMedians(rows));
    assertTrue(md.contains("| Netty + Portcullis adapter | 1,000 | 25.00 | 1.25 | 0.83 | 0 |"), md);
    assertTrue(md.contains("| Netty + Portcullis adapter | 1,000 | 12.00 | – | 1.20 | 2 |"), md);
    assertTrue(md.contains("Measured: 0.83 ×: **met**"), md);
    assertTrue(md.contains("Measured: 1.20 ×: **not met**"), md);
    assertTrue(md.contains("0.000 µs against 20.00 µs, 0.000 ×: **met**"), md);
    assertTrue(md.indexOf("W1-ADAPT") < md.indexOf("W2-ADAPT"), md);
  }
}
