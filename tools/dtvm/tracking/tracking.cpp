#include "dtvm/tracking/tracking.hpp"

#include <unistd.h>

#include "dtvm/vm/kvm_vm.hpp"

namespace dtvm {

TrackMode best_track_mode(Backend backend) { return backend == Backend::kvm ? TrackMode::ring : TrackMode::uffd; }

dtrack::Result<TrackMode> parse_track_mode(const std::string& name, Backend backend) {
    if (name == "auto") return best_track_mode(backend);
    const bool kvm = backend == Backend::kvm;
    if (name == "ring" || name == "log") {
        if (kvm) return name == "ring" ? TrackMode::ring : TrackMode::log;
        return dtrack::Error{EINVAL,
                             "--track " + name + " needs the KVM backend, and this dtvm runs the process backend",
                             "use --track uffd (or auto) here, or --backend kvm on a machine with /dev/kvm"};
    }
    if (name == "uffd") {
        if (!kvm) return TrackMode::uffd;
        return dtrack::Error{EINVAL, "--track uffd tracks the process backend's memory, not a KVM guest's",
                             "use --track ring or log with KVM, or --backend process"};
    }
    return dtrack::Error{EINVAL, "unknown tracking mode '" + name + "'", "use --track ring, log, uffd or auto"};
}

std::string track_mode_name(TrackMode mode) {
    switch (mode) {
        case TrackMode::ring: return "ring";
        case TrackMode::log: return "log";
        case TrackMode::uffd: return "uffd";
    }
    return "?";
}

dtrack::Result<std::unique_ptr<Tracking>> Tracking::create(const VmOptions& vm_options,
                                                           const TrackingOptions& options) {
    const bool process = vm_options.backend == Backend::process;
    if (process != (options.mode == TrackMode::uffd))
        return dtrack::Error{EINVAL,
                             "tracking mode " + track_mode_name(options.mode) + " does not work on the " +
                                 backend_name(vm_options.backend) + " backend",
                             "use " + track_mode_name(best_track_mode(vm_options.backend))};
    std::unique_ptr<Tracking> t(new Tracking);
    t->options_ = options;
    VmOptions vo = vm_options;
    vo.dirty_logging = !process;
    auto vm = Vm::create(vo);
    if (!vm) return vm.error();
    t->vm_ = std::move(vm.value());
    if (dtrack::Status s = t->add_regions(); !s) return s.error();
    if (process) {
        if (dtrack::Status s = t->add_uffd_sources(); !s) return s.error();
        if (dtrack::Status s = t->vm_->create_vcpus(); !s) return s.error();
        return t;
    }
    KvmVm& kvm = *t->vm_->kvm();
    if (dtrack::Status s = t->add_kvm_source(kvm); !s) return s.error();
    if (dtrack::Status s = t->vm_->create_vcpus(); !s) return s.error();
    if (dtrack::Status s = t->add_ring_vcpus(kvm); !s) return s.error();
    return t;
}

// Region i = slot i: guest-physical memslots on KVM, host ranges of this
// process on the process backend.
dtrack::Status Tracking::add_regions() {
    const bool process = vm_->backend() == Backend::process;
    for (const Slot& s : vm_->slots()) {
        auto region = tracker_.add_region(
            dtrack::Region{.name = "slot " + std::to_string(s.id),
                           .space = process ? dtrack::AddressSpace::host_virtual : dtrack::AddressSpace::guest_physical,
                           .slot = s.id,
                           .base = process ? reinterpret_cast<uint64_t>(s.host) : s.gpa,
                           .page_size = 4096,
                           .page_count = s.pages});
        if (!region) return region.error();
    }
    return dtrack::Ok{};
}

dtrack::Status Tracking::add_uffd_sources() {
    for (size_t i = 0; i < vm_->slots().size(); ++i) {
        auto uffd = dtrack::UffdSource::track(tracker_, static_cast<dtrack::RegionId>(i));
        if (!uffd) return uffd.error();
        uffd_.push_back(uffd.value().get());
        tracker_.add_source(std::move(uffd.value()));
    }
    if (!options_.thread_write_faults) return dtrack::Ok{};
    // Only the guest memory's faults: a vCPU thread's stack is not a guest page.
    auto faults = dtrack::ThreadWriteFaults::attach(::getpid(), {.ranges = dtrack::tracked_ranges(tracker_)});
    if (!faults) {
        dtrack::Error e = faults.error();
        e.what = "per-vCPU dirty rates on the process backend (--dirty-limit): " + e.what;
        return e;
    }
    faults_ = std::move(faults.value());
    auto source = std::make_unique<dtrack::ThreadWriteFaultSource>(*faults_);
    thread_write_fault_source_ = source.get();
    tracker_.add_source(std::move(source));
    return dtrack::Ok{};
}

dtrack::Status Tracking::add_kvm_source(KvmVm& kvm) {
    if (options_.mode == TrackMode::ring) {
        auto ring = dtrack::KvmRingSource::enable(kvm.fd(), tracker_,
                                                  {.entries = options_.ring_entries,
                                                   .rearm = [&kvm] { return kvm.rearm_dirty_logging(); },
                                                   .before_reset = options_.before_ring_reset});
        if (!ring) {
            dtrack::Error e = ring.error();
            if (e.errno_value == ENOTSUP) e.fix += " (in dtvm: --track log)";
            return e;
        }
        ring_ = ring.value().get();
        tracker_.add_source(std::move(ring.value()));
        return dtrack::Ok{};
    }
    auto log = dtrack::KvmLogSource::enable(kvm.fd(), tracker_, {.manual_protect = options_.manual_protect});
    if (!log) return log.error();
    log_ = log.value().get();
    tracker_.add_source(std::move(log.value()));
    return dtrack::Ok{};
}

dtrack::Status Tracking::add_ring_vcpus(KvmVm& kvm) {
    if (!ring_) return dtrack::Ok{};
    for (uint32_t v = 0; v < vm_->vcpu_count(); ++v)
        if (dtrack::Status s = ring_->add_vcpu(kvm.vcpu_fd(v), v); !s) return s;
    dtrack::KvmRingSource* ring = ring_;
    kvm.on_ring_full([ring, reap = options_.full_exit_reap](uint32_t vcpu) { return ring->on_ring_full(vcpu, reap); });
    if (options_.reaper) ring->start_reaper();
    return dtrack::Ok{};
}

dtrack::Status Tracking::start(const Workload& workload) {
    if (dtrack::Status s = vm_->start(workload); !s) return s;
    if (thread_write_fault_source_) thread_write_fault_source_->set_vcpu_threads(vm_->vcpu_thread_ids());
    return dtrack::Ok{};
}

Tracking::~Tracking() {
    // vCPUs first: a vCPU thread may be inside on_ring_full.
    if (vm_) vm_->stop();
    if (ring_) ring_->stop_reaper();
}

}  // namespace dtvm
