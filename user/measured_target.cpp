#include "measured_target.hpp"

#include "vcpu_rates.hpp"

namespace dtrack::cli {

namespace {

std::string who(const TargetProcess& t) { return "pid " + std::to_string(t.pid) + " (" + t.comm + ")"; }

MeasureMethod measure_method(RateMethod m) {
    switch (m) {
        case RateMethod::bpf: return MeasureMethod::kernel_events;
        case RateMethod::sample: return MeasureMethod::sample;
        case RateMethod::automatic: break;
    }
    return MeasureMethod::automatic;
}

}  // namespace

Result<std::unique_ptr<MeasuredTarget>> MeasuredTarget::open(RateMethod method, const TargetProcess& t,
                                                            const RateMethodOptions& o) {
    std::unique_ptr<MeasuredTarget> m(new MeasuredTarget);
    m->asked_ = measure_method(method);
    m->has_vm_ = t.has_kvm_vm;

    // The kernel's record (ring pushes, or the dirty bitmaps): asked for, or (auto) on a KVM VMM.
    std::string no_kernel_view;
    if (method == RateMethod::bpf || (method == RateMethod::automatic && t.has_kvm_vm)) {
        auto kernel = setup_kernel_events(t, o);
        if (kernel) m->kernel_ = std::move(kernel.value());
        else if (method == RateMethod::bpf) return kernel.error();
        else no_kernel_view = kernel.error().what;
    }
    // Page hashing: asked for, or (auto) always, for whenever the rings do not cover the guest.
    if (method != RateMethod::bpf) {
        auto hashing = setup_hashing(t, o);
        if (hashing) m->hashing_ = std::move(hashing.value());
        else if (method == RateMethod::sample || !m->kernel_) return hashing.error();
    }
    // The VM's logging state, from the kernel where it can be read.
    if (t.has_kvm_vm) {
        auto state = KvmStateReader::open(t.pid);
        if (state) {
            m->state_ = std::move(state.value());
        } else {
            m->state_note_ = "the VM's logging state cannot be read here (" + state.error().message() + ")";
            if (m->kernel_) m->state_note_ += "; inferred from the kernel's record instead";
        }
    }
    if (o.per_vcpu) add_vcpu_view(m->vcpu_setup(), t);

    const std::string record = t.has_dirty_ring ? "dirty ring" : "dirty bitmap";
    if (m->kernel_ && m->hashing_) {
        m->method_ = "auto";
        m->sources_ = m->kernel_->source + " (exact, while the VM logs), else " + m->hashing_->source;
        m->why_ = "auto: " + who(t) + " runs a KVM VM with the " + record +
                  (t.has_dirty_ring ? " (" + std::to_string(t.vcpus_with_ring) + " vCPU rings)" : "") +
                  ": the kernel's record while the VM logs dirty pages (a VMM logs while it migrates or measures), "
                  "page hashing while it does not; chosen again every interval";
    } else if (m->kernel_) {
        m->method_ = m->kernel_->method;
        m->sources_ = m->kernel_->source;
        m->why_ = method == RateMethod::bpf ? "asked for (--method bpf)"
                                            : "auto: page hashing failed, so the kernel's record alone";
    } else {
        m->method_ = m->hashing_->method;
        m->sources_ = m->hashing_->source;
        if (method == RateMethod::sample)
            m->why_ = "asked for (--method sample)";
        else if (!no_kernel_view.empty())
            m->why_ = "auto: the VM logs with the " + record + " but BPF cannot watch it (" + no_kernel_view +
                      "); hashing pages instead";
        else
            m->why_ = "auto: " + who(t) + " runs no KVM VM, so no kernel view of its writes: hashing pages instead "
                      "(an estimate unless --exact)";
    }
    if (m->kernel_) m->kernel_meter_.emplace(*m->kernel_->tracker);
    if (m->hashing_) m->hashing_meter_.emplace(*m->hashing_->tracker);
    return m;
}

Status MeasuredTarget::start() {
    last_logging_ = read_logging();
    if (kernel_meter_)
        if (Status s = kernel_meter_->start(); !s) return s;
    if (hashing_meter_)
        if (Status s = hashing_meter_->start(); !s) return s;
    return Ok{};
}

LoggingView MeasuredTarget::read_logging() const {
    LoggingView v;
    if (!has_vm_) return v;
    v.evidence = LoggingEvidence::inferred;
    if (!state_) return v;
    auto vms = state_->read();
    if (!vms) return v;  // the process is going away: the measurement says so
    v.evidence = LoggingEvidence::kernel;
    // A VMM runs one VM; of several, the one that logs most speaks for the process.
    const KvmVmState* vm = nullptr;
    for (const KvmVmState& each : *vms)
        if (!vm || each.memslots_logging > vm->memslots_logging) vm = &each;
    if (!vm) return v;  // it closed its VM: nothing logs
    v.logging = vm->logging();
    v.memslots_logging = vm->memslots_logging;
    for (const KvmMemslotState& slot : vm->memslots) v.memslots_not_logging += !slot.logs_dirty && !slot.readonly;
    return v;
}

Result<TargetInterval> MeasuredTarget::sample(const RateMeter::TakenWords& each_working_set_word) {
    TargetInterval in;
    // The state first: a VMM that stops logging after it was read leaves
    // the interval's pushes a figure that reads low, and is caught next time.
    in.logging = read_logging();
    const bool hashing_is_working_set = bool(hashing_meter_);
    if (kernel_meter_) {
        auto s = hashing_is_working_set ? kernel_meter_->sample() : kernel_meter_->sample(each_working_set_word);
        if (!s) return s.error();
        in.vmm_dirty = std::move(s.value());
    }
    if (hashing_meter_) {
        auto s = hashing_meter_->sample(each_working_set_word);
        if (!s) return s.error();
        in.written = std::move(s.value());
    }
    const KernelView view = !kernel_ ? KernelView::none : kernel_->bpf ? KernelView::ring : KernelView::bitmap;
    in.choice = choose_dirty_figure({.asked = asked_,
                                     .kernel_view = view,
                                     .sampling = bool(hashing_),
                                     .evidence = in.logging.evidence,
                                     .logging = in.logging.logging,
                                     .logging_at_start = last_logging_.logging,
                                     .memslots_logging = in.logging.memslots_logging,
                                     .memslots_not_logging = in.logging.memslots_not_logging,
                                     .kernel_pages = in.vmm_dirty ? uint64_t(in.vmm_dirty->distinct_pages) : 0});
    last_logging_ = in.logging;
    return in;
}

}  // namespace dtrack::cli
