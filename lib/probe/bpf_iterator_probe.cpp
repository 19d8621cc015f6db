// BPF task_file iterators and the dirty-bitmap view: what tells whether a
// VMM logs dirty pages right now (KvmStateReader) and reads a dirty-bitmap
// VMM's pages from the kernel (BpfBitmapSource). Both are tried on this
// process, which needs no VM: loading, attaching and one pass is the test.
#include <unistd.h>

#include "dtrack/bpf_bitmap_source.hpp"
#include "dtrack/bpf_source.hpp"
#include "dtrack/kvm_vm_state.hpp"
#include "probe/probes.hpp"

namespace dtrack::probe {
namespace {

constexpr FeatureText text{
    feature_id::bpf_iterator,
    "BPF task_file iterators (a VM's dirty-logging state, its dirty bitmaps)",
    "dtrack rate and the sidecar: whether a VMM logs dirty pages now (so which figure is exact), and the exact "
    "figure of a VMM that logs with the dirty bitmap (QEMU's default)",
    "use a kernel with BTF (CONFIG_DEBUG_INFO_BTF=y), Linux 5.17 or later; run as root. Without it the logging state "
    "is inferred from ring pushes and a dirty-bitmap VMM is measured by hashing pages",
    "bpf-iterators.md",
};

}  // namespace

Feature probe_bpf_iterator() {
    auto state = KvmStateReader::open(::getpid());
    if (!state) return unavailable(text, state.error());
    auto vms = (*state)->read();
    if (!vms) return unavailable(text, vms.error());
    Tracker tracker;
    if (auto slots = add_slot_regions(tracker, 1, 64); !slots) return unavailable(text, slots.error());
    auto bitmap = BpfBitmapSource::attach(::getpid(), tracker);
    if (!bitmap)
        return unavailable(text,
                           "the logging state reads, but the dirty-bitmap view does not load: " + bitmap.error().what);
    return available(text,
                     "the logging state and the dirty-bitmap view load and run (iter/task_file, raw_tp "
                     "sys_enter/sys_exit)");
}

}  // namespace dtrack::probe
