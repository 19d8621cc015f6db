#!/usr/bin/env bash
# The per-vCPU dirty limit against auto-converge and against neither, in
# whole dtvm migrations over 127.0.0.1, same seed, same capped link:
#   quick (`make run`, `make bench`): point (a), one run per mode, on the
#     backend given or else the one dtvm picks here;
#   full (`make bench-full`): every point, RUNS runs per point (default 3),
#     on every backend this machine has (KVM where /dev/kvm works, the
#     process backend everywhere):
#   (a) 2 writer vCPUs + 1 reader vCPU (on a 2-core machine two spinning
#       readers beside the writers, the sender and the receiver made the
#       readers' throughput bimodal: 26M or 59M reads/s in identical runs;
#       one reader keeps it steady)
#   (b) 4 writer vCPUs
#   (c) (a) with faster writers: the rate sweep, (a) at 15k writes/s per
#       writer to 40k, where auto-converge stops converging in the time
#       allowed
#   (s) steady state: the check loop holds 2 writers + 2 readers at the quota
#       from the start for 20 s (each writer's mean rate over its last 10
#       periods against the quota)
# Per mode: how many runs converged, the mean total time and downtime of
# those that did, and the readers' own progress (reads/s per reader during
# the migration) against the same readers with neither; for the dirty limit
# also each writer's steady rate against its quota.
# Usage: tools/bench/dirty_limit.sh BUILD_DIR quick|full [backend...]
#   RUNS=N runs per point; POINTS="s a b c" which points; KEEP=1 keeps every run's output.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
build=$1 scale=$2
shift 2
case $scale in
    quick) runs=${RUNS:-1} points=${POINTS:-a} ;;
    full)  runs=${RUNS:-3} points=${POINTS:-s a b c} ;;
    *) echo "usage: $0 BUILD_DIR quick|full [backend...]" >&2; exit 2 ;;
esac
out=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then echo "(every run's output stays in $out)"; else remove_on_exit "$out"; fi

backends=("$@")
if [ ${#backends[@]} -eq 0 ]; then
    detect_backend "$build"
    if [ "$BACKEND" = process ]; then
        echo "(no usable KVM: the process backend only: $BACKEND_WHY)"
        backends=(process)
    elif [ "$scale" = full ]; then
        backends=(kvm process)
    else
        backends=(kvm)
    fi
fi

# One migration: migrate FILE BACKEND dtvm-options... (the destination listens on any free port).
migrate() {
    local file=$1 backend=$2
    shift 2
    start_incoming "$build" "$file.in" --mem "$mem" --backend process
    "$build/dtvm" --backend "$backend" "$@" --migrate-to "tcp://127.0.0.1:$INCOMING_PORT" > "$file" 2>&1 || true
    wait "$INCOMING_PID" || true
}

# Figures from one run's output.
converged() { grep -q '^migration: completed' "$1" && echo 1 || echo 0; }
total_s() { sed -n 's/^migration: [a-z ]* after \([0-9.]*\) s.*/\1/p' "$1"; }
downtime_ms() { sed -n 's/^downtime: \([0-9.]*\) ms real.*/\1/p' "$1"; }
# The readers' reads/s over the migration as a % of their own over the
# warm-up before it, in the same run (the machine's state that run cancels out).
reads_vs_warmup() { sed -n 's/^reader vCPU [0-9]*: .* (\([0-9]*\)%)$/\1/p' "$1" |
                    awk '{ s += $1; n++ } END { if (n) printf "%.0f", s / n }'; }
# Mean reads/s of the reader vCPUs over the migration. dtvm prints them
# like "1.25M" (format_count: k and M are powers of 1000); numfmt reads
# them back.
reads_per_s() { sed -n 's/^reader vCPU [0-9]*: \([0-9.]*[kMG]*\) reads\/s over the migration.*/\1/p' "$1" |
                tr k K | numfmt --from=si | awk '{ s += $1; n++ } END { if (n) printf "%.0f", s / n }'; }
# Each writer's steady rate as a % of the quota, "98 102".
steady_pcts() { sed -n 's/^dirty limit: vCPU [0-9]* steady rate [0-9]* pages\/s = \([0-9]*\)% of its quota.*/\1/p' "$1" |
                tr '\n' ' '; }
mean_reads() { awk '{ for (i = 1; i <= NF; i++) { s += $i; n++ } } END { if (n) printf "%.2fM", s / n / 1e6; else print "-" }'; }

mean() { awk '{ for (i = 1; i <= NF; i++) if ($i != "") { s += $i; n++ } } END { if (n) printf "%.1f", s / n; else print "-" }'; }

# point NAME TITLE QUOTA dtvm-guest-options...: RUNS runs of each mode, one table.
point() {
    local name=$1 title=$2 quota=$3
    shift 3
    local guest=("$@")
    echo "== ($name) $title =="
    echo "\$ dtvm --backend $backend ${guest[*]} --migrate-to ... [--auto-converge | --dirty-limit $quota]"
    for mode in neither auto-converge dirty-limit; do
        local extra=()
        case $mode in
            auto-converge) extra=(--auto-converge) ;;
            dirty-limit) extra=(--dirty-limit "$quota" --dirty-limit-sleep slice) ;;
        esac
        for r in $(seq "$runs"); do migrate "$out/$backend-$name-$mode-$r" "$backend" "${guest[@]}" "${extra[@]}"; done
    done
    local baseline
    baseline=$(for r in $(seq "$runs"); do reads_per_s "$out/$backend-$name-neither-$r"; echo; done | mean)
    [ "$baseline" = 0.0 ] && baseline=-
    printf '%-30s %16s %16s %16s\n' "" neither auto-converge dirty-limit
    row() {  # row LABEL FUNCTION: per mode, over the runs
        local label=$1 f=$2 cells=()
        for mode in neither auto-converge dirty-limit; do cells+=("$($f "$mode")"); done
        printf '%-30s %16s %16s %16s\n' "$label" "${cells[@]}"
    }
    files() { for r in $(seq "$runs"); do echo "$out/$backend-$name-$1-$r"; done; }
    c_conv() { local n=0; for f in $(files "$1"); do n=$((n + $(converged "$f"))); done; echo "$n of $runs"; }
    c_time() { for f in $(files "$1"); do if [ "$(converged "$f")" = 1 ]; then total_s "$f"; fi; done | tr '\n' ' ' | mean; }
    c_down() { for f in $(files "$1"); do if [ "$(converged "$f")" = 1 ]; then downtime_ms "$f"; fi; done | tr '\n' ' ' | mean; }
    c_reads() { for f in $(files "$1"); do reads_per_s "$f"; echo; done | mean_reads; }
    c_share() {
        local m
        m=$(for f in $(files "$1"); do reads_per_s "$f"; echo; done | mean)
        awk -v m="$m" -v b="$baseline" 'BEGIN { if (b > 0 && m != "-") printf "%.0f%%", 100 * m / b; else print "-" }'
    }
    c_warm() {
        local m
        m=$(for f in $(files "$1"); do reads_vs_warmup "$f"; echo; done | mean)
        [ "$m" = - ] && echo - || echo "${m%.*}%"
    }
    c_steady() { for f in $(files "$1"); do steady_pcts "$f"; done | xargs; }
    row "converged" c_conv
    row "total time, s (converged)" c_time
    row "downtime, ms (converged)" c_down
    if [ -n "$baseline" ] && [ "$baseline" != "-" ]; then
        row "reads/s per reader" c_reads
        row "readers vs neither" c_share
        row "readers vs their warm-up" c_warm
    fi
    echo "dirty-limit writers' last-half rate, % of quota (each writer, each run): $(c_steady dirty-limit)"
    echo "(a migration ends a few periods after the limit engages, before the controller settles: (s) is the steady state)"
    local ac dl
    ac=$(c_time auto-converge) dl=$(c_time dirty-limit)
    awk -v a="$ac" -v d="$dl" 'BEGIN { if (a != "-" && d != "-" && d > 0) printf "auto-converge / dirty-limit total time: %.2fx\n", a / d }'
    echo
}

# steady BACKEND QUOTA: the check loop holding 2 writers + 2 readers at the
# quota from the start, 20 s, RUNS runs: each writer's mean rate over the
# second half against the quota.
steady() {
    local backend=$1 quota=$2 sleep=${3:-slice} ring=${4:-}
    local what="sleeping a share of each slice"
    [ "$sleep" = ring-full ] && what="sleeping at ring-full exits (QEMU's actuator), ${ring:-4096}-entry rings"
    echo "== (s) steady state: the check loop holds 2 writers (15k writes/s each) + 2 readers at $quota pages/s, $what =="
    local args=(--backend "$backend" --mem 128M --vcpus 2 --readers 2 --workload random --wss 96M --rate 15k --seed 7
                --exit-every 64 --dirty-limit "$quota" --dirty-limit-sleep "$sleep" ${ring:+--ring-size "$ring"} --duration 20s)
    echo "\$ dtvm ${args[*]}"
    local pcts=() r
    for r in $(seq "$runs"); do
        "$build/dtvm" "${args[@]}" > "$out/$backend-steady-$sleep$ring-$r" 2>&1 || true
        pcts+=($(steady_pcts "$out/$backend-steady-$sleep$ring-$r"))
    done
    echo "each writer's steady rate, % of its quota (mean of the last 10 periods; each writer, each run): ${pcts[*]}"
    printf '%s\n' "${pcts[@]}" | awk '{ d = $1 - 100; if (d < 0) d = -d; if (d > m) m = d } END {
        printf "largest deviation from the quota: %d%% (%s)\n", m, m <= 10 ? "within 10%" : "NOT within 10%" }'
    echo
}

for backend in "${backends[@]}"; do
    # Same seed and link everywhere; the link is slower than the writers, so
    # neither converges and the limit has work to do.
    base=(--mem 128M --workload random --wss 96M --seed 7 --bandwidth 64M --warmup 2s --max-time 25s --exit-every 64)
    mem=128M
    # The quota: 10 MiB/s per vCPU, far under what a writer dirties and
    # above what the 99% sleep cap leaves a flat-out vCPU (~1% of its
    # peak, ~1.3k pages/s on KVM here).
    quota=2500
    echo "#### backend $backend: 128 MiB guest, 96 MiB random working set, 64 MiB/s link, $runs runs per point"
    for p in $points; do
        case $p in
            s) steady "$backend" "$quota"
               # QEMU's actuator beside it, on KVM: coarse with the default ring, fine with a small one.
               if [ "$backend" = kvm ]; then
                   steady kvm "$quota" ring-full
                   steady kvm "$quota" ring-full 512
               fi ;;
            a) point a "2 writers (15k writes/s each) + 1 reader" "$quota" "${base[@]}" --vcpus 2 --readers 1 --rate 15k ;;
            b) point b "4 writers (15k writes/s each)" "$quota" "${base[@]}" --vcpus 4 --rate 15k ;;
            c) point c "(a) with writers at 40k writes/s: the sweep's top (a is 15k)" "$quota" "${base[@]}" \
                   --vcpus 2 --readers 1 --rate 40k ;;
        esac
    done
done
