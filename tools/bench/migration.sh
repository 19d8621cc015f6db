#!/usr/bin/env bash
# `make bench`'s migration comparison at full scale: rounds of ~8 s against
# the default 5 s background-sync threshold, with and without the background
# sync (tools/migration_compare.sh). On KVM the guest has 2 vCPUs; on the
# process backend (no usable KVM) 1 vCPU, since a throttled worker thread
# dirties a page per write-protect fault while it runs and two of them at
# 99% can outrun the link on a machine with fast faults. Then dtrack simulate
# models the same guest and link, side by side with the real figures
# (tools/simulate_validation.sh).
# Usage: tools/bench/migration.sh BUILD_DIR
set -euo pipefail
build=$1
choice=$("$build/dtvm" --print-backend)
if [ "${choice%%:*}" = kvm ]; then
    guest=(--backend kvm --mem 256M --vcpus 2 --workload random --wss 192M --rate 15k --bandwidth 24M)
else
    echo "(no usable KVM: the migration runs dtvm's process backend: ${choice#process: })"
    guest=(--backend process --mem 512M --vcpus 1 --workload random --wss 384M --rate 30k --bandwidth 48M)
fi
compare=$(mktemp)
trap 'rm -f "$compare"' EXIT
./tools/bench/migration_compare.sh "$build" "${guest[@]}" --seed 7 --max-time 600s | grep -v '^  round' | tee "$compare"
echo
./tools/bench/simulate_validation.sh "$build" "$compare" "${guest[@]}"
