#!/usr/bin/env bash
# `make run`: the dtrack demo. Usage: tools/demo/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== dtrack doctor: which kernel mechanisms this machine offers =="
"$build/dtrack" doctor
echo

# Which backend dtvm runs here: a real KVM guest where /dev/kvm works, else
# worker threads over userfaultfd-tracked memory (the process backend).
choice=$("$build/dtvm" --print-backend)
backend=${choice%%:*}
if [ "$backend" = process ]; then
    echo "== dtvm runs its process backend: ${choice#process: } =="
    echo
    exec ./tools/demo_process_backend.sh "$build"
fi

# dtvm: a real KVM guest on 2 vCPUs writing a hot/cold working set; each
# second dtvm stops it briefly, harvests, and checks every page's stamp.
guest=(--mem 256M --vcpus 2 --workload hotcold --wss 128M --rate 100k --duration 4s)
for mode in ring log; do
    echo "== dtvm, tracked with the KVM dirty $mode =="
    "$build/dtvm" "${guest[@]}" --track "$mode" | tee "$out/$mode.txt"
    echo
done

echo "== side by side: same guest, same workload =="
summary() { grep '^summary:' "$out/$1.txt"; }
field() {  # field NAME MODE: the number before NAME in the summary line
    summary "$2" | grep -o "[0-9.]* $1" | head -1 | cut -d' ' -f1
}
printf '%-34s %14s %14s\n' "" "dirty ring" "dirty log"
printf '%-34s %14s %14s\n' "distinct pages the guest wrote" "$(field 'distinct pages written' ring)" "$(field 'distinct pages written' log)"
printf '%-34s %14s %14s\n' "pages dtrack reported" "$(field reported ring)" "$(field reported log)"
printf '%-34s %14s %14s\n' "written pages not reported (lost)" "$(field lost ring)" "$(field lost log)"
printf '%-34s %14s %14s\n' "harvest cost, ms" "$(summary ring | sed 's/.*harvest cost \([0-9.]*\) ms.*/\1/')" "$(summary log | sed 's/.*harvest cost \([0-9.]*\) ms.*/\1/')"
echo "(ring: per-vCPU entries, harvested while the guest runs; log: per-slot bitmaps, re-protected lazily)"
echo

# dtrack rate attached to a running dtvm, without touching it: the eBPF
# source counts kvm:kvm_dirty_ring_push in the kernel. The guest is set to
# write 20k new pages/s per vCPU, which is its ground truth.
echo "== dtrack rate --pid \$(pidof dtvm): the guest writes 20.0k new pages/s on each of 2 vCPUs =="
"$build/dtvm" --mem 512M --vcpus 2 --workload sequential --wss 480M --rate 20k --track ring --duration 12s \
    > "$out/rate-dtvm.txt" 2>&1 &
vmm=$!
sleep 1.5
"$build/dtrack" rate --pid "$vmm" --count 3 --interval 1s --bandwidth 100M --quota 10k
echo
echo "-- the same process by page hashing (no kernel help; an estimate, labelled with its bound) --"
"$build/dtrack" rate --pid "$vmm" --method sample --count 2 --interval 1s --bandwidth 100M
kill "$vmm" 2>/dev/null; wait "$vmm" 2>/dev/null || true
echo "-- dtvm's own count for the same run (pages the guest wrote, per vCPU and interval) --"
grep -E '^ +[0-9.]+s +[0-9]+ ' "$out/rate-dtvm.txt" | head -6
echo

# The same figures as counters for Prometheus, from a sidecar watching a
# pid-file directory (as it would watch libvirt's /run/libvirt/qemu).
echo "== dtrack sidecar: dirty-page counters on /metrics for every VM in a pid-file directory =="
./tools/demo/sidecar.sh "$build" kvm
echo

# A real QEMU VM, a VMM dtrack did not write, through a migration's life:
# which figure dtrack gives while QEMU logs dirty pages and while it does not.
echo "== a real QEMU VM under KVM: idle, migrating to a second QEMU, cancelled =="
./tools/demo/qemu_migration.sh "$build" kvm
echo

# A precopy migration over 127.0.0.1 of a guest that dirties memory faster
# than the link carries it, auto-converge on, with and without the
# background sync. Scaled down to run in about a minute and a half: rounds of
# ~3 s against a 1 s threshold (dtvm's default threshold is 5 s).
echo "== precopy migration: does the background sync help auto-converge? =="
BACKGROUND_SYNC=1s ./tools/bench/migration_compare.sh "$build" --mem 128M --vcpus 2 --workload random --wss 96M \
    --rate 15k --bandwidth 32M --seed 7 --max-time 240s | grep -v '^  round'
echo

# The per-vCPU dirty limit against auto-converge and against neither: two
# writers that outrun the link and one reader vCPU; one migration each
# (make bench: three each, more points, both backends).
echo "== the per-vCPU dirty limit: only the writers slow down =="
RUNS=1 POINTS=a ./tools/bench/dirty_limit.sh "$build" kvm
