#!/usr/bin/env bash
# Copies the latest suite run (bench/target/results) into the site sources: the Benchmarks page
# shows exactly that run's table and chart. Run after bench/run.sh, then commit site/.
set -euo pipefail
cd "$(dirname "$0")/.."
results=bench/target/results
[ -f "$results/results.md" ] || { echo "no results: run bench/run.sh first" >&2; exit 1; }
mkdir -p site/src/site/resources/images site/src/site/resources/bench
cp "$results/results.svg" site/src/site/resources/images/bench.svg
cp "$results/results.csv" site/src/site/resources/bench/results.csv
{
  cat <<'HEAD'
# Benchmarks

Portcullis is measured side by side with a minimal C epoll server (the near-physical limit), a
plain JDK NIO server and Netty (native epoll with `IpSubnetFilter`), in one run on one machine,
and reported as ratios. Every server does the same work (see `bench/README.md`): the same policy,
the same one-line handshake, the same replies. The load comes from a small C client pinned to the
other CPU. Run it yourself with `bench/run.sh` (about fifteen minutes on 2 cores); `bench/publish.sh`
copies a run here.

![Server CPU per operation relative to C](images/bench.svg)

Raw figures of every run: [results.csv](bench/results.csv).

HEAD
  tail -n +2 "$results/results.md"
} > site/src/site/markdown/benchmarks.md
echo "site/src/site/markdown/benchmarks.md updated from $results"
