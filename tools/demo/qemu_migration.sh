#!/usr/bin/env bash
# `make run`'s real-QEMU part (tools/demo/demo.sh calls it): Debian's
# QEMU, a VMM dtrack did not write, runs a guest that rewrites 16384 pages
# (64 MiB) over and over (tests/qemu/native_guest.S); `dtrack rate` watches
# it idle, then migrating to a second QEMU over 127.0.0.1 (capped at
# 32 MiB/s, so it never converges), then after the migration is cancelled.
# With KVM, QEMU logs dirty pages only while it migrates: dtrack hashes
# pages before and after (an estimate with its bound) and gives the
# kernel's exact record while it migrates, once with the dirty ring and once
# with the dirty bitmap (QEMU's default). Under TCG no kernel record exists:
# hashing throughout, and it says why.
# Usage: tools/demo/qemu_migration.sh BUILD_DIR kvm|tcg
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
build=$1
accel=$2
image=$build/tests/qemu/native_guest.img
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -r "$image" ]; then
    echo "(skipped: qemu-system-x86_64 or $image is missing; make deps installs Debian's qemu-system-x86)"
    exit 0
fi
scratch_dir
dir=$SCRATCH

# One QMP command over QEMU's TCP monitor; prints the reply line (events skipped).
qmp() {
    local port=$1 command=$2 line
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    read -r -t 10 -u 3 line                                  # the greeting
    echo '{"execute":"qmp_capabilities"}' >&3; read -r -t 10 -u 3 line
    echo "$command" >&3
    while read -r -t 10 -u 3 line; do case $line in *'"event"'*) continue ;; esac; echo "$line"; break; done
    exec 3>&-
}
# A QEMU with the guest (or waiting for a migration, "incoming"), its QMP on
# TCP port $3; waits until the guest reached its loop (its debugcon byte).
start_qemu() {
    local name=$1 ring=$2 port=$3 incoming=${4:-}
    local accel_opt=$accel; [ "$accel" = kvm ] && [ "$ring" != 0 ] && accel_opt="kvm,dirty-ring-size=$ring"
    cp "$image" "$dir/$name.img"  # QEMU locks its image: one copy each
    rm -f "$dir/$name.debugcon"
    start_bg qemu-system-x86_64 -accel "$accel_opt" -m 256 -smp 1 -display none -nodefaults -no-user-config \
        -drive "format=raw,if=ide,file=$dir/$name.img" \
        -chardev "file,id=dc,path=$dir/$name.debugcon" -device isa-debugcon,iobase=0xe9,chardev=dc \
        -qmp "tcp:127.0.0.1:$port,server=on,wait=off" ${incoming:+-incoming tcp:127.0.0.1:$((port + 1))} \
        2>"$dir/$name.log"
    printf -v "${name}_pid" '%s' "$!"
    [ -n "$incoming" ] && { sleep 1; return; }
    wait_for_line "$dir/$name.debugcon" '' 60 && return
    echo "QEMU's guest did not start within 60 s: $(cat "$dir/$name.log")" >&2
    return 1
}

run_once() {
    local ring=$1 port=$2
    local mode="the dirty bitmap (QEMU's default)"; [ "$ring" != 0 ] && mode="the dirty ring ($ring entries)"
    [ "$accel" = tcg ] && mode="TCG (no KVM here)"
    echo "-- QEMU -accel $accel, $mode: idle 4 s, migrating 7 s, cancelled --"
    start_qemu src "$ring" "$port"
    start_qemu dst "$ring" $((port + 10)) incoming
    start_bg "$build/dtrack" rate --pid "$src_pid" --interval 1s --count 14 --bandwidth 32M > "$dir/rate.txt" 2>&1
    local rate=$!
    sleep 4.5
    qmp "$port" '{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":33554432}}' >/dev/null
    qmp "$port" "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:$((port + 11))\"}}" >/dev/null
    sleep 6.5
    local info; info=$(qmp "$port" '{"execute":"query-migrate"}')
    qmp "$port" '{"execute":"migrate_cancel"}' >/dev/null
    wait "$rate" || true
    cat "$dir/rate.txt"
    echo "QEMU's own query-migrate while it migrated: status $(echo "$info" | grep -o '"status": *"[a-z]*"' | cut -d'"' -f4)," \
         "dirty-pages-rate $(echo "$info" | grep -o '"dirty-pages-rate": *[0-9]*' | grep -o '[0-9]*$') pages/s," \
         "dirty-sync-count $(echo "$info" | grep -o '"dirty-sync-count": *[0-9]*' | grep -o '[0-9]*$')"
    echo "(QEMU's rate counts each page once per sync of its, here about one every 2 s; the guest rewrites all 16384 pages every second)"
    stop_all
    echo
}

# QMP and migration ports below Linux's ephemeral range (32768-60999): there
# a connection of another program may hold the port a moment (a run with
# 46300 once failed "Failed to find an available port").
if [ "$accel" = kvm ]; then
    run_once 4096 24100
    run_once 0 24200
else
    run_once 0 24300
fi
