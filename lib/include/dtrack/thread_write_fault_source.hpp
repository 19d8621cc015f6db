// ThreadWriteFaultSource: per-vCPU dirty figures for a VMM whose vCPUs are
// threads (dtvm's process backend), from the write faults each vCPU thread
// takes (ThreadWriteFaults, thread_write_faults.hpp).
//
//   auto faults = dtrack::ThreadWriteFaults::attach(getpid(), {.ranges = dtrack::tracked_ranges(tracker)});
//   tracker.add_source(std::make_unique<dtrack::ThreadWriteFaultSource>(**faults, vcpu_tids));
//   ... a vCPU thread started later: source.set_vcpu_threads(all_vcpu_tids);
//
// Beside the source that tracks the vCPUs' memory and re-protects it at each
// harvest (UffdSource), a vCPU thread's write faults between two harvests are
// the pages it newly dirtied: the first write to a page since it was
// re-protected faults, later ones do not. That is what the KVM dirty ring
// pushes per vCPU (a page re-dirtied after a re-protection counts again), so
// the Tracker's SourceCounters::pages_per_vcpu and RateMeter's per-vCPU rates
// mean the same on both backends.
//
// What it reports, per harvest:
//   pages           0: it marks no page (the memory's own source does), so
//                   the tracker's bitmaps, and invariant 1, are untouched
//   pages_per_vcpu  index = vCPU, the position of its thread in the list:
//                   the write faults that thread took since the previous
//                   harvest (a thread counts from when it is listed)
//   estimate        false: there is no page figure to estimate. The per-vCPU
//                   counts are exact counts of faults, which stand for pages
//                   newly dirtied as the ring's entries do, with the
//                   differences ThreadWriteFaults lists (the kernel's own
//                   writes take no fault; attached with tracked_ranges(), a
//                   thread's faults on memory nobody tracks, e.g. its stack,
//                   do not count).
// A vCPU thread the BPF map had no room for counts 0 here; its faults are in
// ThreadWriteFaults::totals().unattributed.
//
// `faults` must outlive the source (and so the Tracker that owns it).
// set_vcpu_threads() may be called from any thread, also while another syncs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "dtrack/source.hpp"
#include "dtrack/thread_write_faults.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

// The tracker's host_virtual regions as ranges for ThreadWriteFaults: the
// memory its sources re-protect, where a write fault is a page newly dirtied.
std::vector<AddressRange> tracked_ranges(const Tracker& tracker);

class ThreadWriteFaultSource : public Source {
public:
    // `vcpu_threads[i]` is the thread id of vCPU i (may be empty until the VMM starts its vCPUs).
    explicit ThreadWriteFaultSource(const ThreadWriteFaults& faults, std::vector<pid_t> vcpu_threads = {});

    std::string name() const override { return "thread-faults"; }
    Result<HarvestReport> harvest(Tracker& tracker) override;

    // Replaces the list (index = vCPU). A thread already listed keeps counting
    // from where it was, at its new index; a newly listed one counts from now.
    void set_vcpu_threads(std::vector<pid_t> vcpu_threads);
    std::vector<pid_t> vcpu_threads() const;

private:
    // Thread id -> its count at the previous harvest, or when it was listed.
    std::map<pid_t, uint64_t> baselines(const std::vector<pid_t>& tids) const;

    const ThreadWriteFaults& faults_;
    mutable std::mutex mutex_;  // the list and the baselines
    std::vector<pid_t> tids_;
    std::map<pid_t, uint64_t> last_;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
