package dev.portcullis.bench.jmh;

import dev.portcullis.spi.KernelFilterMode;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.AccessPolicy;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * W5, kernel filter update: how long {@code RunningServer.updatePolicy} takes with a policy of
 * 100,000 nested rules (the {@link PolicyLookupBenchmark}'s rules, IPv4 or IPv6), on a server
 * listening on loopback with {@code kernelFilter()} in eBPF mode, against the same server without
 * a kernel filter (the user-space swap alone). When it returns, the kernel decides by the new
 * policy, so this is the time until an update takes effect in the kernel. Two policies that
 * differ in one rule alternate, so every call builds and switches a full generation of tries.
 * Needs root or {@code CAP_BPF}; the setup fails otherwise rather than measure classic BPF or
 * user space under this name.
 *
 * <pre>
 * java -cp bench/target/portcullis-bench.jar org.openjdk.jmh.Main KernelFilterUpdateBenchmark
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
@Warmup(iterations = 3)
@Measurement(iterations = 10)
public class KernelFilterUpdateBenchmark {
  /** Number of rules in the policy. */
  @Param({"100000"})
  public int rules;

  /** Address family of the rules: {@code ipv4} or {@code ipv6}. */
  @Param({"ipv4", "ipv6"})
  public String family;

  /** {@code ebpf}: with {@code kernelFilter()}; {@code none}: without, the user-space swap alone. */
  @Param({"ebpf", "none"})
  public String filter;

  private RunningServer server;
  private AccessPolicy[] policies;
  private int next;

  /** Starts the server and builds the two policies. */
  @Setup
  public void setUp() throws Exception {
    NestedRuleSet ruleSet = NestedRuleSet.forBenchmark(NestedRuleSet.familyOf(family), rules);
    policies = new AccessPolicy[2];
    for (int p = 0; p < 2; p++) {
      AccessPolicy.Builder b = AccessPolicy.builder().allow("127.0.0.0/8");
      for (int i = 0; i < ruleSet.size(); i++) {
        if (ruleSet.isAllow(i)) {
          b.allow(ruleSet.cidrText(i));
        } else {
          b.deny(ruleSet.cidrText(i));
        }
      }
      b.deny(p == 0 ? "127.0.0.2" : "127.0.0.3");
      policies[p] = b.build();
    }
    Server.TcpBuilder s = Server.on(0).bindAddress("127.0.0.1").policy(policies[0]).handle(conn -> { });
    if (filter.equals("ebpf")) {
      s.kernelFilter();
    }
    server = s.start();
    KernelFilterMode expected = filter.equals("ebpf") ? KernelFilterMode.EBPF : KernelFilterMode.OFF;
    if (server.stats().kernelFilter() != expected) {
      server.close();
      throw new IllegalStateException("the kernel filter is " + server.stats().kernelFilter() + ", not " + expected
          + " (eBPF needs root or CAP_BPF)");
    }
  }

  /** Stops the server. */
  @TearDown
  public void tearDown() {
    server.close();
  }

  /** One update: the other policy, a full generation of tries in eBPF mode. */
  @Benchmark
  public int updatePolicy() {
    next ^= 1;
    server.updatePolicy(policies[next]);
    return next;
  }
}
