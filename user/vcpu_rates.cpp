#include "vcpu_rates.hpp"

#include <algorithm>
#include <cerrno>

namespace dtrack::cli {

void add_vcpu_view(RateSetup& setup, const TargetProcess& t) {
    if (setup.bpf) {
        setup.vcpu_view = VcpuView::ring;
        return;
    }
    const std::string who = "pid " + std::to_string(t.pid) + " (" + t.comm + ")";
    if (t.has_kvm_vm) {
        setup.no_vcpu_view =
            t.has_dirty_ring
                ? Error{EINVAL,
                        "per-vCPU rates need the bpf method, which watches " + who + "'s dirty rings; method " +
                            setup.method + " has no vCPU view",
                        "use --method bpf (it says why it cannot attach, if it cannot)"}
                : Error{EINVAL,
                        "per-vCPU rates need the KVM dirty ring, and " + who +
                            " runs its VM without it (its guest's writes take no host page fault, so no thread's "
                            "faults show them either)",
                        "start the VMM with the dirty ring (QEMU: -accel kvm,dirty-ring-size=4096; dtvm: --track ring)"};
        return;
    }
    auto faults = ThreadWriteFaults::attach(t.pid);
    if (!faults) {
        const Error& e = faults.error();
        setup.no_vcpu_view = Error{e.errno_value, "per-vCPU rates need each thread's write faults, counted by eBPF: " +
                                                      e.what, e.fix};
        return;
    }
    setup.thread_faults = std::move(faults.value());
    setup.vcpu_threads = static_cast<VcpuThreadFaultSource*>(
        &setup.tracker->add_source(std::make_unique<VcpuThreadFaultSource>(*setup.thread_faults)));
    setup.vcpu_view = VcpuView::thread_faults;
    refresh_vcpu_threads(setup, t.pid);
}

void refresh_vcpu_threads(RateSetup& setup, pid_t pid) {
    if (setup.vcpu_view != VcpuView::thread_faults) return;
    const std::vector<ProcessThread> now = list_threads(pid);
    std::fill(setup.thread_alive.begin(), setup.thread_alive.end(), false);
    bool added = false;
    for (const ProcessThread& t : now) {
        const auto known = std::find_if(setup.threads.begin(), setup.threads.end(),
                                        [&](const ProcessThread& k) { return k.tid == t.tid; });
        if (known != setup.threads.end()) {
            known->comm = t.comm;
            setup.thread_alive[size_t(known - setup.threads.begin())] = true;
            continue;
        }
        setup.threads.push_back(t);
        setup.thread_alive.push_back(true);
        added = true;
    }
    if (!added) return;
    std::vector<pid_t> tids;
    for (const ProcessThread& t : setup.threads) tids.push_back(t.tid);
    setup.vcpu_threads->set_vcpu_threads(std::move(tids));
}

std::string vcpu_figure(const RateSetup& setup) {
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

std::vector<VcpuRate> vcpu_rates(const RateSample& sample, const RateSetup& setup, std::optional<double> quota) {
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
