#include "dtrack/thread_write_fault_source.hpp"

#include <algorithm>
#include <chrono>

namespace dtrack {

std::vector<AddressRange> tracked_ranges(const Tracker& tracker) {
    std::vector<AddressRange> ranges;
    for (RegionId id = 0; id < tracker.region_count(); ++id) {
        const Region& r = tracker.region(id);
        if (r.space == AddressSpace::host_virtual && r.page_count) ranges.push_back({r.base, r.end()});
    }
    return ranges;
}

ThreadWriteFaultSource::ThreadWriteFaultSource(const ThreadWriteFaults& faults, std::vector<pid_t> vcpu_threads)
    : faults_(faults) {
    set_vcpu_threads(std::move(vcpu_threads));
}

std::map<pid_t, uint64_t> ThreadWriteFaultSource::baselines(const std::vector<pid_t>& tids) const {
    std::map<pid_t, uint64_t> out;
    for (pid_t tid : tids) {
        const auto kept = last_.find(tid);
        out[tid] = kept != last_.end() ? kept->second : faults_.count(tid);
    }
    return out;
}

void ThreadWriteFaultSource::set_vcpu_threads(std::vector<pid_t> vcpu_threads) {
    std::lock_guard lock(mutex_);
    last_ = baselines(vcpu_threads);
    tids_ = std::move(vcpu_threads);
}

std::vector<pid_t> ThreadWriteFaultSource::vcpu_threads() const {
    std::lock_guard lock(mutex_);
    return tids_;
}

Result<HarvestReport> ThreadWriteFaultSource::harvest(Tracker& /*tracker*/) {
    const auto start = std::chrono::steady_clock::now();
    HarvestReport report;
    std::lock_guard lock(mutex_);
    // Every listed vCPU gets its entry, 0 included, so the counters' vector
    // covers them all.
    report.pages_per_vcpu.assign(tids_.size(), 0);
    for (size_t v = 0; v < tids_.size(); ++v) {
        uint64_t& last = last_[tids_[v]];
        const uint64_t now = faults_.count(tids_[v]);
        if (now > last) report.pages_per_vcpu[v] = now - last;
        last = std::max(last, now);
    }
    report.cost = std::chrono::steady_clock::now() - start;
    return report;
}

}  // namespace dtrack
