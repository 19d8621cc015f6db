// SimulatedVcpus: a simulated guest's vCPUs as the dirty limit sees them
// (simulation.hpp): the share of each slice each one is held by the limit,
// and the pages the kernel would report for each one.
//
// The guest says what each vCPU wrote between two harvests (wrote()), and
// at a harvest how many distinct pages were written since the one before
// (harvested()): those are split over the vCPUs in proportion to what each
// wrote, as a KVM dirty ring's entries or a vCPU thread's write faults
// would count them without a reaper (once per page per harvest, per vCPU
// that wrote it). A guest that knows the kernel's own counts (a recording
// with per-vCPU counts) reports them instead (reported()).
#pragma once

#include <cstdint>
#include <vector>

#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {

class SimulatedVcpus {
public:
    // Gives the guest `n` vCPUs under a limit (0: none, the default).
    void limit(uint32_t n);
    bool limited() const { return !share_.empty(); }
    uint32_t count() const { return uint32_t(share_.size()); }

    // The share of each slice vCPU `v` is held, 0..1 (0 for an unknown vCPU).
    double share(uint32_t v) const { return v < share_.size() ? share_[v] : 0; }
    void set_share(uint32_t v, double share);

    // What vCPU `v` wrote since the last harvest, in any unit: a weight.
    void wrote(uint32_t v, double amount);
    // `distinct` pages were written since the last harvest.
    void harvested(double distinct);
    // Or the guest knows what the kernel reported for vCPU `v` (a recording's own counts).
    void reported(uint32_t v, double pages);
    // Whole pages reported per vCPU since the last call (the fractions carry over).
    std::vector<uint64_t> take_reported();

private:
    std::vector<double> share_;
    std::vector<double> wrote_;     // since the last harvest
    std::vector<double> reported_;  // pages not yet taken, fractions included
};

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
