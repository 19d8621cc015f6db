#!/usr/bin/env bash
# `make run`'s libvirt part of the sidecar demo (tools/demo/sidecar.sh calls
# it): a transient libvirt domain running the dirtying guest, the sidecar on
# /run/libvirt/qemu labelling it with the domain's name and UUID, its rate
# beside `virsh domdirtyrate-calc`'s over the same second, then `virsh
# destroy` and the sidecar saying so. Uses the running libvirtd, or starts
# one (and virtlogd) and stops it after; skips, saying why, where libvirt
# or root is missing.
# Usage: tools/demo/sidecar_libvirt.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
build=$1
skip() { echo "-- libvirt: skipped: $1 --"; exit 0; }
v() { virsh -c qemu:///system "$@"; }

[ "$(id -u)" = 0 ] || skip "libvirt's system daemon (qemu:///system) needs root"
for p in libvirtd virtlogd virsh qemu-system-x86_64; do
    command -v "$p" >/dev/null || skip "$p is not installed (Debian's libvirt-daemon-system, libvirt-clients and qemu-system-x86; make deps installs them where available)"
done
image=$build/tests/qemu/dirtying_guest.img
[ -r "$image" ] || skip "no guest image at $image (run make)"
scratch_dir
dir=$SCRATCH
chmod 755 "$dir"  # QEMU runs as libvirt-qemu: the image where that user may read it
cp "$image" "$dir/guest.img" && chmod 644 "$dir/guest.img"
name=dtrack-demo-$$
kvm_was=""
finish() {
    v destroy "$name" >/dev/null 2>&1 || true
    on_exit
    if [ -n "$kvm_was" ]; then chown "${kvm_was% *}" /dev/kvm; chmod "${kvm_was#* }" /dev/kvm; fi
}
trap finish EXIT

if ! v version >/dev/null 2>&1; then
    # Without udev /dev/kvm stays root's 0600, and libvirt, whose QEMU user
    # may not open it, probes QEMU anew at every domain start (~50 s): Debian's
    # root:kvm 0660 while the demo runs (tests/support/libvirt_daemon.cpp).
    if [ "$(stat -c %t:%T /dev/kvm 2>/dev/null)" = a:e8 ] && [ "$(stat -c %G:%a /dev/kvm)" != kvm:660 ] &&
        getent group kvm >/dev/null; then
        kvm_was="$(stat -c %u:%g /dev/kvm) $(stat -c %a /dev/kvm)"
        chown root:kvm /dev/kvm && chmod 660 /dev/kvm
    fi
    pgrep -x virtlogd >/dev/null || start_bg virtlogd 2>/dev/null  # libvirtd hands QEMU's output to it
    start_bg libvirtd >"$dir/libvirtd.log" 2>&1
    for _ in $(seq 300); do v version >/dev/null 2>&1 && break; sleep 0.1; done
    v version >/dev/null 2>&1 || skip "libvirtd did not answer within 30 s: $(tail -n 3 "$dir/libvirtd.log")"
    echo "-- libvirt: started libvirtd for the demo (none ran) --"
fi

cat > "$dir/domain.xml" <<XML
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='fd'/></os>
  <devices>
    <disk type='file' device='floppy'><driver name='qemu' type='raw'/><source file='$dir/guest.img'/><target dev='fda' bus='fdc'/><readonly/></disk>
    <memballoon model='none'/>
  </devices>
</domain>
XML
out=$(v create "$dir/domain.xml" 2>&1) || skip "virsh create failed: $out"
echo "-- virsh create: domain $name (TCG, 128 MiB), its guest rewrites 8192 pages (32 MiB) over and over --"
sleep 1.5

start_bg "$build/dtrack" sidecar --pid-file-dir /run/libvirt/qemu --method sample --listen 127.0.0.1:0 2>"$dir/sidecar.log"
sidecar=$!
wait_for_line "$dir/sidecar.log" serving 5 || true
url=$(grep -o 'http://[^ ]*/metrics' "$dir/sidecar.log") || skip "the sidecar did not serve: $(cat "$dir/sidecar.log")"
sleep 3
value() { grep -E "^$2\{target=\"$name\"\} " <<<"$1" | awk '{print $2}'; }
first=$(curl -s "$url")
v domdirtyrate-calc "$name" --seconds 1 --mode page-sampling >/dev/null
sleep 1.5
second=$(curl -s "$url")
grep "dtrack_target_info{target=\"$name\"" <<<"$second" | sed 's/^/  /'
virsh_rate=$(v domstats --dirtyrate "$name" | grep -o 'megabytes_per_second=[0-9]*' | cut -d= -f2)
awk -v a="$(value "$first" dtrack_dirty_pages_total)" -v b="$(value "$second" dtrack_dirty_pages_total)" \
    -v s="$(value "$first" dtrack_measured_seconds_total)" -v t="$(value "$second" dtrack_measured_seconds_total)" \
    -v virsh="$virsh_rate" 'BEGIN { printf "  dtrack %.1f MiB/s over those %.0f s; virsh domdirtyrate-calc --seconds 1 --mode page-sampling: %s MiB/s\n", (b - a) * 4096 / 1048576 / (t - s), t - s, virsh }'
v destroy "$name" >/dev/null
wait_for_line "$dir/sidecar.log" "target $name .*(detached|exited)|detached target $name" 10 || true
echo "-- virsh destroy: --"
grep -E "target $name" "$dir/sidecar.log" | sed 's/^/  /'
stop "$sidecar"
