#!/usr/bin/env bash
# `make bench`: what each tracking source costs, measured on dtvm's real
# guest: the sync (harvest) time per GiB of guest memory, at 1 GiB and
# 4 GiB with the same small working set (so the growth is what the size
# costs), and the stall the guest sees: its vCPU's writes/s flat out over a
# working set that each 100 ms sync write-protects again (every first write
# after a sync faults or pushes a ring entry), and the ring-full exits.
# KVM: ring and log; everywhere: userfaultfd on the process backend.
# Usage: tools/bench/sync_cost.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
build=$1
detect_backend "$build"
if [ "$BACKEND" = kvm ]; then
    modes=(kvm:ring kvm:log process:uffd)
else
    modes=(process:uffd)
    echo "(no usable KVM: only userfaultfd on the process backend: $BACKEND_WHY)"
fi

summary() {  # summary FIELD <json lines: the summary line's FIELD
    tail -1 | grep -o "\"$1\":[0-9.e+-]*" | head -1 | cut -d: -f2
}

echo "== tracking sources: sync cost per GiB of guest memory, and the guest's stall (same run) =="
printf '%-14s %12s %12s %14s %16s %16s %12s\n' "source" "1 GiB: ms" "4 GiB: ms" "us/GiB (4G)" "flat out, wr/s" \
    "us/first write" "ring full/s"
for mode in "${modes[@]}"; do
    backend=${mode%%:*} track=${mode##*:}
    declare -A per_sync=()
    for mem in 1G 4G; do
        out=$("$build/dtvm" --backend "$backend" --track "$track" --mem "$mem" --vcpus 2 --workload random \
              --wss 64M --rate 10k --interval 100ms --duration 4s --json 2>/dev/null)
        per_sync[$mem]=$(awk -v c="$(summary harvest_cost_ms <<<"$out")" -v n="$(summary syncs <<<"$out")" \
                         'BEGIN { printf "%.3f", (n > 0 ? c / n : 0) }')
    done
    # Flat out: one vCPU, random writes over 512 MiB; the first interval warms up.
    out=$("$build/dtvm" --backend "$backend" --track "$track" --mem 1G --vcpus 1 --workload random --wss 512M \
          --rate 0 --interval 100ms --duration 3s --json 2>/dev/null)
    writes=$(grep -o '"writes_per_s":[0-9.]*' <<<"$out" | cut -d: -f2 | tail -n +3 |
             awk '{ s += $1; n++ } END { printf "%.0f", n ? s / n : 0 }')
    full=$(awk -v f="$(summary full_exits <<<"$out")" -v t="$(summary run_s <<<"$out")" \
           'BEGIN { if (f == "") print "-"; else printf "%.0f", f / t }')
    printf '%-14s %12s %12s %14s %16s %16s %12s\n' "$backend $track" "${per_sync[1G]}" "${per_sync[4G]}" \
        "$(awk -v m="${per_sync[4G]}" 'BEGIN { printf "%.0f", 1000 * m / 4 }')" "$writes" \
        "$(awk -v w="$writes" 'BEGIN { printf "%.1f", (w > 0 ? 1e6 / w : 0) }')" "$full"
done
echo "(ms: one sync's harvest, mean over 40 syncs of a guest writing 2 x 10k pages/s over 64 MiB;"
echo " flat out: one vCPU's writes/s over 512 MiB, re-protected every 100 ms, so nearly every write is the"
echo " first to its page since the last sync and pays the fault or ring push; a write to a dirty page costs ns)"
