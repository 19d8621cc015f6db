// --harvest for dtrack simulate (harvest_choice.hpp).
#include "simulate/harvest_choice.hpp"

#include <cerrno>

namespace dtrack::cli {

namespace {

// The methods whose pages reach the VMM as they are written: dtvm's ring
// source (with its reaper), userfaultfd, and eBPF on kvm_dirty_ring_push
// (a ring VMM, which reaps as QEMU's dirty-ring reaper does).
bool harvests_continuously(const std::string& method) {
    return method == "kvm-ring" || method == "uffd" || method == "bpf";
}

}  // namespace

Result<HarvestChoice> choose_harvest(const std::string& typed, const std::string* recording_method) {
    if (typed == "continuous") return HarvestChoice{simulated_reap_period, "continuous, as --harvest continuous asks"};
    if (typed == "sync") return HarvestChoice{std::nullopt, "at syncs only, as --harvest sync asks"};
    if (!typed.empty())
        return Error{EINVAL, "--harvest " + typed + " is not a way to harvest",
                     "use --harvest sync (KVM's dirty log, QEMU's bitmap) or --harvest continuous (KVM's dirty ring "
                     "with a reaper, userfaultfd)"};
    if (!recording_method) return HarvestChoice{std::nullopt, "at syncs only (a model: QEMU's default dirty bitmap)"};
    if (harvests_continuously(*recording_method))
        return HarvestChoice{simulated_reap_period,
                             "continuous (the recording's " + *recording_method + ": taken as it is written)"};
    return HarvestChoice{std::nullopt,
                         "at syncs only (the recording's " +
                             (recording_method->empty() ? std::string("unnamed method") : *recording_method) + ")"};
}

}  // namespace dtrack::cli
