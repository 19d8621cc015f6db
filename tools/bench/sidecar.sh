#!/usr/bin/env bash
# The sidecar under load: 1,000 scrapes in a row (one keep-alive connection,
# loopback) against a `dtrack sidecar` watching 2 dtvm guests that dirty 20k
# pages/s each. Every scrape must be answered with both targets' series (the
# run fails otherwise); prints the latency (p50, p99, max) and the sidecar's
# CPU share over the run. KVM guests (method bpf) where /dev/kvm works, else
# dtvm's process backend (method sample). About 20 s.
# Usage: tools/bench/sidecar.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
build=$1
scrapes=${SCRAPES:-1000}
detect_backend "$build"
if [ "$BACKEND" = kvm ]; then
    guest=(--track ring --exit-every 64) kind="KVM guests, method bpf"
else
    guest=(--backend process) kind="process-backend guests, method sample: no usable KVM here"
fi
scratch_dir
log=$SCRATCH/sidecar.log
vms=()
for _ in 1 2; do
    start_bg "$build/dtvm" --mem 512M --vcpus 2 --workload sequential --wss 400M --rate 10k "${guest[@]}" \
        --duration 120s > /dev/null 2>&1
    vms+=($!)
done
sleep 2
start_bg "$build/dtrack" sidecar --pid "${vms[0]}" --pid "${vms[1]}" --listen 127.0.0.1:0 2> "$log"
sidecar=$!
wait_for_line "$log" 'serving http' 10 || true
port=$(grep -o 'serving http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$') || { cat "$log" >&2; exit 1; }
sleep 2  # a few harvests first
echo "== dtrack sidecar under load: $scrapes scrapes, 2 targets at 20k pages/s each ($kind) =="
"$build/sidecar_scrape_bench" "$port" "$sidecar" "$scrapes" "dtvm-${vms[0]}" "dtvm-${vms[1]}"
