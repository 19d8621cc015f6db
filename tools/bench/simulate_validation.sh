#!/usr/bin/env bash
# `make bench-full`: dtrack simulate against the real migrations just run by
# tools/bench/migration_compare.sh (its output in COMPARE_OUTPUT), same guest
# and link, with and without the background sync, side by side.
#
# The model is the guest's dtvm options: mem, vcpus, wss, rate (random
# workload -> uniform writes), the bandwidth; zero = mem - wss (dtvm never
# writes memory outside the working set, so round 1 sends it as zero pages);
# and peak, one vCPU's write rate when it runs flat out, measured here: dtvm
# runs the guest for 3 s held 90% of the time (--throttle 90), and
# peak = its writes/s per vCPU / 0.1. That is what the throttle acts on.
# The trace: dtvm records the same guest (same seed) for 10 s, unmigrated,
# and dtrack simulate --trace replays it with the same peak.
# Usage: tools/bench/simulate_validation.sh BUILD_DIR COMPARE_OUTPUT BACKEND VCPUS MEM_MIB WSS_MIB RATE BANDWIDTH_MIB
#   (RATE: page writes/s per vCPU; BANDWIDTH_MIB: MiB/s), the guest tools/bench/migration.sh migrated.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
build=$1 compare=$2 backend=$3 vcpus=$4 mem=$5 wss=$6 rate=$7 bandwidth=$8
guest=(--backend "$backend" --mem "${mem}M" --vcpus "$vcpus" --workload random --wss "${wss}M" --rate "$rate" --seed 7)

# One vCPU flat out: the guest held 90% of the time, its writes/s x 10.
held=$("$build/dtvm" "${guest[@]}" --throttle 90 --duration 3s --json 2>/dev/null |
       jq -n '[inputs | .vcpus[]?.writes_per_s] | add / length | round')
# A loaded machine can make the held guest slower than its own rate: never
# below the rate it keeps unthrottled.
peak=$((held * 10 * 4096))
[ "$peak" -ge $((rate * 4096)) ] || peak=$((rate * 4096))
model="mem=${mem}M,vcpus=$vcpus,wss=${wss}M,rate=$((rate * vcpus * 4096)),zero=$((mem - wss))M,peak=$peak"
echo "== dtrack simulate against the real migrations (same guest, same link) =="
echo "held 90%, a vCPU wrote $held pages/s: peak $((peak / 4096)) pages/s per vCPU"
echo "\$ dtrack simulate --model $model --bandwidth ${bandwidth}M --auto-converge --background-sync 5s"
sim=$("$build/dtrack" simulate --model "$model" --bandwidth "${bandwidth}M" --auto-converge --background-sync 5s)
scratch_dir
trace=$SCRATCH/guest.dtz
echo "\$ dtvm ${guest[*]} --interval 100ms --duration 10s --record TRACE"
"$build/dtvm" "${guest[@]}" --interval 100ms --duration 10s --record "$trace" >/dev/null 2>&1
echo "\$ dtrack simulate --trace TRACE --peak $peak --vcpus $vcpus --bandwidth ${bandwidth}M --auto-converge --background-sync 5s"
traced=$("$build/dtrack" simulate --trace "$trace" --peak "$peak" --vcpus "$vcpus" --bandwidth "${bandwidth}M" \
         --auto-converge --background-sync 5s)

real() {  # real ROW COLUMN(1 with, 2 without): from migration_compare.sh's table
    grep "^$1" "$compare" | sed "s/^$1 *//" | awk -v c="$2" '{ print $c }'
}
simulated() {  # simulated OUTPUT ROW COLUMN
    grep "^$2" <<<"$1" | sed "s/^$2 *//" | awk -v c="$3" '{ print $c }'
}
diff_pct() { awk -v m="$1" -v r="$2" 'BEGIN { if (r > 0) printf "%+.0f%%", 100 * (m - r) / r; else print "-" }'; }

for column in with without; do
    echo
    printf '%-26s %10s %10s %8s %10s %8s\n' "$column background sync" real model diff trace diff
    for row in "total migration time, s" "rounds" "throttle steps (last)"; do
        c=1; [ "$column" = without ] && c=2
        # The steps row reads "9 (99%)": its second column is the third field.
        case $row in throttle*) [ "$column" = without ] && c=3 ;; esac
        r=$(real "$row" "$c") m=$(simulated "$sim" "$row" "$c") t=$(simulated "$traced" "$row" "$c")
        printf '%-26s %10s %10s %8s %10s %8s\n' "$row" "$r" "$m" "$(diff_pct "$m" "$r")" "$t" "$(diff_pct "$t" "$r")"
    done
done
echo
grep -A 20 '^left out' <<<"$sim"
