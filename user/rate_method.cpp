#include "rate_method.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "dtrack/kvm_vm_state.hpp"
#include "dtrack/units.hpp"
#include "vcpu_rates.hpp"

namespace dtrack::cli {

namespace {

std::string who(const TargetProcess& t) { return "pid " + std::to_string(t.pid) + " (" + t.comm + ")"; }

}  // namespace

Result<RateSetup> setup_ring_events(const TargetProcess& t, const RateMethodOptions& o) {
    // First what holds for every target: from a PID namespace of our own the
    // tracepoint's process ids never match ours (BpfSource says why).
    if (!in_initial_pid_namespace()) {
        Tracker none;
        auto refused = BpfSource::attach(t.pid, none);
        if (!refused) return refused.error();
    }
    if (!t.has_kvm_vm)
        return Error{EINVAL, who(t) + " runs no KVM VM", "use --method sample for a process that is not a VMM"};
    if (!t.has_dirty_ring)
        return Error{EINVAL,
                     who(t) + " runs a KVM VM without the dirty ring (no vCPU has its ring mapped), and the BPF "
                              "source sees only dirty-ring pushes",
                     "start the VMM with the dirty ring (QEMU: -accel kvm,dirty-ring-size=4096; dtvm: --track "
                     "ring), or use --method sample"};
    // The VMM's memslots are not visible from outside: track slot ids
    // 0..n-1 with a generous capacity; slot_usage() learns their real sizes.
    auto tracker = std::make_unique<Tracker>();
    if (auto slots = add_slot_regions(*tracker, o.bpf_slots, o.bpf_pages_per_slot); !slots) return slots.error();
    auto bpf = BpfSource::attach(t.pid, *tracker);
    if (!bpf) return bpf.error();
    RateSetup s{.method = "bpf", .source = "kvm:kvm_dirty_ring_push", .exact = true, .knows_vcpus = true};
    s.bpf = bpf.value().get();
    tracker->add_source(std::move(bpf.value()));
    s.tracker = std::move(tracker);
    return s;
}

Result<RateSetup> setup_bitmap_events(const TargetProcess& t, const RateMethodOptions& o) {
    if (!in_initial_pid_namespace()) {
        Tracker none;
        auto refused = BpfBitmapSource::attach(t.pid, none);
        if (!refused) return refused.error();
    }
    if (!t.has_kvm_vm)
        return Error{EINVAL, who(t) + " runs no KVM VM", "use --method sample for a process that is not a VMM"};
    // As for the ring: slot ids 0..n-1 with a generous capacity.
    auto tracker = std::make_unique<Tracker>();
    if (auto slots = add_slot_regions(*tracker, o.bpf_slots, o.bpf_pages_per_slot); !slots) return slots.error();
    auto bitmap = BpfBitmapSource::attach(t.pid, *tracker);
    if (!bitmap) return bitmap.error();
    RateSetup s{.method = "bpf", .source = "the KVM dirty bitmaps (read by a BPF iterator and at the VMM's harvests)",
                .exact = true};
    s.bitmap = bitmap.value().get();
    tracker->add_source(std::move(bitmap.value()));
    s.tracker = std::move(tracker);
    return s;
}

Result<RateSetup> setup_kernel_events(const TargetProcess& t, const RateMethodOptions& o) {
    if (t.has_kvm_vm && !t.has_dirty_ring) return setup_bitmap_events(t, o);
    return setup_ring_events(t, o);
}

Result<RateSetup> setup_hashing(const TargetProcess& t, const RateMethodOptions& o) {
    auto tracker = std::make_unique<Tracker>();
    auto regions = add_process_regions(*tracker, t.pid);
    if (!regions) return regions.error();
    SampleOptions so{.mode = o.exact_sampling ? SampleMode::exact : SampleMode::sample,
                     .sample_pages = o.sample_pages,
                     .max_error = o.max_error};
    auto sample = SampleSource::track(*tracker, t.pid, *regions, so);
    if (!sample) {
        Error e = sample.error();
        // Too many hashes to keep: the library names its options; here they are flags.
        if (e.errno_value == ENOMEM) e.fix += " (in dtrack rate: leave out --exact, or a larger --bound)";
        return e;
    }
    RateSetup s{.method = o.exact_sampling ? "sample-exact" : "sample",
                .source = o.exact_sampling ? "hashing every page" : "hashing a random sample of pages",
                .exact = o.exact_sampling};
    s.sample = sample.value().get();
    tracker->add_source(std::move(sample.value()));
    s.tracker = std::move(tracker);
    return s;
}

namespace {

Result<RateSetup> choose_rate_method(RateMethod method, const TargetProcess& t, const RateMethodOptions& o) {
    switch (method) {
    case RateMethod::bpf: {
        auto s = setup_kernel_events(t, o);
        if (s) s->why = "asked for (--method bpf)";
        return s;
    }
    case RateMethod::sample: {
        auto s = setup_hashing(t, o);
        if (s) s->why = "asked for (--method sample)";
        return s;
    }
    case RateMethod::automatic:
        break;
    }
    // auto, for one method that holds for the whole run (dtrack record): the
    // exact kernel view when the target is a KVM VMM that logs now and BPF
    // attaches; page hashing otherwise, saying why. A VM that is not logging
    // records nothing: its kernel figure would read 0. (dtrack rate and the
    // sidecar choose again every interval: MeasuredTarget.)
    if (t.has_kvm_vm && !t.has_dirty_ring) {
        std::optional<DirtyLogging> logging;
        if (auto reader = KvmStateReader::open(t.pid))
            if (auto vms = (*reader)->read(); vms && !vms->empty()) logging = vms->front().logging();
        if (logging == DirtyLogging::bitmap) {
            auto s = setup_bitmap_events(t, o);
            if (s) {
                s->why = "auto: " + who(t) + " runs a KVM VM that logs into dirty bitmaps now, and BPF reads them here "
                         "(a VMM logs while it migrates or measures: a recording outlasting that reads low)";
                return s;
            }
        }
    }
    if (t.has_kvm_vm && t.has_dirty_ring) {
        std::string not_logging;
        if (auto reader = KvmStateReader::open(t.pid)) {
            auto vms = (*reader)->read();
            const bool logs = vms && std::any_of(vms->begin(), vms->end(), [](const KvmVmState& vm) {
                                  return vm.logging() == DirtyLogging::ring;
                              });
            if (vms && !logs) not_logging = "its VM is not logging dirty pages into its rings now";
        }
        if (!not_logging.empty()) {
            auto s = setup_hashing(t, o);
            if (s)
                s->why = "auto: " + who(t) + " runs a KVM VM with the dirty ring, but " + not_logging +
                         " (a VMM logs while it migrates or measures), so no kernel event follows its writes: "
                         "hashing pages instead";
            return s;
        }
        auto s = setup_ring_events(t, o);
        if (s) {
            s->why = "auto: " + who(t) + " runs a KVM VM with the dirty ring (" + std::to_string(t.vcpus_with_ring) +
                     " vCPU rings), and BPF tracepoints attach here";
            return s;
        }
        auto fallback = setup_hashing(t, o);
        if (fallback)
            fallback->why = "auto: the VM uses the dirty ring but BPF is unavailable (" + s.error().what +
                            "); hashing pages instead";
        return fallback;
    }
    auto s = setup_hashing(t, o);
    if (s)
        s->why = "auto: " + who(t) +
                 (t.has_kvm_vm ? " runs a KVM VM without the dirty ring" : " runs no KVM VM") +
                 ", so no kernel view of its writes: hashing pages instead (an estimate unless --exact)";
    return s;
}

}  // namespace

Result<RateSetup> setup_rate_method(RateMethod method, const TargetProcess& t, const RateMethodOptions& o) {
    auto setup = choose_rate_method(method, t, o);
    if (setup && o.per_vcpu) add_vcpu_view(*setup, t);
    return setup;
}

Result<RateMethod> parse_rate_method(const std::string& text) {
    if (text == "auto") return RateMethod::automatic;
    if (text == "bpf") return RateMethod::bpf;
    if (text == "sample") return RateMethod::sample;
    if (text == "uffd")
        return Error{EINVAL,
                     "there is no --method uffd: userfaultfd tracks only memory of the process that registers it, "
                     "so it cannot measure another process",
                     "use --method bpf or --method sample; a VMM can embed dtrack::UffdSource for its own RAM"};
    return Error{EINVAL, "unknown method '" + text + "'", "use auto, bpf or sample"};
}

Result<std::chrono::nanoseconds> parse_interval(const std::string& text) {
    auto interval = parse_duration(text, "--interval");
    if (!interval) return interval.error();
    if (*interval < std::chrono::milliseconds(10))
        return Error{EINVAL, "--interval " + text + " is too short", "use 10ms or more, e.g. 1s"};
    return *interval;
}

Result<double> parse_bound(const std::string& text) {
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() && *end == '%' && end[1] == 0) v /= 100;
    else if (end == text.c_str() || *end != 0) v = -1;
    if (!(v > 0 && v < 1))
        return Error{EINVAL, "--bound " + text + " is not a share between 0 and 100%",
                     "give e.g. --bound 2% (the default), 1% (finer, dearer) or 5% (cheaper)"};
    return v;
}

uint64_t working_set_pages(const RateSample& sample, const RateSetup& setup) {
    // Only sampled pages are ever marked, and the sample follows what is
    // present: the source estimates the working set from its sample.
    if (setup.sample && sample.estimate) return uint64_t(setup.sample->last_estimate().working_set);
    return sample.working_set_pages;
}

namespace {

uint64_t visible_memory_bytes(const Tracker& tracker, const RateSetup& setup) {
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

uint64_t round_one_bytes(const Tracker& tracker, const RateSetup& setup, uint64_t working_set_pages) {
    return std::max<uint64_t>(visible_memory_bytes(tracker, setup), working_set_pages * 4096);
}

}  // namespace dtrack::cli
