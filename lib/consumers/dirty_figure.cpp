// The state-aware method's decision (dtrack/dirty_figure.hpp): the kernel's
// ring pushes while every writable memslot logs into the rings, page hashing
// otherwise; what the user asked for is kept, and labelled when the VM's
// state makes it read low.
#include "dtrack/dirty_figure.hpp"

namespace dtrack {

const char* dirty_figure_name(DirtyFigure figure) {
    return figure == DirtyFigure::vmm_dirty ? "vmm-dirty" : "written";
}

const char* logging_evidence_name(LoggingEvidence evidence) {
    switch (evidence) {
        case LoggingEvidence::kernel: return "kernel";
        case LoggingEvidence::inferred: return "inferred";
        case LoggingEvidence::none: return "none";
    }
    return "?";
}

namespace {

// Whether every page the guest dirties is pushed into a ring now, and if not, why not.
bool rings_cover_the_guest(const FigureInputs& in, std::string& why) {
    if (in.evidence == LoggingEvidence::none) {
        why = "the process runs no KVM VM";
        return false;
    }
    if (in.evidence == LoggingEvidence::inferred) {
        if (in.ring_pushes > 0) {
            why = "its dirty rings received pushes (logging inferred: the kernel's state is not readable here)";
            return true;
        }
        why = "no ring push arrived: the VM is not logging dirty pages, or its guest wrote nothing (inferred: "
              "the kernel's state is not readable here)";
        return false;
    }
    switch (in.logging) {
        case DirtyLogging::off:
            why = "the VM is not logging dirty pages now (a VMM logs only while it migrates or measures), so no "
                  "kernel event follows its writes";
            return false;
        case DirtyLogging::bitmap:
            why = "the VM logs into dirty bitmaps, which dtrack has no kernel view of";
            return false;
        case DirtyLogging::ring:
            break;
    }
    if (in.memslots_not_logging > 0) {
        why = std::to_string(in.memslots_not_logging) + " writable memslots of the VM do not log, so their writes are "
              "not pushed";
        return false;
    }
    why = "the VM logs into its dirty rings (" + std::to_string(in.memslots_logging) +
          " memslots): every page it dirties is pushed";
    return true;
}

}  // namespace

FigureChoice choose_dirty_figure(const FigureInputs& in) {
    std::string state;
    const bool covered = in.ring_events && rings_cover_the_guest(in, state);
    switch (in.asked) {
        case MeasureMethod::sample:
            return {DirtyFigure::written, true, "asked for (--method sample)"};
        case MeasureMethod::kernel_events:
            if (!in.ring_events) return {DirtyFigure::vmm_dirty, false, "no kernel view of this process's writes"};
            return {DirtyFigure::vmm_dirty, covered, (covered ? "" : "reads low: ") + state};
        case MeasureMethod::automatic:
            break;
    }
    if (covered) return {DirtyFigure::vmm_dirty, true, state};
    if (!in.ring_events) {
        // Why the kernel's view is missing, without a ring source to ask.
        if (in.evidence == LoggingEvidence::kernel && in.logging == DirtyLogging::ring)
            state = "the VM logs into its dirty rings, but no BPF program watches them";
        else
            rings_cover_the_guest(in, state);
    }
    if (in.sampling) return {DirtyFigure::written, true, state + ": hashing pages"};
    return {DirtyFigure::vmm_dirty, false, "reads low: " + state};
}

}  // namespace dtrack
