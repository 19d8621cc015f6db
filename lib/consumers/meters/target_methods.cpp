// The methods a TargetMeter runs (target_methods.hpp): each one's tracker,
// regions and source, its per-vCPU view, and what it says of the working set
// and of round 1 of a precopy.
#include "consumers/meters/target_methods.hpp"

#include <algorithm>
#include <cerrno>

#include "dtrack/process_memory.hpp"

namespace dtrack {

std::string who(const TargetProcess& t) { return "pid " + std::to_string(t.pid) + " (" + t.comm + ")"; }

Result<std::unique_ptr<TargetMethod>> open_ring_events(const TargetProcess& t, const TargetMeterOptions& o) {
    // First what holds for every target: from a PID namespace of our own the
    // tracepoint's process ids never match ours (BpfSource says why).
    if (!in_initial_pid_namespace()) {
        Tracker none;
        auto refused = BpfSource::attach(t.pid, none);
        if (!refused) return refused.error();
    }
    if (!t.has_kvm_vm)
        return Error{EINVAL, who(t) + " runs no KVM VM",
                     "hash pages instead: the sample method (dtrack rate --method sample) measures any process"};
    if (!t.has_dirty_ring)
        return Error{EINVAL,
                     who(t) +
                         " runs a KVM VM without the dirty ring (no vCPU has its ring mapped), and the BPF "
                         "source sees only dirty-ring pushes",
                     "start the VMM with the dirty ring (QEMU: -accel kvm,dirty-ring-size=4096; dtvm: --track "
                     "ring), or hash pages instead: the sample method (dtrack rate --method sample)"};
    // The VMM's memslots are not visible from outside: track slot ids
    // 0..n-1 with a generous capacity; slot_usage() learns their real sizes.
    auto tracker = std::make_unique<Tracker>();
    if (auto slots = add_slot_regions(*tracker, o.kernel_slots, o.kernel_pages_per_slot); !slots) return slots.error();
    auto bpf = BpfSource::attach(t.pid, *tracker);
    if (!bpf) return bpf.error();
    auto m = std::make_unique<TargetMethod>(
        TargetMethod{.name = "bpf", .source = "kvm:kvm_dirty_ring_push", .exact = true, .knows_vcpus = true});
    m->bpf = bpf.value().get();
    tracker->add_source(std::move(bpf.value()));
    m->tracker = std::move(tracker);
    return m;
}

Result<std::unique_ptr<TargetMethod>> open_bitmap_events(const TargetProcess& t, const TargetMeterOptions& o) {
    if (!in_initial_pid_namespace()) {
        Tracker none;
        auto refused = BpfBitmapSource::attach(t.pid, none);
        if (!refused) return refused.error();
    }
    if (!t.has_kvm_vm)
        return Error{EINVAL, who(t) + " runs no KVM VM",
                     "hash pages instead: the sample method (dtrack rate --method sample) measures any process"};
    // As for the ring: slot ids 0..n-1 with a generous capacity.
    auto tracker = std::make_unique<Tracker>();
    if (auto slots = add_slot_regions(*tracker, o.kernel_slots, o.kernel_pages_per_slot); !slots) return slots.error();
    auto bitmap = BpfBitmapSource::attach(t.pid, *tracker);
    if (!bitmap) return bitmap.error();
    auto m = std::make_unique<TargetMethod>(
        TargetMethod{.name = "bpf",
                     .source = "the KVM dirty bitmaps (read by a BPF iterator and at the VMM's harvests)",
                     .exact = true});
    m->bitmap = bitmap.value().get();
    tracker->add_source(std::move(bitmap.value()));
    m->tracker = std::move(tracker);
    return m;
}

Result<std::unique_ptr<TargetMethod>> open_kernel_events(const TargetProcess& t, const TargetMeterOptions& o) {
    if (t.has_kvm_vm && !t.has_dirty_ring) return open_bitmap_events(t, o);
    return open_ring_events(t, o);
}

Result<std::unique_ptr<TargetMethod>> open_hashing(const TargetProcess& t, const TargetMeterOptions& o) {
    auto tracker = std::make_unique<Tracker>();
    auto regions = add_process_regions(*tracker, t.pid);
    if (!regions) return regions.error();
    SampleOptions so{.mode = o.exact_sampling ? SampleMode::exact : SampleMode::sample,
                     .sample_pages = o.sample_pages,
                     .max_error = o.max_error};
    auto sample = SampleSource::track(*tracker, t.pid, *regions, so);
    if (!sample) {
        Error e = sample.error();
        // Too many hashes to keep: SampleSource names its options; these are the meter's.
        if (e.errno_value == ENOMEM)
            e.fix +=
                " (TargetMeterOptions: exact_sampling off, or a larger max_error; dtrack rate: leave out --exact, "
                "or a larger --bound)";
        return e;
    }
    auto m = std::make_unique<TargetMethod>(
        TargetMethod{.name = o.exact_sampling ? "sample-exact" : "sample",
                     .source = o.exact_sampling ? "hashing every page" : "hashing a random sample of pages",
                     .exact = o.exact_sampling});
    m->sample = sample.value().get();
    tracker->add_source(std::move(sample.value()));
    m->tracker = std::move(tracker);
    return m;
}

void add_vcpu_view(TargetMethod& setup, const TargetProcess& t) {
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
                            setup.name + " has no vCPU view",
                        "ask for the kernel's record (dtrack rate --method bpf): it says why it cannot attach, if it "
                        "cannot"}
                : Error{
                      EINVAL,
                      "per-vCPU rates need the KVM dirty ring, and " + who +
                          " runs its VM without it (its guest's writes take no host page fault, so no thread's "
                          "faults show them either)",
                      "start the VMM with the dirty ring (QEMU: -accel kvm,dirty-ring-size=4096; dtvm: --track ring)"};
        return;
    }
    // Where the process re-protects memory (userfaultfd WP: a process-backend
    // VMM's guest RAM) only the faults there are pages newly dirtied; a
    // thread's stack or a runtime's pages are not guest pages.
    auto write_protected = write_protected_ranges(t.pid);
    auto faults = ThreadWriteFaults::attach(
        t.pid, {.ranges = write_protected ? std::move(*write_protected) : std::vector<AddressRange>{}});
    if (!faults) {
        const Error& e = faults.error();
        setup.no_vcpu_view =
            Error{e.errno_value, "per-vCPU rates need each thread's write faults, counted by eBPF: " + e.what, e.fix};
        return;
    }
    setup.thread_faults = std::move(faults.value());
    setup.vcpu_threads = static_cast<ThreadWriteFaultSource*>(
        &setup.tracker->add_source(std::make_unique<ThreadWriteFaultSource>(*setup.thread_faults)));
    setup.vcpu_view = VcpuView::thread_faults;
    setup.refresh_vcpu_threads(t.pid);
}

void TargetMethod::refresh_vcpu_threads(pid_t pid) {
    TargetMethod& setup = *this;
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

uint64_t TargetMethod::working_set_pages(const RateSample& sample) const {
    const TargetMethod& setup = *this;
    // Only sampled pages are ever marked, and the sample follows what is
    // present: the source estimates the working set from its sample.
    if (setup.sample && sample.estimate) return uint64_t(setup.sample->last_estimate().working_set);
    return sample.working_set_pages;
}

namespace {

uint64_t visible_memory_bytes(const TargetMethod& setup) {
    const Tracker& tracker = *setup.tracker;
    uint64_t bytes = 0;
    if (setup.bpf) {
        for (const BpfSlotUsage& u : setup.bpf->slot_usage())
            if (u.tracked) bytes += u.seen_end * 4096;
        return bytes;
    }
    if (setup.bitmap) return 0;  // the slots' sizes are not known: the working set (or --memory) stands for them
    if (setup.sample) return setup.sample->last_read_stats().present * 4096;  // what is there, not the reservation
    for (RegionId id = 0; id < tracker.region_count(); ++id) bytes += tracker.region(id).bytes();
    return bytes;
}

}  // namespace

uint64_t TargetMethod::round_one_bytes(uint64_t working_set_pages) const {
    return std::max<uint64_t>(visible_memory_bytes(*this), working_set_pages * 4096);
}

}  // namespace dtrack
