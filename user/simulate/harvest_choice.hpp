// How the simulated migration's source harvests while a round runs
// (--harvest): at syncs only, as KVM's dirty log and QEMU's bitmap do, or
// continuously, as KVM's ring with a reaper thread and userfaultfd do. The
// difference is where a page written during a round goes: continuously, a
// page ahead of the sender's cursor is taken in the same round; at syncs, it
// waits for the next one (docs/ARCHITECTURE.md, "Simulation").
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "dtrack/error.hpp"

namespace dtrack::cli {

struct HarvestChoice {
    // nullopt: at syncs only; else how often a reaper takes pages.
    std::optional<std::chrono::milliseconds> reap_every;
    std::string why;  // "continuous (the recording's kvm-ring: a reaper takes the ring as it fills)"
};

// dtvm's ring reaper aims at a quarter-full ring, every 0.5 ms to 200 ms
// (KvmRingSource); at the rates a simulated guest writes, 10 ms.
inline constexpr std::chrono::milliseconds simulated_reap_period{10};

// `typed`: "sync", "continuous" or empty, which takes the recording's
// method (`recording_method`; nullptr for a model guest: at syncs, as
// QEMU's default dirty bitmap).
Result<HarvestChoice> choose_harvest(const std::string& typed, const std::string* recording_method);

}  // namespace dtrack::cli
