#!/usr/bin/env bash
# `make run`'s "send less" part: the same hot/cold dtvm guest migrated over
# 127.0.0.1 twice per write size, once as dtrack's watcher and auto-converge
# send it (every dirty page whole), once with hot pages deferred to the
# final round, re-sent pages as deltas against a sent-page cache, and zstd
# on the wire. With 8-byte writes the deltas and zstd shrink a re-sent page
# to a few dozen bytes; with 4096 random bytes per write nothing shrinks, and
# the encoder sends such pages whole rather than pay for deltas that do not
# save (BENCHMARKS.md §7 has the five policies side by side).
# Usage: tools/demo/send_less.sh BUILD_DIR [kvm|process]
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
build=$1 backend=${2:-}
if [ -z "$backend" ]; then
    detect_backend "$build"
    backend=$BACKEND
fi
scratch_dir
# One vCPU on the process backend: its throttled worker threads dirty a page
# per write fault while they run, and two of them can outrun the link
# (tools/bench/migration.sh).
vcpus=2
[ "$backend" = process ] && vcpus=1
guest=(--backend "$backend" --mem 128M --vcpus "$vcpus" --workload hotcold --wss 96M --rate 15000 --seed 7
       --bandwidth 24M --auto-converge --background-sync 1s --warmup 2s --max-time 40s --json)
send_less=(--defer-hot --xbzrle-cache 32M --compress zstd)

migrate() {  # migrate NAME WRITE_BYTES [OPTIONS...]: the JSON summary in $SCRATCH/NAME.json
    local name=$1 bytes=$2
    shift 2
    start_incoming "$build" "$SCRATCH/$name.in" --mem 128M --backend process
    "$build/dtvm" "${guest[@]}" --write-bytes "$bytes" "$@" --migrate-to "tcp://127.0.0.1:$INCOMING_PORT" \
        > "$SCRATCH/$name.txt" 2>&1 || true
    wait "$INCOMING_PID" || true
    tail -1 "$SCRATCH/$name.txt" > "$SCRATCH/$name.json"
    [ -n "${KEEP:-}" ] && cp "$SCRATCH/$name.txt" "$KEEP/"
    if ! jq -e .status "$SCRATCH/$name.json" > /dev/null 2>&1; then
        echo "($name: no summary from dtvm; its output:)"
        cat "$SCRATCH/$name.txt"
        echo '{}' > "$SCRATCH/$name.json"
    fi
}

row() {  # row NAME LABEL
    jq -r --arg sent_as "$2" '[$sent_as, .status // "-", (.total_s // 0 | . * 10 | round / 10),
        (.bytes_sent // 0 | . / 1048576 | . * 10 | round / 10), (.bytes_per_guest_byte // 0 | . * 1000 | round / 1000),
        (.downtime_ms // null | if . == null then "-" else round end), (.delta_pages // 0), (.deferred_pages // 0)] | @tsv' "$SCRATCH/$1.json"
}

for bytes in 8 4096; do
    migrate "whole_$bytes" "$bytes"
    migrate "less_$bytes" "$bytes" "${send_less[@]}"
done
echo "hot/cold guest, 128 MiB, $vcpus vCPU(s) at 15k writes/s, 24 MiB/s link, 300 ms downtime limit ($backend backend)"
{
    printf 'write\tsent as\tstatus\ttotal s\tMiB sent\tper guest byte\tdowntime ms\tdelta pages\tdeferred\n'
    for bytes in 8 4096; do
        printf '%s B\t' "$bytes"; row "whole_$bytes" "whole pages"
        printf '%s B\t' "$bytes"; row "less_$bytes" "defer+delta+zstd"
    done
} | column -t -s $'\t'
