// probe_features(): every family's probe, in report order.
#include "dtrack/features.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/libbpf_log.hpp"
#include "probe/probes.hpp"

namespace dtrack {

Result<std::vector<Feature>> probe_features() {
    // Capabilities, pagemap and sysctls all come from /proc.
    if (::access("/proc/self/status", R_OK) != 0)
        return errno_error("reading /proc/self/status", errno, "mount /proc (mount -t proc proc /proc)");

    LibbpfLogCapture quiet;  // probes that fail are expected; their chatter is not
    std::vector<Feature> features;
    auto add = [&](std::vector<Feature> more) {
        for (auto& f : more) features.push_back(std::move(f));
    };
    add(probe::probe_kvm());
    add(probe::probe_process_tracking());
    add({probe::probe_soft_dirty()});
    add({probe::probe_kernel_btf()});
    add({probe::probe_tracefs()});
    add(probe::probe_bpf_program_types());
    add({probe::probe_kvm_tracepoints()});
    add({probe::probe_bpf_iterator()});
    add(probe::probe_privileges());

    // Report order is feature_id::all, whatever order the families ran in.
    auto rank = [](const Feature& f) {
        return std::find(feature_id::all.begin(), feature_id::all.end(), f.id) - feature_id::all.begin();
    };
    std::stable_sort(features.begin(), features.end(),
                     [&](const Feature& a, const Feature& b) { return rank(a) < rank(b); });
    return features;
}

const Feature* find_feature(const std::vector<Feature>& features, std::string_view id) {
    for (const Feature& f : features)
        if (f.id == id) return &f;
    return nullptr;
}

}  // namespace dtrack
