/** Benchmarks: servers doing the same work on each stack, the load runner, and JMH lookups. */
package dev.portcullis.bench;
