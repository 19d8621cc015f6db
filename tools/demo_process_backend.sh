#!/usr/bin/env bash
# `make run` on a machine without KVM (tools/demo.sh calls it after doctor):
# the same demo on dtvm's process backend. Its vCPUs are worker threads that
# run the guest's workload over memory tracked with userfaultfd WP_ASYNC and
# PAGEMAP_SCAN, so every figure below is the kernel's real tracking.
# Usage: tools/demo_process_backend.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Each second dtvm stops the threads briefly, harvests, and checks every
# page's stamp. A write-protect fault costs 2-14 us depending on the
# machine: 40k pages/s per vCPU fits every kind.
echo "== dtvm (process backend), tracked with userfaultfd WP_ASYNC + PAGEMAP_SCAN =="
"$build/dtvm" --backend process --mem 256M --vcpus 2 --workload hotcold --wss 128M --rate 40k --duration 4s \
    | tee "$out/uffd.txt"
echo

# dtrack rate attached to the running dtvm without touching it. There is no
# KVM in it for the eBPF method to watch, so page hashing it is.
echo "== dtrack rate --pid \$(pidof dtvm) --method sample: the guest writes 20.0k new pages/s on each of 2 vCPUs =="
"$build/dtvm" --backend process --mem 512M --vcpus 2 --workload sequential --wss 480M --rate 20k --duration 12s \
    > "$out/rate-dtvm.txt" 2>&1 &
vmm=$!
sleep 1.5
"$build/dtrack" rate --pid "$vmm" --method sample --count 3 --interval 1s --bandwidth 100M
kill "$vmm" 2>/dev/null; wait "$vmm" 2>/dev/null || true
echo "-- dtvm's own count for the same run (pages the guest wrote, per vCPU and interval) --"
grep -E '^ +[0-9.]+s +[0-9]+ ' "$out/rate-dtvm.txt" | head -6
echo

# The same figures as counters for Prometheus, from a sidecar watching a
# pid-file directory (as it would watch libvirt's /run/libvirt/qemu).
echo "== dtrack sidecar: dirty-page counters on /metrics for every VM in a pid-file directory =="
./tools/demo/sidecar.sh "$build" process
echo

# A real QEMU VM, a VMM dtrack did not write, through a migration's life:
# which figure dtrack gives while QEMU logs dirty pages and while it does not.
echo "== a real QEMU VM under TCG (no KVM here): idle, migrating to a second QEMU, cancelled =="
./tools/demo/qemu_migration.sh "$build" tcg
echo

# A precopy migration over 127.0.0.1 of a guest that dirties memory faster
# than the link carries it, auto-converge on, with and without the
# background sync: rounds of ~4 s against a 1 s threshold. One vCPU: a
# throttled worker thread still dirties a page per fault while it runs, and
# at 99% one of them stays below the link's rate on every machine kind.
echo "== precopy migration (process backend): does the background sync help auto-converge? =="
BACKGROUND_SYNC=1s ./tools/bench/migration_compare.sh "$build" --backend process --mem 256M --vcpus 1 --workload random \
    --wss 192M --rate 30k --bandwidth 48M --seed 7 --max-time 240s | grep -v '^  round'
echo

# The per-vCPU dirty limit against auto-converge and against neither: two
# writers that outrun the link and one reader vCPU; one migration each.
echo "== the per-vCPU dirty limit: only the writers slow down (process backend) =="
RUNS=1 POINTS=a ./tools/bench/dirty_limit.sh "$build" process
