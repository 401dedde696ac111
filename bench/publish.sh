#!/usr/bin/env bash
# Copies suite runs into the site sources: the Benchmarks page shows exactly those runs' tables
# and charts. Run after bench/run.sh (once per JDK), then commit site/.
#
#   bench/publish.sh                          # the latest run, bench/target/results
#   bench/publish.sh 17=DIR 25=DIR            # one full run per JDK, each a copy of bench/target/results
#   bench/publish.sh 17=DIR 25=DIR W6-on-JDK-25=DIR   # and a named extra run (dashes become spaces)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=("$@")
if [ ${#runs[@]} -eq 0 ]; then
  runs=("latest=bench/target/results")
fi
for r in "${runs[@]}"; do
  dir=${r#*=}
  [ -f "$dir/results.md" ] || { echo "no results in $dir: run bench/run.sh first" >&2; exit 1; }
done
mkdir -p site/src/site/resources/images site/src/site/resources/bench
page=site/src/site/markdown/benchmarks.md
{
  cat <<'HEAD'
# Benchmarks

Portcullis is measured side by side with a minimal C epoll server (the near-physical limit), a
plain JDK NIO server, Netty (native epoll with `IpSubnetFilter`) and `ServerSocket VT`, the peer
users pick for blocking code (a JDK `ServerSocket` with one virtual thread per connection, as
Helidon's web server; a platform thread per connection on JDK 17, where its row is `ServerSocket
threads`), in one run on one machine, and reported as ratios. Every server does the same work (see `bench/README.md`): the same policy,
the same one-line handshake, the same replies. The load comes from a small C client pinned to the
other CPU. Two Portcullis rows stand in every table: **`Portcullis handle`**, the headline, is what
users write first (`handle(conn -> ...)` on the default executor: virtual threads on JDK 21+,
platform threads on JDK 17), and `Portcullis handleOnLoop` is the tuned path (callbacks on the
event loop). Each run names the targets and says whether they are met.

Run it yourself with `bench/run.sh` (about twenty minutes on 2 cores); run the jar with another
JDK's `java` to measure that JDK; `bench/publish.sh 17=DIR 25=DIR` copies runs here. The machine
here is a shared 2-CPU virtual machine: its speed drifts by tens of percent between minutes, so
compare the ratios within one table, not the absolute figures across tables. Scaling beyond 2
cores was not measured here (`bench/run.sh --only W6 --loops N` on a bigger machine).

HEAD
  for r in "${runs[@]}"; do
    label=${r%%=*}
    dir=${r#*=}
    case "$label" in
      latest) suffix="" ;;
      [0-9]*) suffix="-jdk$label" ;;
      *) suffix="-$(echo "$label" | tr 'A-Z' 'a-z')" ;;
    esac
    cp "$dir/results.svg" "site/src/site/resources/images/bench$suffix.svg"
    cp "$dir/results.csv" "site/src/site/resources/bench/results$suffix.csv"
    if [ "$label" != latest ]; then
      case "$label" in
        [0-9]*) echo "## JDK $label" ;;
        *) echo "## ${label//-/ }" ;;  # a named extra run, such as W6-on-JDK-25
      esac
      echo
    fi
    echo "![Server CPU per operation relative to C](images/bench$suffix.svg)"
    echo
    echo "Raw figures of every run: [results$suffix.csv](bench/results$suffix.csv)."
    echo
    # The run's own page, its headings one level down when there are several runs.
    if [ "$label" = latest ]; then
      tail -n +2 "$dir/results.md"
    else
      tail -n +2 "$dir/results.md" | sed -e 's/^\(##*\) /\1# /'
    fi
    echo
  done
} > "$page"
echo "$page updated from ${runs[*]}"
