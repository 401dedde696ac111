package dev.portcullis.bench.jmh;

import dev.portcullis.policy.AccessPolicy;
import inet.ipaddr.ipv4.IPv4Address;
import inet.ipaddr.ipv6.IPv6Address;
import java.net.InetSocketAddress;
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
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * W5, lookup: the time to decide one peer against a policy of 1k, 100k or 1M nested IPv4 or IPv6
 * rules, for Portcullis ({@link AccessPolicy#decideIpv4} / {@link AccessPolicy#decideIpv6} on raw
 * addresses), Netty's {@code IpSubnetFilter} (its {@code accept} on an {@link InetSocketAddress},
 * see {@link NettySubnetMatcher}) and the IPAddress library's associative trie ({@code
 * longestPrefixMatchNode} on an {@code IPAddress}, see {@link IpAddressTrieMatcher}).
 *
 * <p>Each implementation gets the same seeded rules ({@link NestedRuleSet#forBenchmark}) and the
 * same 65,536 seeded probes ({@link ProbeSet#forBenchmark}), converted before measuring into the
 * input type it receives in a server; one invocation decides the next probe in a fixed random order.
 * Only the structure a method measures is built in its fork, so 1M-rule forks stay within the heap.
 *
 * <p>Read Netty's numbers with {@link PolicyAgreement}: its filter drops nested rules when built, so
 * it searches fewer rules than it was given and decides some peers differently. Portcullis and the
 * IPAddress trie implement the same longest-prefix semantics as the linear reference.
 *
 * <p>The defaults are for a quick run: one fork per combination, 3 x 2 s warmup and 3 x 1 s
 * measurement, about 3 minutes for all 18 combinations on 2 cores (4.5 minutes together with
 * {@link PolicyBuildBenchmark}). The warmup is 6 s rather than 2 s because Netty's IPv6 path and
 * the IPAddress trie need 4 to 6 s of JIT work before they settle; shorter warmups report Netty's
 * IPv6 lookups ten times too slow.
 *
 * <pre>
 * mvn -B -q -pl bench -am package -DskipTests
 * java -cp bench/target/portcullis-bench.jar org.openjdk.jmh.Main PolicyLookupBenchmark
 * java -cp bench/target/portcullis-bench.jar org.openjdk.jmh.Main 'Policy(Lookup|Build)Benchmark'
 * </pre>
 *
 * For a longer, more precise run, override on the command line, for example 3 forks of 5 x 2 s
 * warmup and 10 x 2 s measurement (about 30 minutes), optionally restricted to some parameters,
 * with {@code -prof gc} to see allocation per lookup:
 *
 * <pre>
 * java -cp bench/target/portcullis-bench.jar org.openjdk.jmh.Main PolicyLookupBenchmark \
 *     -f 3 -wi 5 -w 2s -i 10 -r 2s [-p rules=1000000 -p family=ipv6] [-prof gc] [-rf json -rff w5.json]
 * </pre>
 *
 * Run nothing else on the machine meanwhile: on 2 cores a concurrent build or load test shows up
 * directly in the error columns.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms4g", "-Xmx4g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 3, time = 1)
public class PolicyLookupBenchmark {
  private static final int MASK = ProbeSet.BENCHMARK_PROBES - 1;

  /** Number of rules in the policy. */
  @Param({"1000", "100000", "1000000"})
  public int rules;

  /** Address family of the rules and the probes: {@code ipv4} or {@code ipv6}. */
  @Param({"ipv4", "ipv6"})
  public String family;

  private boolean ipv4;

  private AccessPolicy policy;
  private int[] ipv4Probes;
  private long[] ipv6High;
  private long[] ipv6Low;

  private NettySubnetMatcher netty;
  private InetSocketAddress[] socketProbes;

  private IpAddressTrieMatcher trie;
  private IPv4Address[] ipaddressIpv4Probes;
  private IPv6Address[] ipaddressIpv6Probes;

  /** Which probe is next; per thread, so that the shared state stays read-only while measuring. */
  @State(Scope.Thread)
  public static class Cursor {
    private int next;

    int advance() {
      return next = (next + 1) & MASK;
    }
  }

  /** Generates the rules and probes, and builds only the structure the running method needs. */
  @Setup
  public void setUp(BenchmarkParams params) {
    int f = NestedRuleSet.familyOf(family);
    ipv4 = f == 4;
    NestedRuleSet ruleSet = NestedRuleSet.forBenchmark(f, rules);
    ProbeSet probes = ProbeSet.forBenchmark(ruleSet);
    String method = params.getBenchmark();
    boolean all = !method.startsWith(PolicyLookupBenchmark.class.getName() + ".");
    if (all || method.endsWith(".portcullis")) {
      policy = AccessPolicy.of(ruleSet.portcullisRules());
      if (ipv4) {
        ipv4Probes = probes.ipv4Ints();
      } else {
        ipv6High = probes.highs();
        ipv6Low = probes.lows();
      }
    }
    if (all || method.endsWith(".netty")) {
      netty = NettySubnetMatcher.of(ruleSet);
      socketProbes = probes.socketAddresses();
    }
    if (all || method.endsWith(".ipaddressTrie")) {
      trie = IpAddressTrieMatcher.of(ruleSet);
      if (ipv4) {
        ipaddressIpv4Probes = probes.ipaddressIpv4();
      } else {
        ipaddressIpv6Probes = probes.ipaddressIpv6();
      }
    }
  }

  /** Portcullis: a binary search over flat interval arrays, on a raw address. */
  @Benchmark
  public boolean portcullis(Cursor cursor) {
    int i = cursor.advance();
    return ipv4
        ? policy.decideIpv4(ipv4Probes[i]).isAllowed()
        : policy.decideIpv6(ipv6High[i], ipv6Low[i]).isAllowed();
  }

  /** Netty: IpSubnetFilter.accept, a binary search over the rules it kept. */
  @Benchmark
  public boolean netty(Cursor cursor) {
    return netty.accepts(socketProbes[cursor.advance()]);
  }

  /** IPAddress: longest-prefix match in an associative binary trie. */
  @Benchmark
  public boolean ipaddressTrie(Cursor cursor) {
    int i = cursor.advance();
    return ipv4 ? trie.acceptsIpv4(ipaddressIpv4Probes[i]) : trie.acceptsIpv6(ipaddressIpv6Probes[i]);
  }
}
