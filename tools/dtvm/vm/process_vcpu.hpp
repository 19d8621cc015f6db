// ProcessVcpu: a vCPU of the process backend, a thread that runs the
// workload over plain memory of this process.
//
// It is what a user without KVM runs: guest RAM is an anonymous mapping that
// the kernel tracks with userfaultfd write-protection (WP_ASYNC) and
// PAGEMAP_SCAN (dtrack::UffdSource), so each first write after a harvest is
// a real write-protect fault in this thread. The loop mirrors guest.S: pick
// the page (WorkloadCursor), fill its random words (PageFill, --write-bytes),
// store the stamp with one aligned 8-byte store, count it, and every
// exit_every writes publish the count and "exit" to the
// VMM side of the thread (pacing, throttle). It looks for a pause or stop
// before every write, so it parks between two whole writes, promptly, and
// picks up a new epoch when resumed. A reader loads each page's first word
// with a relaxed atomic load where a writer stores, and sums what it loads
// so that no load is dead code.
#pragma once

#include <memory>

#include "dtvm/guest/guest_layout.hpp"
#include "dtvm/vm/vcpu_runner.hpp"

namespace dtvm {

class ProcessVcpu : public VcpuRunner {
public:
    // `ram` is guest RAM (guest-physical address 0); the parameter page is
    // where the KVM guest would find it.
    ProcessVcpu(uint32_t id, VcpuRole role, const GuestLayout& layout, uint8_t* ram)
        : VcpuRunner(id, role, ParamPage(ram + layout.param_gpa(id))), ram_(ram) {}
    ~ProcessVcpu() override { join(); }

private:
    void run() override;
    uint64_t stamp() const;

    uint8_t* const ram_;
    // A reader's loaded words, summed, published at each exit: the loads have a use.
    std::atomic<uint64_t> loaded_sum_{0};
};

}  // namespace dtvm
