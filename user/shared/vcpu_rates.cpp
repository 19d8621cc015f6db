#include "vcpu_rates.hpp"

#include <algorithm>

namespace dtrack::cli {

std::string vcpu_figure(const TargetMethod& setup) {
    switch (setup.vcpu_view) {
        case VcpuView::ring: return "ring entries per vCPU";
        case VcpuView::thread_faults: return "write faults per thread";
        case VcpuView::none: break;
    }
    return "";
}

std::string VcpuRate::label() const {
    if (!tid) return "vCPU " + std::to_string(vcpu);
    return "tid " + std::to_string(tid) + " (" + thread + ")";
}

std::vector<VcpuRate> vcpu_rates(const RateSample& sample, const TargetMethod& setup, std::optional<double> quota) {
    std::vector<VcpuRate> rates;
    if (setup.vcpu_view == VcpuView::none) return rates;
    const size_t n = setup.vcpu_view == VcpuView::thread_faults ? setup.threads.size() : sample.vcpu_pages_per_s.size();
    for (size_t v = 0; v < n; ++v) {
        VcpuRate r{.vcpu = v, .pages_per_s = v < sample.vcpu_pages_per_s.size() ? sample.vcpu_pages_per_s[v] : 0};
        if (setup.vcpu_view == VcpuView::thread_faults) {
            r.tid = setup.threads[v].tid;
            r.thread = setup.threads[v].comm;
            r.alive = setup.thread_alive[v];
        }
        r.over_quota = quota && r.pages_per_s > *quota;
        rates.push_back(std::move(r));
    }
    return rates;
}

}  // namespace dtrack::cli
