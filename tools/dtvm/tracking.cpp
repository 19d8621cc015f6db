#include "tracking.hpp"

namespace dtvm {

dtrack::Result<TrackMode> parse_track_mode(const std::string& name) {
    if (name == "ring") return TrackMode::ring;
    if (name == "log") return TrackMode::log;
    return dtrack::Error{EINVAL, "unknown tracking mode '" + name + "'", "use --track ring or --track log"};
}

std::string track_mode_name(TrackMode mode) { return mode == TrackMode::ring ? "ring" : "log"; }

dtrack::Result<std::unique_ptr<Tracking>> Tracking::create(const VmOptions& vm_options, const TrackingOptions& options) {
    std::unique_ptr<Tracking> t(new Tracking);
    t->options_ = options;
    VmOptions vo = vm_options;
    vo.dirty_logging = true;
    auto vm = Vm::create(vo);
    if (!vm) return vm.error();
    t->vm_ = std::move(vm.value());

    for (const Slot& s : t->vm_->slots())
        t->tracker_.add_region(dtrack::Region{.name = "slot " + std::to_string(s.id),
                                              .space = dtrack::AddressSpace::guest_physical,
                                              .slot = s.id,
                                              .base = s.gpa,
                                              .page_size = 4096,
                                              .page_count = s.pages});

    if (options.mode == TrackMode::ring) {
        dtvm::Vm* vm = t->vm_.get();
        auto ring = dtrack::KvmRingSource::enable(
            t->vm_->fd(), t->tracker_,
            {.entries = options.ring_entries,
             .rearm = [vm] { return vm->rearm_dirty_logging(); },
             .before_reset = options.before_ring_reset});
        if (!ring) return ring.error();
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
        t->vm_->on_ring_full([ring](uint32_t vcpu) { ring->on_ring_full(vcpu); });
        if (options.reaper) ring->start_reaper();
    }
    return t;
}

Tracking::~Tracking() {
    // vCPUs first: a vCPU thread may be inside on_ring_full.
    if (vm_) vm_->stop();
    if (ring_) ring_->stop_reaper();
}

}  // namespace dtvm
