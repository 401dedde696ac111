/** JMH benchmarks of policy lookup and build (workload W5): Portcullis against Netty and IPAddress. */
package dev.portcullis.bench.jmh;
