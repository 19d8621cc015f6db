// A replayed recording's vCPUs under the dirty limit (trace_guest.hpp).
#include <algorithm>
#include <cerrno>
#include <numeric>

#include "dtrack/precopy/trace_guest.hpp"
#include "consumers/precopy/trace_release.hpp"

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
        const double allowed = running * (1 - vcpus_.share(v));
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
    if (!vcpus_.limited() || speed <= 0 || fraction <= 0) return;
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
