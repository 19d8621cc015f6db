#!/usr/bin/env bash
# Migrates the same busy dtvm guest twice over 127.0.0.1, auto-converge on,
# same seed: once with the background sync, once without; prints both runs
# and their ratio. Used by `make run` (a short run) and `make bench`.
# Usage: tools/bench/migration_compare.sh BUILD_DIR [dtvm options for the guest and link...]
set -euo pipefail
build=$1
shift
guest=("$@")
mem=$(printf '%s\n' "${guest[@]}" | awk 'prev=="--mem" {print} {prev=$0}')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

migrate() {  # migrate NAME BACKGROUND_SYNC
    local name=$1 bs=$2
    "$build/dtvm" --incoming tcp://127.0.0.1:0 --mem "$mem" ${INCOMING_BACKEND:+--backend "$INCOMING_BACKEND"} > "$out/$name.in" 2>&1 &
    local pid=$!
    local port=""
    for _ in $(seq 100); do
        port=$(grep -o '127.0.0.1:[0-9]*' "$out/$name.in" 2>/dev/null | head -1 | cut -d: -f2) && [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { cat "$out/$name.in"; exit 1; }
    echo "== migration $name: background sync $bs =="
    "$build/dtvm" "${guest[@]}" --auto-converge --background-sync "$bs" \
        --migrate-to "tcp://127.0.0.1:$port" | tee "$out/$name.txt"
    wait "$pid"
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
