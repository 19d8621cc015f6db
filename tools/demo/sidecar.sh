#!/usr/bin/env bash
# `make run`'s sidecar part (tools/demo/demo.sh calls it): one `dtrack
# sidecar` watching a pid-file directory, as it would watch libvirt's
# /run/libvirt/qemu, with a dtvm guest in it (and QEMU under TCG where it
# is installed, which writes its own pid file). Two scrapes, and
# the dirty rate Prometheus would compute from them, while a neighbour holds
# a request open that it never finishes. Then a libvirt domain
# (tools/demo/sidecar_libvirt.sh; skipped, saying so, without libvirt).
# Usage: tools/demo/sidecar.sh BUILD_DIR kvm|process
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
build=$1
backend=$2
scratch_dir
dir=$SCRATCH  # 0700: the sidecar refuses a directory anybody may write to

# The guest writes 20k new pages/s on each of 2 vCPUs: 40k pages/s in all.
track=(); [ "$backend" = kvm ] && track=(--track ring)
start_bg "$build/dtvm" --backend "$backend" --mem 512M --vcpus 2 --workload sequential --wss 480M --rate 20k \
    "${track[@]}" --duration 20s >/dev/null 2>&1
vm=$!
qemu_image=$build/tests/qemu/dirtying_guest.img
if command -v qemu-system-x86_64 >/dev/null && [ -r "$qemu_image" ]; then
    # A real third-party VMM: its guest rewrites 8192 pages (32 MiB) over and over.
    start_bg qemu-system-x86_64 -accel tcg -m 128 -display none -nodefaults \
        -drive "format=raw,if=floppy,file=$qemu_image" -pidfile "$dir/qemu1.pid" 2>/dev/null
fi
sleep 1.5
echo "$vm" > "$dir/vm1.pid"

start_bg "$build/dtrack" sidecar --pid-file-dir "$dir" --listen 127.0.0.1:0 2> "$dir/sidecar.log"
sidecar=$!
wait_for_line "$dir/sidecar.log" serving 5 || true
url=$(grep -o 'http://[^ ]*/metrics' "$dir/sidecar.log") || {
    echo "demo: the sidecar did not start serving:" >&2; cat "$dir/sidecar.log" >&2; exit 1; }
sleep 3
sed 's/^/  /' "$dir/sidecar.log"

# A neighbour's request that never ends, held open through the scrapes: it
# delays none of them, and the sidecar cuts it off at its 5 s deadline.
port=${url##*:}; port=${port%%/*}
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metrics HTTP/1.1\r\nHost: neighbour\r\nX-Slow: 1\r\n' >&3
scrape() { curl -s "$url"; }
first=$(scrape)
took=$(curl -s -o /dev/null -w '%{time_total}' "$url")
sleep 5
second=$(scrape)
slow=$(timeout 2 head -n1 <&3 | tr -d '\r') || slow="no answer"
exec 3<&-
echo "-- a request left unfinished by a neighbour: a scrape beside it took $(awk -v t="$took" 'BEGIN { printf "%.1f", t * 1000 }') ms; the sidecar answered it '$slow' at its 5 s deadline --"
echo "-- curl $url (the samples of vm1, second scrape) --"
grep -E '^dtrack_[a-z_]+\{[^}]*target="vm1"' <<< "$second" | grep -v '^dtrack_slot' | head -12 | sed 's/^/  /'
echo "-- what Prometheus computes from the two scrapes: increase(pages) / increase(measured seconds) --"
value() {  # value SCRAPE NAME TARGET
    grep -E "^$2\{target=\"$3\"\} " <<< "$1" | awk '{print $2}'
}
for target in $(grep -o 'dtrack_target_info{target="[^"]*"' <<< "$second" | cut -d'"' -f2); do
    pages=$(awk -v a="$(value "$first" dtrack_dirty_pages_total "$target")" \
                -v b="$(value "$second" dtrack_dirty_pages_total "$target")" 'BEGIN { print b - a }')
    seconds=$(awk -v a="$(value "$first" dtrack_measured_seconds_total "$target")" \
                  -v b="$(value "$second" dtrack_measured_seconds_total "$target")" 'BEGIN { print b - a }')
    method=$(grep -o "dtrack_target_info{target=\"$target\"[^}]*" <<< "$second" | grep -o 'method="[^"]*"' | cut -d'"' -f2)
    case $target in
        vm1) truth="dtvm's guest writes 40.0k new pages/s" ;;
        *)   truth="its guest rewrites the same 8192 pages in every interval" ;;
    esac
    awk -v t="$target" -v p="$pages" -v s="$seconds" -v m="$method" -v truth="$truth" \
        'BEGIN { printf "  %-8s %8.1fk pages/s (method %s; %s)\n", t, p / s / 1000, m, truth }'
done
kill -TERM "$sidecar"
rc=0; wait "$sidecar" || rc=$?
echo "-- SIGTERM: the sidecar detached everything and exited $rc --"

# The same sidecar beside a real libvirt domain, where libvirt is installed.
echo "-- a libvirt domain in /run/libvirt/qemu, labelled with its name and UUID --"
"$TOOLS/demo/sidecar_libvirt.sh" "$build"
