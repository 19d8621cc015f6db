#!/usr/bin/env bash
# What `dtrack rate` costs: CPU time the sidecar uses per second of wall time
# while dtvm's guest dirties 100k pages/s (2 vCPUs x 50k), for each method,
# measured side by side in one run. Without KVM the guest is dtvm's process
# backend at 60k pages/s (a write-protect fault costs up to 14 us there), and
# the eBPF method, which watches KVM's dirty ring, has nothing to watch.
# Usage: tools/rate_overhead.sh BUILD_DIR
set -euo pipefail
build=$1
seconds=6
choice=$("$build/dtvm" --print-backend)
if [ "${choice%%:*}" = kvm ]; then
    per_vcpu=50k total=100k guest=(--track ring)
else
    per_vcpu=30k total=60k guest=(--backend process)
    echo "(no usable KVM: the guest is dtvm's process backend, and the bpf method is left out: ${choice#process: })"
fi
"$build/dtvm" --mem 1G --vcpus 2 --workload sequential --wss 900M --rate "$per_vcpu" "${guest[@]}" --duration 60s \
    > /dev/null 2>&1 &
vmm=$!
trap 'kill $vmm 2>/dev/null; wait $vmm 2>/dev/null || true' EXIT
sleep 2

cpu_ms_per_s() {  # cpu_ms_per_s METHOD [ARGS]: user+sys ms of dtrack rate per wall second
    local method=$1
    shift
    local out=/tmp/dtrack-rate-$$.json cpu rate
    cpu=$( { TIMEFORMAT='%U %S'; time "$build/dtrack" rate --pid "$vmm" --method "$method" "$@" \
        --count "$seconds" --json > "$out"; } 2>&1 | awk '{ print $1 + $2 }')
    rate=$(tail -1 "$out" | grep -o '"pages_per_s":[0-9.]*' | cut -d: -f2)
    rm -f "$out"
    awk -v c="$cpu" -v s="$seconds" -v r="$rate" 'BEGIN { printf "%.1f %.0f\n", 1000 * c / s, r }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.1fx", b / a; else print "-" }'; }
read -r sample sample_rate < <(cpu_ms_per_s sample)
read -r exact exact_rate < <(cpu_ms_per_s sample --exact)
if [ "${choice%%:*}" = kvm ]; then
    read -r bpf bpf_rate < <(cpu_ms_per_s bpf)
    base=$bpf base_name=bpf
else
    base=$sample base_name=sample
fi
echo "== dtrack rate overhead: CPU ms per second, guest dirtying $total pages/s (same run) =="
printf '%-34s %10s %14s %10s\n' "method" "CPU ms/s" "measured pg/s" "vs $base_name"
[ "$base_name" = bpf ] && printf '%-34s %10s %14s %10s\n' "bpf (kvm_dirty_ring_push, exact)" "$bpf" "$bpf_rate" "1.0x"
printf '%-34s %10s %14s %10s\n' "sample (2% bound, estimate)" "$sample" "$sample_rate" "$(ratio "$base" "$sample")"
printf '%-34s %10s %14s %10s\n' "sample --exact (hash every page)" "$exact" "$exact_rate" "$(ratio "$base" "$exact")"
if [ "$base_name" = bpf ]; then
    echo "(the BPF program itself runs in the kernel on the vCPU's write-protect fault: ~150 ns per page,"
    echo " against ~4 us for the fault; it is charged to the VMM, not to dtrack)"
fi

# The sampler on a QEMU-sized guest: 1.2 GiB, 440 MiB of it written at
# random, about 20k pages/s (dtvm's process backend on every machine kind).
# Only present pages are read, so what the sampler costs follows the bound,
# not the guest's size.
kill "$vmm" 2>/dev/null; wait "$vmm" 2>/dev/null || true
"$build/dtvm" --backend process --mem 1200M --vcpus 2 --workload random --wss 440M --rate 10k --duration 60s \
    > /dev/null 2>&1 &
vmm=$!
sleep 3
echo
echo "== the sample method on a 1.2 GiB guest dirtying ~20k pages/s: CPU ms per second of run (same run) =="
printf '%-34s %10s %14s %10s\n' "bound" "CPU ms/s" "measured pg/s" "of a core"
for b in 1% 2% 5%; do
    read -r ms pg < <(cpu_ms_per_s sample --bound "$b")
    printf '%-34s %10s %14s %9s%%\n' "--bound $b$([ "$b" = 2% ] && echo ' (default)')" "$ms" "$pg" \
        "$(awk -v m="$ms" 'BEGIN { printf "%.1f", m / 10 }')"
done
