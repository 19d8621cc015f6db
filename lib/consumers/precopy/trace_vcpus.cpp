// A replayed recording's vCPUs under the dirty limit (trace_guest.hpp).
#include <algorithm>
#include <cerrno>
#include <numeric>

#include "dtrack/precopy/trace_guest.hpp"
#include "consumers/precopy/trace_release.hpp"
#include "consumers/precopy/trace_ring_full.hpp"

namespace dtrack::precopy {

Status TraceGuest::limit_vcpus() {
    const recording::Header& h = source_.header();
    if (h.vcpus > 0) {
        vcpus_.limit(h.vcpus);
        vcpu_view_ = "each interval's pages split over its " + std::to_string(h.vcpus) + " vCPUs by their counts";
        return Ok{};
    }
    if (replay_.vcpus == 0)
        return Error{EINVAL,
                     "the dirty limit acts per vCPU, and the recording (" + h.method +
                         ") has no per-vCPU counts nor a vCPU count",
                     "give the guest's vCPU count (its writes are then taken as spread evenly over them), or "
                     "record with a method that counts per vCPU (bpf, the KVM dirty ring)"};
    vcpus_.limit(replay_.vcpus);
    vcpu_view_ = "no per-vCPU counts: writes taken as spread evenly over " + std::to_string(replay_.vcpus) + " vCPUs";
    return Ok{};
}

Status TraceGuest::sleep_at_ring_full(uint64_t ring_entries) {
    if (!vcpus_.limited()) return Error{EINVAL, "ring-full sleeps before the vCPUs are limited", "limit them first"};
    std::vector<uint64_t> region_pages;
    for (const Region& r : source_.header().regions) region_pages.push_back(r.page_count);
    ring_full_ = std::make_unique<RingFullSleeps>(vcpus_.count(), ring_entries, std::move(region_pages), started_s_);
    vcpu_view_ += ", sleeping when their " + std::to_string(ring_entries) + "-entry dirty rings fill";
    return Ok{};
}

void TraceGuest::replay_with_ring_full(double wall_ns, int held_pct) {
    // A step's writes fill rings as they come; the vCPU that fills one
    // stops at the end of the step. Steps halve as a ring nears its fill,
    // down to a millisecond (that close to the kernel's moment), and are at
    // most 100 ms where no ring is near, so that hours of a guest whose
    // rings never fill take thousands of steps, not millions.
    constexpr double min_step_ns = 1e6, max_step_ns = 1e8;
    while (wall_ns > 0 && !error_) {
        const double to_fill_ns = ring_full_->next_fill_s() * 1e9 / 2;
        const double dt = std::min({wall_ns, std::clamp(to_fill_ns, min_step_ns, max_step_ns),
                                    std::max(ring_full_->next_wake_s() * 1e9, 1.0)});
        const std::vector<double> paces = vcpu_paces(held_pct);
        const double all = std::accumulate(paces.begin(), paces.end(), 0.0);
        std::vector<double> weights(paces.size(), 0), shares(paces.size(), 0);
        for (uint32_t v = 0; v < paces.size(); ++v) {
            weights[v] = all > 0 ? paces[v] / all : 0;
            shares[v] = vcpus_.share(v);
        }
        ring_full_->set_writers(weights);
        replay(dt, held_pct);
        const std::vector<double> pushed = ring_full_->advance(dt / 1e9, shares);
        for (uint32_t v = 0; v < pushed.size(); ++v) vcpus_.reported(v, pushed[v]);
        wall_ns -= dt;
    }
}

std::vector<double> TraceGuest::vcpu_weights() const {
    const uint32_t n = vcpus_.count();
    std::vector<double> w(n, n ? 1.0 / n : 0);
    const std::vector<uint64_t>& counts = current_->vcpu_pages;
    const double all = double(std::accumulate(counts.begin(), counts.end(), uint64_t(0)));
    if (all <= 0) return w;
    for (uint32_t v = 0; v < n; ++v) w[v] = v < counts.size() ? double(counts[v]) / all : 0;
    return w;
}

std::vector<double> TraceGuest::vcpu_paces(int held_pct) const {
    const double running = std::clamp(100 - held_pct, 0, 100) / 100.0;
    const double length_s = double(current_->end_ns - current_->start_ns) / 1e9;
    double pages = current_->estimated() ? current_->estimated_pages : 0;
    if (pages == 0) pages = double(release_->pages());
    const double recorded_rate = length_s > 0 ? pages * double(page_size_) / length_s : 0;
    std::vector<double> paces = vcpu_weights();
    for (uint32_t v = 0; v < paces.size(); ++v) {
        // Ring-full sleeps: awake or not; else a share of every slice.
        const double allowed = running * (ring_full_ ? (ring_full_->awake(v) ? 1.0 : 0.0) : 1 - vcpus_.share(v));
        const double own = paces[v] * recorded_rate;
        paces[v] *= replay_.peak > 0 && own > 0 ? std::min(1.0, replay_.peak * allowed / own) : allowed;
    }
    return paces;
}

double TraceGuest::limited_speed(int held_pct) const {
    const std::vector<double> paces = vcpu_paces(held_pct);
    return std::accumulate(paces.begin(), paces.end(), 0.0);
}

void TraceGuest::note_vcpu_writes(double fraction, int held_pct, double speed) {
    // With ring-full sleeps the rings' own entries are reported (replay_with_ring_full).
    if (!vcpus_.limited() || ring_full_ || speed <= 0 || fraction <= 0) return;
    const std::vector<uint64_t>& counts = current_->vcpu_pages;
    const double entries = double(std::accumulate(counts.begin(), counts.end(), uint64_t(0)));
    const std::vector<double> paces = vcpu_paces(held_pct);
    // The recording's own counts, where it has them: what the kernel
    // reported per vCPU (the ring's entries, a page again after each reset).
    if (entries > 0) {
        for (uint32_t v = 0; v < paces.size(); ++v) vcpus_.reported(v, entries * fraction * paces[v] / speed);
        return;
    }
    const double pages = double(release_->pages()) * fraction;
    for (uint32_t v = 0; v < paces.size(); ++v) vcpus_.wrote(v, pages * paces[v] / speed);
}

}  // namespace dtrack::precopy
