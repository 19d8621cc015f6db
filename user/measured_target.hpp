// A running VM or process measured with the state-aware method: the kernel's
// ring pushes while the VM logs dirty pages into its rings, page hashing
// while it does not, decided again every interval (dtrack/dirty_figure.hpp)
// from the VM's logging state as the kernel has it (dtrack/kvm_vm_state.hpp).
// `dtrack rate` and the sidecar measure through it.
//
// Each interval carries both figures where both are measured (vmm_dirty from
// the rings, written from hashing) and says which one is the interval's
// figure, and why; the two are never added up under one name.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "dtrack/dirty_figure.hpp"
#include "dtrack/kvm_vm_state.hpp"
#include "dtrack/rate_meter.hpp"
#include "rate_method.hpp"

namespace dtrack::cli {

// The VM's logging state at an interval's end, as the figure choice saw it.
struct LoggingView {
    LoggingEvidence evidence = LoggingEvidence::none;
    DirtyLogging logging = DirtyLogging::off;
    uint32_t memslots_logging = 0;
    uint32_t memslots_not_logging = 0;
};

struct TargetInterval {
    FigureChoice choice;
    LoggingView logging;
    std::optional<RateSample> vmm_dirty;  // where the rings are watched
    std::optional<RateSample> written;    // where pages are hashed
    // The interval's figure: the one the choice names (a method measures at
    // least the figure it can choose).
    const RateSample& figure() const {
        return choice.figure == DirtyFigure::vmm_dirty || !written ? *vmm_dirty : *written;
    }
};

class MeasuredTarget {
public:
    static Result<std::unique_ptr<MeasuredTarget>> open(RateMethod method, const TargetProcess& target,
                                                        const RateMethodOptions& options);

    // The first interval starts now.
    Status start();
    // Ends the current interval. `each_written_word` gets the words the
    // written figure's tracker took (its sampled pages), or the kernel's when
    // nothing is hashed: the pages a working set is made of.
    Result<TargetInterval> sample(const RateMeter::TakenWords& each_working_set_word = {});

    // The setups: the kernel's (ring pushes) and the hashing one; at least one exists.
    RateSetup* kernel() { return kernel_ ? &*kernel_ : nullptr; }
    RateSetup* hashing() { return hashing_ ? &*hashing_ : nullptr; }
    const RateSetup* kernel() const { return kernel_ ? &*kernel_ : nullptr; }
    const RateSetup* hashing() const { return hashing_ ? &*hashing_ : nullptr; }
    // The setup whose tracker has the per-vCPU view and the working set:
    // hashing where it exists for the working set...
    RateSetup& working_set_setup() { return hashing_ ? *hashing_ : *kernel_; }
    // ...and the kernel's for per-vCPU rates (ring entries), else hashing's
    // (a process's threads' write faults).
    RateSetup& vcpu_setup() { return kernel_ ? *kernel_ : *hashing_; }
    const RateSetup& vcpu_setup() const { return kernel_ ? *kernel_ : *hashing_; }

    // For the header: "auto", "bpf", "sample", "sample-exact".
    const std::string& method() const { return method_; }
    // What is measured, and why, in a line each.
    const std::string& sources() const { return sources_; }
    const std::string& why() const { return why_; }
    // Where the logging state comes from, or why it cannot be read (a line, or "").
    const std::string& state_note() const { return state_note_; }
    // The state now, read for the header (and for --method bpf's warning).
    LoggingView read_logging() const;

private:
    MeasuredTarget() = default;
    MeasureMethod asked_ = MeasureMethod::automatic;
    bool has_vm_ = false;
    std::optional<RateSetup> kernel_, hashing_;
    std::optional<RateMeter> kernel_meter_, hashing_meter_;
    std::unique_ptr<KvmStateReader> state_;
    LoggingView last_logging_;  // at the end of the previous interval: the next one's start
    std::string method_, sources_, why_, state_note_;
};

}  // namespace dtrack::cli
