#!/usr/bin/env bash
# Issue 24's policies side by side on the same guest and link: whole dtvm
# migrations over 127.0.0.1 to a dtvm --incoming, same seed, then `dtrack
# simulate` on a recording of the same guest with each policy, and the
# simulation's error against the real runs.
#
# The policies, as dtvm flags, and why:
#   (1) QEMU 7.2: --auto-converge --background-sync off. Auto-converge, the
#       dirty bitmap synced at round ends only.
#   (2) QEMU 9.2: --auto-converge --background-sync-every 5s. 9.2's periodic
#       sync every 5 s whatever the round is doing, in place of dtvm's
#       --background-sync (a sync when a round outlasts its threshold: the
#       watcher's own trigger).
#   (3) QEMU 8.1 dirty-limit: --dirty-limit Q --dirty-limit-sleep ring-full
#       --track ring. QEMU's actuator: a limited vCPU sleeps at its
#       KVM_EXIT_DIRTY_RING_FULL exits, the reaper off so that rings fill.
#       KVM's ring only: on the process backend (3) is not reached. dtvm
#       measures the rates of both (3) and (4) from the watcher's sync every
#       --dirty-limit-period (QEMU 8.1 reaps the rings once a period too; dtvm
#       has no way to take the rates from round syncs only), so (3) and (4)
#       differ in the actuator.
#   (4) dtrack's watcher + dirty limit: --dirty-limit Q --dirty-limit-sleep
#       slice. The watcher syncs every period while the limit can engage
#       (tools/dtvm/modes/migration_source.cpp); a limited vCPU sleeps its
#       share of every 10 ms slice, so the control does not coarsen with the
#       ring size.
#   (5) (4) + --defer-hot --xbzrle-cache C --compress zstd: hot pages held for
#       the final round, re-sent pages as deltas, zstd on the wire.
# Q is 2500 pages/s per vCPU (10 MiB/s, as tools/bench/dirty_limit.sh), C a
# quarter of guest memory.
#
# The guest and link: 128 MiB, two writer vCPUs at 15k writes/s each and a
# reader vCPU, a 96 MiB working set, seed 7, a 24 MiB/s link, the default
# 300 ms downtime limit: the hot tenth of the working set (9.6 MiB) is more
# than 300 ms at 24 MiB/s carries, so no policy converges by doing nothing.
# The destination runs the process backend (it only receives).
#
# Workloads (each at --write-bytes 8 and 4096; a reader vCPU beside the two
# writers, whose progress is the readers' figure): hot/cold, uniform random,
# sequential sweep; in full also random at 40k writes/s per writer, where (1)
# does not converge in the time allowed.
#   quick (`make bench`): hot/cold at 8 bytes and random at 4096 (the issue's
#     two done-when points), one run per policy, rounds of a few seconds
#     against a 1 s periodic sync (5 s is the real figure: full), 15 s at
#     most per migration (auto-converge needs ~25 s here, so (1) and (2)
#     stop at 15 s: their figures are bounds), under ~3 min.
#   full (`make bench-full`): every workload, RUNS runs per point (default 3),
#     45 s at most per migration (about 45 min).
# Per workload one table: the median of the runs per policy, the ratios
# (5)/(2) and (5)/(4), then dtrack simulate per policy and its error.
# Options the binaries lack (being added for issue 24) give a "not reached:
# ... lacks OPTION" line; the rest carries on.
# Usage: tools/bench/policy_comparison.sh BUILD_DIR quick|full [kvm|process]
#   RUNS=N runs per point; KEEP=1 keeps every run's output; POINTS="hotcold 8;
#   random 4096" runs only those points ("WORKLOAD BYTES [RATE]", ";" between);
#   POLICIES="4 5" only those policies.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
build=$1 scale=${2:-} backend=${3:-}
case $scale in
    quick) runs=${RUNS:-1} every=1s max_time=15s warmup=1s record_for=5s
           workloads=("hotcold 8" "random 4096") ;;
    full)  runs=${RUNS:-3} every=5s max_time=45s warmup=2s record_for=10s
           workloads=("hotcold 8" "hotcold 4096" "random 8" "random 4096" "sequential 8" "sequential 4096"
                      "random 8 40k") ;;
    *) echo "usage: $0 BUILD_DIR quick|full [kvm|process]" >&2; exit 2 ;;
esac
[ -n "${POINTS:-}" ] && IFS=';' read -r -a workloads <<<"$POINTS"
if [ -z "$backend" ]; then
    detect_backend "$build"
    backend=$BACKEND
    [ "$backend" = process ] && echo "(no usable KVM: the process backend: $BACKEND_WHY)"
fi
scratch_dir
out=$SCRATCH
[ -n "${KEEP:-}" ] && { out=$(mktemp -d); echo "(every run's output stays in $out)"; }

mem_mib=128 writers=2 bandwidth_mib=24 quota=2500
# The reader on the last CPU alone (dtvm --reader-cpus), everything else of
# both dtvms on the others, as production pins vCPUs to cores of their own:
# with 3 vCPUs, a sender and a receiver on 2 cores, the reader's reads/s
# would measure the scheduler (a sender compressing flat out for 0.1 s)
# more than what the policy does to the guest. One CPU: nothing to pin.
reader_cpu="" rest_cpus=""
if [ "$(nproc)" -ge 2 ]; then
    reader_cpu=$(($(nproc) - 1)) rest_cpus=0
    [ "$reader_cpu" -gt 1 ] && rest_cpus=0-$((reader_cpu - 1))
fi
guest_bytes=$((mem_mib * 1048576))
link=(--bandwidth "${bandwidth_mib}M" --max-time "$max_time")
policies=(1 2 3 4 5)
[ -n "${POLICIES:-}" ] && read -r -a policies <<<"$POLICIES"
declare -A policy_name=([1]="(1) QEMU 7.2" [2]="(2) QEMU 9.2" [3]="(3) QEMU 8.1 dirty-limit"
                        [4]="(4) watcher + dirty limit" [5]="(5) (4) + defer, delta, zstd")

# --- which options the binaries have ----------------------------------------
dtvm_help=$("$build/dtvm" --help 2>&1)
simulate_help=$("$build/dtrack" simulate --help 2>&1)
# has HELP OPTION: OPTION is in HELP; "--compress=" means it takes a value
# (today's --compress is a bare flag; issue 24's takes zstd|zlib).
has() {
    case $2 in
        *=) grep -qE -- "^ +${2%=} \[?[A-Z]" <<<"$1" ;;
        *) grep -qE -- "^ +$2( |$)" <<<"$1" ;;
    esac
}
# missing HELP OPTION...: prints the first OPTION HELP lacks (without its "=").
missing() {
    local help=$1 o
    shift
    for o in "$@"; do has "$help" "$o" || { echo "${o%=}"; return; }; done
}

# policy P: sets POLICY (the policy's options, dtvm's and dtrack simulate's
# alike), ACTUATOR (dtvm's only: where a limited vCPU sleeps), SIMULATE
# (dtrack simulate's only) and NEEDS (the options POLICY needs; "=": they
# take a value).
policy() {
    local limit=(--dirty-limit "$quota")
    ACTUATOR=() SIMULATE=() NEEDS=()
    case $1 in
        1) POLICY=(--auto-converge --background-sync off) ;;
        # dtvm's periodic sync replaces its round-time one; dtrack simulate
        # runs both side by side unless the round-time one is off.
        2) POLICY=(--auto-converge --background-sync-every "$every") SIMULATE=(--background-sync off)
           NEEDS=(--background-sync-every=) ;;
        # (3) runs the ring without its reaper: read at syncs only.
        3) POLICY=("${limit[@]}") ACTUATOR=(--dirty-limit-sleep ring-full --track ring) NEEDS=(--dirty-limit=)
           has "$simulate_help" --harvest && SIMULATE=(--harvest sync)
           has "$simulate_help" --dirty-limit-sleep= && SIMULATE+=(--dirty-limit-sleep ring-full) ;;
        4) POLICY=("${limit[@]}") ACTUATOR=(--dirty-limit-sleep slice) NEEDS=(--dirty-limit=) ;;
        5) POLICY=("${limit[@]}" --defer-hot --xbzrle-cache "$((mem_mib / 4))M" --compress zstd)
           ACTUATOR=(--dirty-limit-sleep slice) NEEDS=(--dirty-limit= --defer-hot --xbzrle-cache= --compress=) ;;
    esac
}

# --- one migration's figures, as JSON -----------------------------------------
# dtvm --migrate-to --json ends with one JSON object (total_s, rounds,
# downtime_ms, bytes_sent, guest_bytes, bytes_per_guest_byte, status, and
# readers[].migration_reads_per_s). Without it the same figures come from
# the text report; reader_reads_per_s is added, the readers' mean.
report_line() { sed -n "s/$2/\1/p" "$1" | head -1; }
text_summary() {  # text_summary FILE: dtvm's text report as the JSON summary
    local f=$1 wire
    wire=$(report_line "$f" '^migration: .*, \([0-9.]* [KMGT]*i*B\) on the wire$' | sed 's/ \([KMGT]\)iB/\1i/; s/ B$//')
    jq -n --arg total "$(report_line "$f" '^migration: [a-z_ ]* after \([0-9.]*\) s.*')" \
        --arg rounds "$(report_line "$f" '^migration: .*: \([0-9]*\) rounds.*')" \
        --arg down "$(report_line "$f" '^downtime: \([0-9.]*\) ms real.*')" \
        --arg sent "$([ -n "$wire" ] && numfmt --from=iec-i "$wire")" --argjson guest "$guest_bytes" \
        --arg status "$(report_line "$f" '^migration: \([a-z_ ]*\) after .*')" \
        'def num: if . == "" then null else tonumber end;
         {total_s: ($total | num), rounds: ($rounds | num), downtime_ms: ($down | num), bytes_sent: ($sent | num),
          guest_bytes: $guest, status: $status}
         | .bytes_per_guest_byte = (if .bytes_sent then .bytes_sent / .guest_bytes else null end)'
}
# Each reader's reads/s over the migration, averaged (dtvm prints "1.25M": k
# and M are powers of 1000).
reader_reads_per_s() {
    sed -n 's/^reader vCPU [0-9]*: \([0-9.]*[kMG]*\) reads\/s over the migration.*/\1/p' "$1" | tr k K |
        numfmt --from=si | awk '{ s += $1; n++ } END { if (n) printf "%.0f", s / n; else print "null" }'
}
# reader_reads_lost: the reads a reader did not do because of the migration,
# (its warm-up reads/s - its reads/s over the migration) x the migration's
# time, averaged over the readers: progress over the same stretch of time,
# so a migration of 0.1 s and one of 6 s compare (reads/s alone over 0.1 s
# mostly measures the sender's CPU beside the vCPUs on 2 cores).
# reader_share: a reader's reads/s over the migration against its own
# warm-up (dtvm's share_of_warmup), averaged: runs on the same host differ
# by more than the policies do in reads/s alone.
summary() {  # summary FILE: the run's JSON summary, with reader_reads_per_s, _lost and reader_share
    local json
    json=$(tail -1 "$1" | jq -c 'select(type == "object")' 2>/dev/null)
    [ -n "$json" ] || json=$(text_summary "$1")
    jq -c --argjson text "$(reader_reads_per_s "$1")" '.reader_reads_per_s =
        ([.readers[]?.migration_reads_per_s] | if length > 0 then add / length else $text end)
        | .reader_share = ([.readers[]?.share_of_warmup] | if length > 0 then add / length else null end)
        | .total_s as $t | .reader_reads_lost = ([.readers[]? | (.warmup_reads_per_s - .migration_reads_per_s) * $t]
                                                | if length > 0 and $t != null then add / length else null end)' <<<"$json"
}

# migrate FILE dtvm-options...: one migration to a destination on any free
# port; FILE the source's output, FILE.json its summary.
migrate() {
    local file=$1
    shift
    start_incoming "$build" "$file.in" --mem "${mem_mib}M" --backend process
    [ -n "$reader_cpu" ] && taskset -a -p -c "$rest_cpus" "$INCOMING_PID" > /dev/null
    "$build/dtvm" --backend "$backend" "$@" --json --migrate-to "tcp://127.0.0.1:$INCOMING_PORT" > "$file" 2>&1
    # A source that refused its options never connected: the destination waits for nobody.
    if grep -q '^migration:' "$file"; then
        wait "$INCOMING_PID"
    else
        stop "$INCOMING_PID"
        echo "not reached: dtvm stopped before migrating: $(grep -v '^Run with --help' "$file" | tail -1)"
    fi
    summary "$file" > "$file.json"
}

# --- the figures of one point -------------------------------------------------
median() { sort -n | awk '{ a[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print a[(NR + 1) / 2];
                                               else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# spread: the lowest and highest of the numbers on stdin, "lo-hi".
spread() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (!NR) print "-"; else printf "%.1f-%.1f", lo, hi }'; }
# each KEY P JQ: JQ on each of P's runs' summaries, a line each; figure: their median.
each() {
    local r
    for r in $(seq "$runs"); do
        [ -f "$out/$1-$2-$r.json" ] && jq -r "$3 // empty" "$out/$1-$2-$r.json"
    done
}
figure() { each "$@" | median; }
completed() {
    local n=0 r
    for r in $(seq "$runs"); do
        [ -f "$out/$1-$2-$r.json" ] && jq -e '.status == "completed"' "$out/$1-$2-$r.json" >/dev/null && n=$((n + 1))
    done
    echo "$n of $runs"
}
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "-" || v == "") print "-"; else printf f, v }'; }
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.2fx", a / b; else print "-" }'
}
error_pct() {
    awk -v m="$1" -v r="$2" 'BEGIN { if (m != "-" && r != "-" && r > 0) printf "%+.0f%%", 100 * (m - r) / r
                                     else print "-" }'
}

# table KEY: the median per policy, then the ratios.
table() {
    local key=$1 p
    printf '%-30s %8s %11s %6s %9s %9s %10s %11s %8s %10s %9s\n' "median of $runs run(s)" "total s" "range s" rounds \
        "down ms" "sent MiB" "sent/guest" "reads/s/rdr" "/warm-up" "reads lost" completed
    for p in "${policies[@]}"; do
        [ -f "$out/$key-$p-1.json" ] || continue
        printf '%-30s %8s %11s %6s %9s %9s %10s %11s %8s %10s %9s\n' "${policy_name[$p]}" \
            "$(fmt "$(figure "$key" "$p" .total_s)" %.1f)" "$(each "$key" "$p" .total_s | spread)" \
            "$(figure "$key" "$p" .rounds)" \
            "$(fmt "$(figure "$key" "$p" .downtime_ms)" %.1f)" \
            "$(fmt "$(figure "$key" "$p" '.bytes_sent / 1048576')" %.1f)" \
            "$(fmt "$(figure "$key" "$p" .bytes_per_guest_byte)" %.2f)" \
            "$(fmt "$(figure "$key" "$p" '.reader_reads_per_s / 1e6')" %.2fM)" \
            "$(fmt "$(figure "$key" "$p" '.reader_share * 100')" %.0f%%)" \
            "$(fmt "$(figure "$key" "$p" '.reader_reads_lost / 1e6')" %.2fM)" "$(completed "$key" "$p")"
    done
    local b2 b4 b5 t2 t4 t5 r4 r5 l4 l5
    b2=$(figure "$key" 2 .bytes_sent) b4=$(figure "$key" 4 .bytes_sent) b5=$(figure "$key" 5 .bytes_sent)
    t2=$(figure "$key" 2 .total_s) t4=$(figure "$key" 4 .total_s) t5=$(figure "$key" 5 .total_s)
    r4=$(figure "$key" 4 .reader_share) r5=$(figure "$key" 5 .reader_share)
    l4=$(figure "$key" 4 .reader_reads_lost) l5=$(figure "$key" 5 .reader_reads_lost)
    echo "(5)/(2): bytes $(ratio "$b5" "$b2"), time $(ratio "$t5" "$t2");" \
        "(5)/(4): bytes $(ratio "$b5" "$b4"), time $(ratio "$t5" "$t4"), readers' reads/s against their warm-up $(ratio "$r5" "$r4")," \
        "reads lost $(fmt "$l5" %.0f) against $(fmt "$l4" %.0f)"
}

# sender_pace GUEST-OPTIONS...: the sending host's pace for dtrack simulate
# (--sender-rate, --digest-rate), measured as the peak is, apart from the
# runs it predicts: the same guest migrated once over an unlimited link with
# (5)'s compression and cache. Round 1's pages with contents (all but the
# zero pages, nearly all found in round 1), each sent whole, over its time
# (first_round_s) are the sender's pages/s; the switchover's digest of all
# memory on both sides and the acknowledgement (downtime_parts_ms; without
# it the whole downtime, its final round included) give the digest's
# bytes/s. Nothing when
# the migration fails: the simulation then takes a link-bound sender.
sender_pace() {
    local file=$out/pace
    migrate "$file" "$@" --bandwidth 0 --max-time "$max_time" --warmup "$warmup" --xbzrle-cache "$((mem_mib / 4))M" --compress zstd \
        > /dev/null
    jq -r --argjson pages $((guest_bytes / 4096)) 'select(.status == "completed" and .first_round_s > 0
                                                          and .downtime_ms > 0)
        | "--sender-rate \(($pages - .zero_pages) / .first_round_s | round)" +
          " --digest-rate \(.guest_bytes * 1000 / (if .downtime_parts_ms then .downtime_parts_ms.digest
                                                   + .downtime_parts_ms.acknowledgement else .downtime_ms end) | round)"' \
        "$file.json" 2>/dev/null
}

# simulate_policy P: dtrack simulate of policy P (set by `policy`) from each
# of simulate()'s starts, on its recording ($trace, $peak, $contents,
# $starts, $key: simulate's locals), the median and range beside the real
# runs'.
simulate_policy() {
    local p=$1 sim total sent
    local totals=() sents=() stuck=0 start failed=""
    for start in "${starts[@]}"; do
        sim=$("$build/dtrack" simulate --trace "$trace" "${peak[@]}" --vcpus "$writers" \
              --bandwidth "${bandwidth_mib}M" --max-time "$max_time" "${POLICY[@]}" "${SIMULATE[@]}" \
              "${contents[@]}" ${start:+--start-at "$start"} --json 2>&1) || {
            failed=$(tail -1 <<<"$sim")
            break
        }
        # runs[0] is the policy's run (a second, when there is one, is
        # "without"). A simulation that stops as stuck (it will not
        # converge) stands for a real sender that goes on at the link's
        # pace until --max-time, as dtvm's does: its figures run on to there.
        totals+=("$(jq -r --argjson max "${max_time%s}" \
                       '.runs[0] | if .verdict == "stuck" then $max else .total_s end' <<<"$sim")")
        sents+=("$(jq -r --argjson max "${max_time%s}" --argjson bw $((bandwidth_mib * 1048576)) \
                      '.runs[0] | (.bytes_sent // .bytes_on_wire)
                       + (if .verdict == "stuck" then ($max - .total_s) * $bw else 0 end)' <<<"$sim")")
        [ "$(jq -r '.runs[0].verdict' <<<"$sim")" = stuck ] && stuck=$((stuck + 1))
    done
    if [ -n "$failed" ]; then
        echo "not reached: ${policy_name[$p]}: dtrack simulate failed: $failed"
        return
    fi
    [ "$stuck" -gt 0 ] &&
        echo "(${policy_name[$p]}: $stuck of ${#starts[@]} simulated as stuck, run on at the link's pace to $max_time)"
    total=$(printf '%s\n' "${totals[@]}" | median)
    sent=$(printf '%s\n' "${sents[@]}" | median)
    printf '%-30s %8s %11s %9s %9s %9s\n' "${policy_name[$p]}" "$(fmt "$total" %.1f)" \
        "$(printf '%s\n' "${totals[@]}" | spread)" \
        "$(fmt "$(awk -v b="$sent" 'BEGIN { print b / 1048576 }')" %.1f)" \
        "$(error_pct "$total" "$(figure "$key" "$p" .total_s)")" \
        "$(error_pct "$sent" "$(figure "$key" "$p" .bytes_sent)")"
}

# simulate KEY WRITE_BYTES RATE GUEST-OPTIONS...: dtrack simulate on a
# recording of the same guest, unmigrated, same seed (as
# tools/bench/simulate_validation.sh: the peak is a writer's rate held 90%
# of the time, x 10, or 99%, x 100, where 90% does not slow it), with the
# sending host's pace (sender_pace), each policy beside the real runs'
# medians.
simulate() {
    local key=$1 write_bytes=$2 rate=$3
    shift 3
    local held peak=() trace=$out/$key.dtz p lack sim total sent contents=()
    # What a delta of a re-sent page costs depends on how much of it changed.
    has "$simulate_help" --write-bytes= && contents=(--write-bytes "$write_bytes")
    # The real runs migrate after --warmup: the replay starts there too. The
    # recording starts with the guest, whose memory is all zeros then (dtvm's
    # guest writes nothing outside its working set, and a page of the set
    # only when the workload writes it): all of it is --zero-pages, less
    # the pages the warmup wrote, and less those the replay writes before
    # round 1 reaches them.
    # Five starts, a recorded interval (100 ms) apart from there: where a
    # policy's outcome turns on milliseconds (QEMU 8.1's ring-full sleeps
    # against the syncs) the real runs part too, and the median of five
    # replays is held against the median of the real runs; the range of
    # each shows how far they part.
    local starts=("")
    has "$simulate_help" --start-at= &&
        read -r -a starts <<<"$(awk -v w="${warmup%s}" 'BEGIN { for (i = 0; i < 5; i++) printf "%.1fs ", w + i / 10 }')"
    has "$simulate_help" --zero-pages= && contents+=(--zero-pages "${mem_mib}M")
    # A writer held 90% that still keeps its own pace (--rate: the process
    # backend's threads, whose writes cost well under a microsecond) says
    # only that its peak is above 10x that pace: hold it 99% instead.
    local pct rate_per_s
    rate_per_s=$(numfmt --from=si "$(tr k K <<<"$rate")")
    for pct in 90 99; do
        held=$("$build/dtvm" --backend "$backend" "$@" --throttle "$pct" --duration 3s --json 2>/dev/null |
               jq -n '[inputs | .vcpus[]?.writes_per_s | select(. > 0)]
                      | if length > 0 then add / length | round else 0 end')
        [ "${held:-0}" -lt $((rate_per_s * 95 / 100)) ] && break
    done
    # Without a measured peak, dtrack simulate takes the vCPUs as busy writing.
    [ "${held:-0}" -gt 0 ] && peak=(--peak $((held * 100 / (100 - pct) * 4096)))
    local pace=()
    has "$simulate_help" --sender-rate= && read -r -a pace <<<"$(sender_pace "$@")"
    contents+=("${pace[@]}")
    if ! "$build/dtvm" --backend "$backend" "$@" --interval 100ms --duration "$record_for" --record "$trace" \
        > /dev/null 2>&1; then
        echo "not reached: dtrack simulate: dtvm could not record the guest"
        return
    fi
    echo "dtrack simulate --trace (the guest recorded ${record_for}, unmigrated) ${peak[*]} --vcpus $writers" \
        "--bandwidth ${bandwidth_mib}M --max-time $max_time ${contents[*]}${starts[0]:+ --start-at ${starts[*]}} POLICY"
    printf '%-30s %8s %11s %9s %9s %9s\n' "simulated (median of ${#starts[@]})" "total s" "range s" "sent MiB" \
        "error s" "error B"
    # Without --dirty-limit-sleep, dtrack simulate's limit acts as (4)'s does: a share of each slice.
    has "$simulate_help" --dirty-limit= && ! has "$simulate_help" --dirty-limit-sleep= &&
        echo "((3) is simulated with (4)'s actuator: dtrack simulate models no ring-full sleep)"
    for p in "${policies[@]}"; do
        # No real run to hold it against (ring-full sleeps need the KVM ring).
        [ "$p" = 3 ] && [ "$backend" != kvm ] && continue
        policy "$p"
        lack=$(missing "$simulate_help" "${NEEDS[@]}")
        if [ -n "$lack" ]; then
            echo "not reached: ${policy_name[$p]}: dtrack simulate lacks $lack"
            continue
        fi
        simulate_policy "$p"
    done
}

# point WORKLOAD WRITE_BYTES [RATE]: every policy, RUNS runs each, the table, the simulation.
point() {
    local workload=$1 write_bytes=$2 rate=${3:-15k}
    local key=$workload-$write_bytes-$rate label="$workload, $write_bytes-byte writes, $rate writes/s per writer"
    local guest=(--mem "${mem_mib}M" --vcpus "$writers" --readers 1 --workload "$workload" --wss 96M --rate "$rate"
                 --seed 7 --exit-every 64)
    has "$dtvm_help" --reader-cpus= && [ -n "$reader_cpu" ] && guest+=(--reader-cpus "$reader_cpu")
    echo "== $label =="
    if has "$dtvm_help" --write-bytes=; then
        guest+=(--write-bytes "$write_bytes")
    elif [ "$write_bytes" = 8 ]; then
        echo "not reached: dtvm lacks --write-bytes: the guest writes its one stamped word per page instead"
    else
        echo "not reached: dtvm lacks --write-bytes"
        echo
        return
    fi
    echo "\$ dtvm --backend $backend ${guest[*]} ${link[*]} --warmup $warmup --json --migrate-to ... POLICY"
    local p r lack
    for p in "${policies[@]}"; do
        policy "$p"
        lack=$(missing "$dtvm_help" "${NEEDS[@]}")
        if [ "$p" = 3 ] && [ "$backend" != kvm ]; then
            echo "not reached: ${policy_name[$p]}: ring-full sleeps need the KVM dirty ring (backend $backend)"
        elif [ -n "$lack" ]; then
            echo "not reached: ${policy_name[$p]}: dtvm lacks $lack"
        else
            echo "${policy_name[$p]}: ${POLICY[*]}${ACTUATOR[*]:+ ${ACTUATOR[*]}}"
            for r in $(seq "$runs"); do
                migrate "$out/$key-$p-$r" "${guest[@]}" "${link[@]}" --warmup "$warmup" "${POLICY[@]}" "${ACTUATOR[@]}"
            done
        fi
    done
    [ -f "$out/$key-1-1.json" ] && ! grep -q '^{' <(tail -1 "$out/$key-1-1") &&
        echo "not reached: dtvm lacks --json with --migrate-to: the figures are read from its text report"
    table "$key"
    simulate "$key" "$write_bytes" "$rate" "${guest[@]}"
    echo
}

echo "#### backend $backend: ${mem_mib} MiB guest, 2 writers + 1 reader over a 96 MiB working set," \
    "${bandwidth_mib} MiB/s link, $runs run(s) per point; (2) syncs every $every;" \
    "$([ -n "$reader_cpu" ] && echo "the reader alone on CPU $reader_cpu, the rest on $rest_cpus" || echo "one CPU: nothing pinned")"
for w in "${workloads[@]}"; do
    # shellcheck disable=SC2086 # "WORKLOAD BYTES [RATE]"
    point $w
done
