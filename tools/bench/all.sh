#!/usr/bin/env bash
# `make bench` (quick) and `make bench-full` (full): every benchmark in
# turn. quick gives the headline figures in under 10 minutes: the
# micro-benchmark table, what each tracking source costs, what `dtrack
# rate` and the sidecar cost, the sidecar under 1,000 scrapes, a scaled-down
# migration with and without the background sync, the dirty limit at one
# point, one run per mode, on one backend, and issue 24's five policies on
# two workloads, one run each. full runs the migration at full scale beside
# its simulation, the dirty limit at every point, three runs each, on every
# backend, and the policies on every workload, three runs each. A part
# that stops early is named at the end, and the rest still run: one figure
# out of reach never costs the others.
# Usage: tools/bench/all.sh BUILD_DIR quick|full
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
build=$1 scale=$2
case $scale in quick | full) ;; *) echo "usage: $0 BUILD_DIR quick|full" >&2; exit 2 ;; esac

unreached=()
part() {  # part COMMAND...: one benchmark; its failure is reported, not fatal
    local rc=0
    "$@" || rc=$?
    if [ "$rc" != 0 ]; then
        echo "(${1#"$TOOLS"/} stopped early, exit $rc: the figures above are what it reached)"
        unreached+=("${1#"$TOOLS"/}")
    fi
    echo
}

part "$build/dtrack_bench" --benchmark_color=false
part "$TOOLS/bench/sync_cost.sh" "$build"
part "$TOOLS/bench/rate_overhead.sh" "$build"
part "$TOOLS/bench/sidecar.sh" "$build"
part "$TOOLS/bench/migration.sh" "$build" "$scale"
part "$TOOLS/bench/dirty_limit.sh" "$build" "$scale"
part "$TOOLS/bench/policy_comparison.sh" "$build" "$scale"
if [ ${#unreached[@]} -gt 0 ]; then
    echo "bench: figures not reached, from: ${unreached[*]}"
fi
