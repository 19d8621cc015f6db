#!/usr/bin/env bash
# A precopy migration over 127.0.0.1 of a guest that dirties memory faster
# than the link carries it, auto-converge on, with and without the
# background sync (tools/bench/migration_compare.sh).
#   quick (`make run`, `make bench`): scaled down to run in about a minute
#     and a half: rounds of ~3 s (~4 s on the process backend) against a 1 s
#     threshold (dtvm's default threshold is 5 s).
#   full (`make bench-full`): rounds of ~8 s against the default 5 s
#     threshold, a few minutes; then dtrack simulate models the same guest
#     and link, side by side with the real figures
#     (tools/bench/simulate_validation.sh).
# On KVM the guest has 2 vCPUs; on the process backend 1 vCPU, since a
# throttled worker thread dirties a page per write-protect fault while it
# runs and two of them at 99% can outrun the link on a machine with fast
# faults (one of them stays below it on every machine kind).
# Usage: tools/bench/migration.sh BUILD_DIR quick|full [kvm|process]
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
build=$1 scale=$2 backend=${3:-}
if [ -z "$backend" ]; then
    detect_backend "$build"
    backend=$BACKEND
    [ "$backend" = process ] && echo "(no usable KVM: the migration runs dtvm's process backend: $BACKEND_WHY)"
fi

# The guest and link in plain numbers (MiB, pages/s per vCPU, MiB/s), so
# that the simulation's model needs no unit parsing.
case $scale:$backend in
    quick:kvm)     vcpus=2 mem=128 wss=96  rate=15000 bandwidth=32 threshold=1s max_time=240s ;;
    quick:process) vcpus=1 mem=256 wss=192 rate=30000 bandwidth=48 threshold=1s max_time=240s ;;
    full:kvm)      vcpus=2 mem=256 wss=192 rate=15000 bandwidth=24 threshold=5s max_time=600s ;;
    full:process)  vcpus=1 mem=512 wss=384 rate=30000 bandwidth=48 threshold=5s max_time=600s ;;
    *) echo "usage: $0 BUILD_DIR quick|full [kvm|process]" >&2; exit 2 ;;
esac
guest=(--backend "$backend" --mem "${mem}M" --vcpus "$vcpus" --workload random --wss "${wss}M" --rate "$rate"
       --bandwidth "${bandwidth}M")
scratch_dir
compare=$SCRATCH/compare.txt
BACKGROUND_SYNC=$threshold "$TOOLS/bench/migration_compare.sh" "$build" "${guest[@]}" --seed 7 --max-time "$max_time" |
    grep -v '^  round' | tee "$compare"
if [ "$scale" = full ]; then
    echo
    "$TOOLS/bench/simulate_validation.sh" "$build" "$compare" "$backend" "$vcpus" "$mem" "$wss" "$rate" "$bandwidth"
fi
