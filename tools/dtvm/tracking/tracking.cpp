#include "dtvm/tracking/tracking.hpp"

#include <unistd.h>

namespace dtvm {

TrackMode best_track_mode(Backend backend) { return backend == Backend::kvm ? TrackMode::ring : TrackMode::uffd; }

dtrack::Result<TrackMode> parse_track_mode(const std::string& name, Backend backend) {
    if (name == "auto") return best_track_mode(backend);
    const bool kvm = backend == Backend::kvm;
    if (name == "ring" || name == "log") {
        if (kvm) return name == "ring" ? TrackMode::ring : TrackMode::log;
        return dtrack::Error{EINVAL, "--track " + name + " needs the KVM backend, and this dtvm runs the process backend",
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

dtrack::Result<std::unique_ptr<Tracking>> Tracking::create(const VmOptions& vm_options, const TrackingOptions& options) {
    const bool process = vm_options.backend == Backend::process;
    if (process != (options.mode == TrackMode::uffd))
        return dtrack::Error{EINVAL, "tracking mode " + track_mode_name(options.mode) + " does not work on the " +
                                         backend_name(vm_options.backend) + " backend",
                             "use " + track_mode_name(best_track_mode(vm_options.backend))};
    std::unique_ptr<Tracking> t(new Tracking);
    t->options_ = options;
    VmOptions vo = vm_options;
    vo.dirty_logging = !process;
    auto vm = Vm::create(vo);
    if (!vm) return vm.error();
    t->vm_ = std::move(vm.value());

    // Region i = slot i: guest-physical memslots on KVM, host ranges of this
    // process on the process backend.
    for (const Slot& s : t->vm_->slots()) {
        auto region = t->tracker_.add_region(dtrack::Region{
            .name = "slot " + std::to_string(s.id),
            .space = process ? dtrack::AddressSpace::host_virtual : dtrack::AddressSpace::guest_physical,
            .slot = s.id,
            .base = process ? reinterpret_cast<uint64_t>(s.host) : s.gpa,
            .page_size = 4096,
            .page_count = s.pages});
        if (!region) return region.error();
    }

    if (process) {
        for (size_t i = 0; i < t->vm_->slots().size(); ++i) {
            auto uffd = dtrack::UffdSource::track(t->tracker_, static_cast<dtrack::RegionId>(i));
            if (!uffd) return uffd.error();
            t->uffd_.push_back(uffd.value().get());
            t->tracker_.add_source(std::move(uffd.value()));
        }
        if (options.vcpu_thread_faults) {
            // Only the guest memory's faults: a vCPU thread's stack is not a guest page.
            auto faults = dtrack::ThreadWriteFaults::attach(::getpid(), {.ranges = dtrack::tracked_ranges(t->tracker_)});
            if (!faults) {
                dtrack::Error e = faults.error();
                e.what = "per-vCPU dirty rates on the process backend (--dirty-limit): " + e.what;
                return e;
            }
            t->faults_ = std::move(faults.value());
            auto source = std::make_unique<dtrack::VcpuThreadFaultSource>(*t->faults_);
            t->thread_faults_ = source.get();
            t->tracker_.add_source(std::move(source));
        }
        if (dtrack::Status s = t->vm_->create_vcpus(); !s) return s.error();
        return t;
    }

    if (options.mode == TrackMode::ring) {
        dtvm::Vm* vm = t->vm_.get();
        auto ring = dtrack::KvmRingSource::enable(
            t->vm_->fd(), t->tracker_,
            {.entries = options.ring_entries,
             .rearm = [vm] { return vm->rearm_dirty_logging(); },
             .before_reset = options.before_ring_reset});
        if (!ring) {
            dtrack::Error e = ring.error();
            if (e.errno_value == ENOTSUP) e.fix += " (in dtvm: --track log)";
            return e;
        }
        t->ring_ = ring.value().get();
        t->tracker_.add_source(std::move(ring.value()));
    } else {
        auto log = dtrack::KvmLogSource::enable(t->vm_->fd(), t->tracker_, {.manual_protect = options.manual_protect});
        if (!log) return log.error();
        t->log_ = log.value().get();
        t->tracker_.add_source(std::move(log.value()));
    }

    if (dtrack::Status s = t->vm_->create_vcpus(); !s) return s.error();
    if (t->ring_) {
        for (uint32_t v = 0; v < t->vm_->vcpu_count(); ++v)
            if (dtrack::Status s = t->ring_->add_vcpu(t->vm_->vcpu_fd(v), v); !s) return s.error();
        dtrack::KvmRingSource* ring = t->ring_;
        t->vm_->on_ring_full([ring](uint32_t vcpu) { return ring->on_ring_full(vcpu); });
        if (options.reaper) ring->start_reaper();
    }
    return t;
}

dtrack::Status Tracking::start(const Workload& workload) {
    if (dtrack::Status s = vm_->start(workload); !s) return s;
    if (thread_faults_) thread_faults_->set_vcpu_threads(vm_->vcpu_thread_ids());
    return dtrack::Ok{};
}

Tracking::~Tracking() {
    // vCPUs first: a vCPU thread may be inside on_ring_full.
    if (vm_) vm_->stop();
    if (ring_) ring_->stop_reaper();
}

}  // namespace dtvm
