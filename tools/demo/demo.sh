#!/usr/bin/env bash
# `make run`: the dtrack demo, on a real KVM guest where /dev/kvm works,
# else on dtvm's process backend (or on the backend asked for). The process
# backend's vCPUs are worker threads that run the guest's workload over
# memory tracked with userfaultfd WP_ASYNC and PAGEMAP_SCAN, so every figure
# below is the kernel's real tracking there too.
# Usage: tools/demo/demo.sh BUILD_DIR [kvm|process|auto]
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
build=${1:-build}
backend=${2:-auto}
scratch_dir
out=$SCRATCH

# dtvm: a real KVM guest on 2 vCPUs writing a hot/cold working set; each
# second dtvm stops it briefly, harvests, and checks every page's stamp.
tracked_runs_kvm() {
    local guest=(--backend "$dtvm_backend" --mem 256M --vcpus 2 --workload hotcold --wss 128M --rate 100k --duration 4s) mode
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
    harvest_ms() { summary "$1" | sed 's/.*harvest cost \([0-9.]*\) ms.*/\1/'; }
    printf '%-34s %14s %14s\n' "" "dirty ring" "dirty log"
    printf '%-34s %14s %14s\n' "distinct pages the guest wrote" "$(field 'distinct pages written' ring)" "$(field 'distinct pages written' log)"
    printf '%-34s %14s %14s\n' "pages dtrack reported" "$(field reported ring)" "$(field reported log)"
    printf '%-34s %14s %14s\n' "written pages not reported (lost)" "$(field lost ring)" "$(field lost log)"
    printf '%-34s %14s %14s\n' "harvest cost, ms" "$(harvest_ms ring)" "$(harvest_ms log)"
    echo "(ring: per-vCPU entries, harvested while the guest runs; log: per-slot bitmaps, re-protected lazily)"
    echo
}

# The process backend: each second dtvm stops the threads briefly,
# harvests, and checks every page's stamp. A write-protect fault costs
# 2-14 us depending on the machine: 40k pages/s per vCPU fits every kind.
tracked_run_process() {
    echo "== dtvm (process backend), tracked with userfaultfd WP_ASYNC + PAGEMAP_SCAN =="
    "$build/dtvm" --backend process --mem 256M --vcpus 2 --workload hotcold --wss 128M --rate 40k --duration 4s \
        | tee "$out/uffd.txt"
    echo
}

# dtrack rate attached to a running dtvm, without touching it. On KVM the
# eBPF source counts kvm:kvm_dirty_ring_push in the kernel; on the process
# backend there is no KVM in it for the eBPF method to watch, so page
# hashing it is. The guest is set to write 20k new pages/s per vCPU, which
# is its ground truth.
rate_of_running_guest() {
    local track=() vmm
    if [ "$backend" = kvm ]; then
        track=(--track ring)
        echo "== dtrack rate --pid \$(pidof dtvm): the guest writes 20.0k new pages/s on each of 2 vCPUs =="
    else
        echo "== dtrack rate --pid \$(pidof dtvm) --method sample: the guest writes 20.0k new pages/s on each of 2 vCPUs =="
    fi
    start_bg "$build/dtvm" --backend "$dtvm_backend" --mem 512M --vcpus 2 --workload sequential --wss 480M --rate 20k \
        "${track[@]}" --duration 12s > "$out/rate-dtvm.txt" 2>&1
    vmm=$!
    sleep 1.5
    if [ "$backend" = kvm ]; then
        "$build/dtrack" rate --pid "$vmm" --count 3 --interval 1s --bandwidth 100M --quota 10k
        echo
        echo "-- the same process by page hashing (no kernel help; an estimate, labelled with its bound) --"
        "$build/dtrack" rate --pid "$vmm" --method sample --count 2 --interval 1s --bandwidth 100M
    else
        "$build/dtrack" rate --pid "$vmm" --method sample --count 3 --interval 1s --bandwidth 100M
    fi
    stop "$vmm"
    echo "-- dtvm's own count for the same run (pages the guest wrote, per vCPU and interval) --"
    grep -E '^ +[0-9.]+s +[0-9]+ ' "$out/rate-dtvm.txt" | head -6
    echo
}

# The parts after the guest's own: the sidecar, a real QEMU VM, a precopy
# migration, the dirty limit and sending less, each a script of its own.
the_other_parts() {
    local on=""; [ "$backend" = process ] && on=" (process backend)"
    # The same figures as counters for Prometheus, from a sidecar watching a
    # pid-file directory (as it would watch libvirt's /run/libvirt/qemu).
    echo "== dtrack sidecar: dirty-page counters on /metrics for every VM in a pid-file directory =="
    "$TOOLS/demo/sidecar.sh" "$build" "$backend"
    echo

    # A real QEMU VM, a VMM dtrack did not write, through a migration's life:
    # which figure dtrack gives while QEMU logs dirty pages and while it does not.
    if [ "$backend" = kvm ]; then
        echo "== a real QEMU VM under KVM: idle, migrating to a second QEMU, cancelled =="
        "$TOOLS/demo/qemu_migration.sh" "$build" kvm
    else
        echo "== a real QEMU VM under TCG (no KVM here): idle, migrating to a second QEMU, cancelled =="
        "$TOOLS/demo/qemu_migration.sh" "$build" tcg
    fi
    echo

    # A precopy migration over 127.0.0.1 of a guest that dirties memory
    # faster than the link carries it, auto-converge on, with and without
    # the background sync, scaled down (tools/bench/migration.sh says how).
    echo "== precopy migration$on: does the background sync help auto-converge? =="
    "$TOOLS/bench/migration.sh" "$build" quick "$backend"
    echo

    # The per-vCPU dirty limit against auto-converge and against neither: two
    # writers that outrun the link and one reader vCPU; one migration each
    # (make bench-full: three each, more points, both backends).
    echo "== the per-vCPU dirty limit: only the writers slow down$on =="
    "$TOOLS/bench/dirty_limit.sh" "$build" quick "$backend"
    echo

    # Send less: the same guest sent as whole pages, then with hot pages
    # deferred, deltas against a sent-page cache and zstd, at 8 and 4096
    # bytes per page write (tools/demo/send_less.sh).
    echo "== send less: whole pages against deferral, deltas and zstd$on =="
    "$TOOLS/demo/send_less.sh" "$build" "$backend"
}

echo "== dtrack doctor: which kernel mechanisms this machine offers =="
"$build/dtrack" doctor
echo

# What dtvm is told: auto where it chose KVM itself (it says so in a line).
dtvm_backend=$backend
case $backend in
    auto)
        detect_backend "$build"
        backend=$BACKEND
        if [ "$backend" = process ]; then
            dtvm_backend=process
            echo "== dtvm runs its process backend: $BACKEND_WHY =="
            echo
        fi ;;
    process)
        echo "== dtvm runs its process backend: asked for =="
        echo ;;
    kvm) ;;
    *) echo "usage: $0 BUILD_DIR [kvm|process|auto]" >&2; exit 2 ;;
esac
if [ "$backend" = kvm ]; then tracked_runs_kvm; else tracked_run_process; fi
rate_of_running_guest
the_other_parts
