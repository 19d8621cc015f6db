#!/usr/bin/env bash
# Migrates the same busy dtvm guest twice over 127.0.0.1, auto-converge on,
# same seed: once with the background sync, once without; prints both runs
# and their ratio. tools/bench/migration.sh runs it (quick for `make run`
# and `make bench`, at full scale for `make bench-full`).
# Usage: tools/bench/migration_compare.sh BUILD_DIR [dtvm options for the guest and link...]
#   BACKGROUND_SYNC=5s the threshold of the first run; INCOMING_BACKEND the destination's backend.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
build=$1
shift
guest=("$@")
mem=$(option --mem "${guest[@]}")
scratch_dir
out=$SCRATCH

migrate() {  # migrate NAME BACKGROUND_SYNC
    local name=$1 bs=$2
    start_incoming "$build" "$out/$name.in" --mem "$mem" ${INCOMING_BACKEND:+--backend "$INCOMING_BACKEND"}
    echo "== migration $name: background sync $bs =="
    "$build/dtvm" "${guest[@]}" --auto-converge --background-sync "$bs" \
        --migrate-to "tcp://127.0.0.1:$INCOMING_PORT" | tee "$out/$name.txt"
    wait "$INCOMING_PID"
    tail -1 "$out/$name.in"
    echo
}

migrate with "${BACKGROUND_SYNC:-5s}"
migrate without off

num() { grep "^migration:" "$out/$1.txt" | grep -o "[0-9.]* $2" | head -1 | cut -d' ' -f1; }
secs() { grep "^migration:" "$out/$1.txt" | sed 's/.*after \([0-9.]*\) s.*/\1/'; }
down() { grep "^downtime:" "$out/$1.txt" | sed 's/downtime: \([0-9.]*\) ms.*/\1/'; }
steps() { grep "^throttle:" "$out/$1.txt" | grep -o '[0-9]*% at' | wc -l; }
maxpct() { grep "^throttle:" "$out/$1.txt" | grep -o '[0-9]*%' | tail -1; }

echo "== background sync: with vs without (same guest, same seed, auto-converge on) =="
printf '%-28s %14s %14s %10s\n' "" "with" "without" "ratio"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }'; }
printf '%-28s %14s %14s %10s\n' "total migration time, s" "$(secs with)" "$(secs without)" "$(ratio "$(secs with)" "$(secs without)")"
printf '%-28s %14s %14s\n' "rounds" "$(num with rounds)" "$(num without rounds)"
printf '%-28s %14s %14s\n' "background syncs" "$(num with 'background syncs')" "$(num without 'background syncs')"
printf '%-28s %14s %14s\n' "throttle steps (last)" "$(steps with) ($(maxpct with))" "$(steps without) ($(maxpct without))"
printf '%-28s %14s %14s\n' "downtime, ms" "$(down with)" "$(down without)"
awk -v a="$(secs with)" -v b="$(secs without)" 'BEGIN { if (b > 0) printf "the background sync cut the total migration time by %.0f%%\n", 100 * (b - a) / b }'
