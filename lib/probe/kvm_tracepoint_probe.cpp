// The kvm:kvm_dirty_ring_* tracepoints, hooked as raw tracepoints: what the
// eBPF sidecar source attaches to watch a running VMM's dirty ring (QEMU or
// any other) without changing it. Raw tracepoints need no tracefs.
#include <string>
#include <vector>

#include "probe/bpf_probe_object.hpp"
#include "probe/probes.hpp"

namespace dtrack::probe {
namespace {

constexpr FeatureText text{
    feature_id::kvm_dirty_ring_tracepoints,
    "kvm:kvm_dirty_ring_* tracepoints",
    "dtrack sidecar: per-page dirty events of any VMM using the dirty ring",
    "use a kernel with KVM (CONFIG_KVM) and load it (modprobe kvm); raw_tp/ "
    "programs must work too",
    "kvm-tracepoints.md",
};

struct Hook {
    const char* program;     // in feature_probe.bpf.c
    const char* tracepoint;  // kernel name
};
constexpr Hook hooks[] = {
    {"probe_kvm_dirty_ring_push", "kvm_dirty_ring_push"},
    {"probe_kvm_dirty_ring_reset", "kvm_dirty_ring_reset"},
    {"probe_kvm_dirty_ring_exit", "kvm_dirty_ring_exit"},
};

}  // namespace

Feature probe_kvm_tracepoints() {
    auto object = load_probe_programs({hooks[0].program, hooks[1].program, hooks[2].program});
    if (!object) return unavailable(text, object.error());

    std::vector<std::string> attached, refused;
    bool push_ok = false;
    for (const Hook& hook : hooks) {
        auto link = attach(find_program(*object, hook.program));
        if (link) {
            attached.push_back(hook.tracepoint);
            if (&hook == &hooks[0]) push_ok = true;
        } else {
            refused.push_back(std::string(hook.tracepoint) + ": " + link.error().what);
        }
    }

    if (!push_ok) return unavailable(text, "raw_tp " + join(refused, "; "));
    std::string detail = join(attached, ", ") + " attach as raw_tp (no tracefs needed)";
    if (!refused.empty()) detail += "; not: " + join(refused, "; ");
    return available(text, detail);
}

}  // namespace dtrack::probe
