package dev.portcullis.bench.jmh;

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
import org.openjdk.jmh.annotations.Warmup;

/**
 * W5, build: the time to load a policy of 1k, 100k or 1M nested IPv4 or IPv6 rules, from the rule
 * list as text ({@code 10.66.0.0/16} plus allow or deny, the {@link PolicyLookupBenchmark}'s rules)
 * to a structure ready for lookups. Each implementation parses the text with its own parser and
 * builds its own structure: Portcullis' {@link AccessPolicy.Builder}, Netty's {@code
 * IpSubnetFilterRule(String, type)} and {@code IpSubnetFilter} constructor (which sorts and drops
 * nested rules), and IPAddress' {@code IPAddressString} into an associative trie. One build per
 * iteration (single shot), in milliseconds.
 *
 * <pre>
 * java -cp bench/target/portcullis-bench.jar org.openjdk.jmh.Main PolicyBuildBenchmark
 * </pre>
 *
 * For more precise numbers raise the counts, for example {@code -f 3 -wi 3 -i 10}. Both W5
 * benchmarks in one run: {@code org.openjdk.jmh.Main 'Policy(Lookup|Build)Benchmark'}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms4g", "-Xmx4g"})
@Warmup(iterations = 1)
@Measurement(iterations = 3)
public class PolicyBuildBenchmark {
  /** Number of rules in the policy. */
  @Param({"1000", "100000", "1000000"})
  public int rules;

  /** Address family of the rules: {@code ipv4} or {@code ipv6}. */
  @Param({"ipv4", "ipv6"})
  public String family;

  private String[] cidrs;
  private boolean[] allow;

  /** Generates the rule list as CIDR text and actions. */
  @Setup
  public void setUp() {
    NestedRuleSet ruleSet = NestedRuleSet.forBenchmark(NestedRuleSet.familyOf(family), rules);
    cidrs = new String[ruleSet.size()];
    allow = new boolean[ruleSet.size()];
    for (int i = 0; i < cidrs.length; i++) {
      cidrs[i] = ruleSet.cidrText(i);
      allow[i] = ruleSet.isAllow(i);
    }
  }

  /** Portcullis: parse each rule, then compile the sorted interval tables. */
  @Benchmark
  public AccessPolicy portcullis() {
    AccessPolicy.Builder builder = AccessPolicy.builder();
    for (int i = 0; i < cidrs.length; i++) {
      if (allow[i]) {
        builder.allow(cidrs[i]);
      } else {
        builder.deny(cidrs[i]);
      }
    }
    return builder.build();
  }

  /** Netty: parse each IpSubnetFilterRule, then the filter sorts and drops nested rules. */
  @Benchmark
  public Object netty() {
    return NettySubnetMatcher.parse(cidrs, allow);
  }

  /** IPAddress: parse each prefix, then insert it into the associative trie. */
  @Benchmark
  public Object ipaddressTrie() {
    return IpAddressTrieMatcher.parse(cidrs, allow);
  }
}
