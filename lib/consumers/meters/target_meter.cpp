// TargetMeter (dtrack/target_meter.hpp): which methods run on a target, and,
// every interval, which of their figures is true (choose_dirty_figure).
#include "dtrack/target_meter.hpp"

#include "consumers/meters/target_methods.hpp"

namespace dtrack {

namespace {

// How the VM logs now, read once (the one-method choice), or nothing where it cannot be read.
std::optional<DirtyLogging> logging_now(pid_t pid) {
    auto reader = KvmStateReader::open(pid);
    if (!reader) return std::nullopt;
    auto vms = (*reader)->read();
    if (!vms || vms->empty()) return std::nullopt;
    return vms->front().logging();
}

}  // namespace

TargetMeter::~TargetMeter() = default;

Result<std::unique_ptr<TargetMeter>> TargetMeter::open(pid_t pid, const TargetMeterOptions& options) {
    auto target = inspect_process(pid);
    if (!target) return target.error();
    std::unique_ptr<TargetMeter> m(new TargetMeter);
    m->target_ = std::move(target.value());
    m->asked_ = options.method;
    const Status opened = options.one_method ? m->open_one_method(options) : m->open_methods(options);
    if (!opened) return opened.error();
    const TargetProcess& t = m->target_;
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
    if (options.per_vcpu) add_vcpu_view(m->vcpu_method(), t);
    if (m->kernel_) m->kernel_meter_.emplace(*m->kernel_->tracker);
    if (m->hashing_) m->hashing_meter_.emplace(*m->hashing_->tracker);
    return m;
}

// Methods chosen every interval: on a KVM VMM the kernel's record and
// hashing side by side (auto), or the one asked for.
Status TargetMeter::open_methods(const TargetMeterOptions& o) {
    const TargetProcess& t = target_;
    const MeasureMethod method = o.method;
    std::string no_kernel_view;
    if (method == MeasureMethod::kernel_events || (method == MeasureMethod::automatic && t.has_kvm_vm)) {
        auto kernel = open_kernel_events(t, o);
        if (kernel) kernel_ = std::move(kernel.value());
        else if (method == MeasureMethod::kernel_events) return kernel.error();
        else no_kernel_view = kernel.error().what;
    }
    // Hashing: asked for, or (auto) always, for whenever the record does not cover the guest.
    if (method != MeasureMethod::kernel_events) {
        auto hashing = open_hashing(t, o);
        if (hashing) hashing_ = std::move(hashing.value());
        else if (method == MeasureMethod::sample || !kernel_) return hashing.error();
    }
    const std::string record = t.has_dirty_ring ? "dirty ring" : "dirty bitmap";
    if (kernel_ && hashing_) {
        method_ = "auto";
        sources_ = kernel_->source + " (exact, while the VM logs), else " + hashing_->source;
        why_ = "auto: " + who(t) + " runs a KVM VM with the " + record +
               (t.has_dirty_ring ? " (" + std::to_string(t.vcpus_with_ring) + " vCPU rings)" : "") +
               ": the kernel's record while the VM logs dirty pages (a VMM logs while it migrates or measures), "
               "page hashing while it does not; chosen again every interval";
    } else if (kernel_) {
        method_ = kernel_->name;
        sources_ = kernel_->source;
        why_ = method == MeasureMethod::kernel_events ? "asked for (--method bpf)"
                                                      : "auto: page hashing failed, so the kernel's record alone";
    } else {
        method_ = hashing_->name;
        sources_ = hashing_->source;
        if (method == MeasureMethod::sample) why_ = "asked for (--method sample)";
        else if (!no_kernel_view.empty())
            why_ = "auto: the VM logs with the " + record + " but BPF cannot watch it (" + no_kernel_view +
                   "); hashing pages instead";
        else
            why_ = "auto: " + who(t) +
                   " runs no KVM VM, so no kernel view of its writes: hashing pages instead "
                   "(an estimate unless --exact)";
    }
    return Ok{};
}

// One method for the whole run (a recording): the kernel's record when the
// VM logs into one BPF can read now, page hashing otherwise, saying why. A
// VM that is not logging records nothing: its kernel figure would read 0.
Status TargetMeter::open_one_method(const TargetMeterOptions& o) {
    const TargetProcess& t = target_;
    const auto use = [&](Result<std::unique_ptr<TargetMethod>> method, std::string why) -> Status {
        if (!method) return method.error();
        std::unique_ptr<TargetMethod>& slot = method.value()->sample ? hashing_ : kernel_;
        slot = std::move(method.value());
        method_ = slot->name;
        sources_ = slot->source;
        why_ = std::move(why);
        return Ok{};
    };
    switch (o.method) {
        case MeasureMethod::kernel_events: return use(open_kernel_events(t, o), "asked for (--method bpf)");
        case MeasureMethod::sample: return use(open_hashing(t, o), "asked for (--method sample)");
        case MeasureMethod::automatic: break;
    }
    const std::optional<DirtyLogging> logging = t.has_kvm_vm ? logging_now(t.pid) : std::nullopt;
    std::string not_used;
    if (logging == DirtyLogging::bitmap || logging == DirtyLogging::ring) {
        auto kernel = open_kernel_events(t, o);
        if (kernel)
            return use(std::move(kernel), "auto: " + who(t) + " runs a KVM VM that logs into its " +
                                              dirty_logging_name(*logging) +
                                              " now, and BPF reads it here (a VMM logs while it migrates or "
                                              "measures: a recording that outlasts that reads low)");
        not_used = "the VM logs, but BPF cannot read its record (" + kernel.error().what + ")";
    } else if (logging == DirtyLogging::off) {
        not_used =
            "its KVM VM is not logging dirty pages now (a VMM logs while it migrates or measures), so no "
            "kernel record follows its writes";
    } else if (t.has_kvm_vm && t.has_dirty_ring) {
        // The state cannot be read: the ring's pushes are the kernel's view to try.
        auto ring = open_ring_events(t, o);
        if (ring)
            return use(std::move(ring), "auto: " + who(t) +
                                            " runs a KVM VM with the dirty ring, and BPF tracepoints "
                                            "attach here (whether it logs cannot be read here)");
        not_used = "the VM uses the dirty ring but BPF is unavailable (" + ring.error().what + ")";
    } else {
        not_used = t.has_kvm_vm ? "no kernel view of its VM's writes here" : "it runs no KVM VM";
    }
    return use(open_hashing(t, o),
               "auto: " + who(t) + ": " + not_used + ": hashing pages instead (an estimate unless --exact)");
}

Status TargetMeter::start() {
    last_logging_ = read_logging();
    if (kernel_meter_)
        if (Status s = kernel_meter_->start(); !s) return s;
    if (hashing_meter_)
        if (Status s = hashing_meter_->start(); !s) return s;
    return Ok{};
}

LoggingView TargetMeter::read_logging() const {
    LoggingView v;
    if (!target_.has_kvm_vm) return v;
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

Result<TargetInterval> TargetMeter::sample(const RateMeter::TakenWords& each_working_set_word) {
    TargetInterval in;
    // The state first: a VMM that stops logging after it was read leaves the
    // interval a figure the next interval's start catches (logging_at_start).
    in.logging = read_logging();
    if (kernel_meter_) {
        auto s = hashing_meter_ ? kernel_meter_->sample() : kernel_meter_->sample(each_working_set_word);
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

}  // namespace dtrack
