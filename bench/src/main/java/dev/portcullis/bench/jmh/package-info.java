/**
 * JMH benchmarks of policy lookup and build (workload W5): Portcullis against Netty and IPAddress;
 * and how long a kernel filter update takes ({@code KernelFilterUpdateBenchmark}).
 */
package dev.portcullis.bench.jmh;
