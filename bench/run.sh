#!/usr/bin/env bash
# The whole benchmark suite with one command (about twenty minutes on 2 cores):
#   bench/run.sh [--quick] [--runs N] [--seconds S] [--only W1,W2,W2-KF,W2-KF6,W2-KF-classic,W3-64,W3-16K,W4,W5,W6] [--servers C,Portcullis handle,...] [--loops N] [--skip-jmh]
# The adapter group (Netty and Jetty with and without the Portcullis adapters, KernelGuard) runs
# only when named: --only ADAPT, or --only W1-ADAPT,W2-ADAPT,W2-KG-ADAPT.
# Needs gcc and taskset (util-linux). Writes bench/target/results/results.{csv,md,svg}.
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q -pl bench -am package -DskipTests
cd bench
exec java -jar target/portcullis-bench.jar "$@"
