#include "dtvm/modes/vcpu_dirty_limit.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "dtrack/units.hpp"
#include "dtvm/vm/pacer.hpp"

namespace dtvm {

namespace {

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

VcpuDirtyLimit::VcpuDirtyLimit(const DirtyLimitOptions& o, Vm& vm, dtrack::Tracker& tracker, Start start)
    : tracker_(tracker),
      vcpus_(vm.vcpu_count()),
      quota_(o.pages_per_s),
      // QEMU caps a vCPU's sleep at 99%, which leaves a vCPU 1% of its peak:
      // ~1.3k pages/s on KVM here, and ~8k on the process backend, whose
      // vCPUs write plain memory several times faster than a KVM guest
      // dirties pages. 99.9% lets a quota of a few thousand pages/s hold on both.
      limit_({.quota = o.pages_per_s, .period = o.period, .max_share = Pacer::kMaxShare},
             [&vm](uint32_t vcpu, double share) { vm.set_vcpu_share(vcpu, share); }),
      engaged_(start == Start::now) {
    for (uint32_t v = 0; v < vcpus_; ++v) readers_.push_back(vm.role(v) == VcpuRole::reader);
}

void VcpuDirtyLimit::on_period(const dtrack::Period& p) {
    if (!engaged_) {
        if (!trigger_.on_period(p).fired) return;
        engaged_ = true;
    }
    if (engaged_at_ == dtrack::Clock::time_point{}) {
        engaged_at_ = p.at;
        engaged_after_ = p.kind;
    }
    std::vector<uint64_t> counts = tracker_.counters().pages_per_vcpu();
    counts.resize(vcpus_);  // a vCPU that never dirtied a page has no count yet
    limit_.on_counts(p.at, counts);
}

void VcpuDirtyLimit::report_and_lift(std::chrono::steady_clock::time_point start) {
    const size_t vcpus = vcpus_;
    if (!engaged_) {
        std::printf("dirty limit: never engaged (the guest never dirtied more than half of what was sent)\n");
        return;
    }
    const auto timeline = limit_.timeline();
    limit_.reset();
    std::printf(
        "dirty limit: engaged at %.1f s (%s sync); per vCPU, rate in pages/s (sleep share) each "
        "period:\n",
        seconds(engaged_at_ - start), engaged_after_ == dtrack::SyncKind::background ? "background" : "round");
    std::printf("  %7s", "t");
    for (size_t v = 0; v < vcpus; ++v)
        std::printf("  %14s", ("vCPU " + std::to_string(v) + (readers_[v] ? " (r)" : "")).c_str());
    std::printf("\n");
    for (size_t i = 0; i < timeline.size(); i += vcpus) {
        std::printf("  %5.1f s", seconds(timeline[i].at - start));
        for (size_t j = i; j < std::min(timeline.size(), i + vcpus); ++j)
            std::printf("  %6s (%5.1f%%)", dtrack::format_count(timeline[j].rate).c_str(), timeline[j].share * 100);
        std::printf("\n");
    }
    // Steady state: the second half of the limit's periods.
    const size_t periods = timeline.size() / vcpus, from = periods / 2;
    for (size_t v = 0; v < vcpus; ++v) {
        double rate = 0, share = 0;
        for (size_t k = from; k < periods; ++k) {
            rate += timeline[k * vcpus + v].rate;
            share += timeline[k * vcpus + v].share;
        }
        const double n = double(std::max<size_t>(1, periods - from));
        std::printf(
            "dirty limit: vCPU %zu%s steady rate %.0f pages/s = %.0f%% of its quota %.0f, sleep share %.1f%% "
            "(mean of its last %zu periods)\n",
            v, readers_[v] ? " (reader)" : "", rate / n, 100 * rate / n / quota_, quota_, 100 * share / n,
            periods - from);
    }
}

}  // namespace dtvm
