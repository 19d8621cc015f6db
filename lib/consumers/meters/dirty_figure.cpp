// The state-aware method's decision (dtrack/dirty_figure.hpp): the kernel's
// record (ring pushes, or the dirty bitmaps) while every writable memslot
// logs into the record dtrack watches, page hashing otherwise; what the user
// asked for is kept, and labelled when the VM's state makes it read low.
#include "dtrack/dirty_figure.hpp"

namespace dtrack {

const char* dirty_figure_name(DirtyFigure figure) { return figure == DirtyFigure::vmm_dirty ? "vmm-dirty" : "written"; }

const char* logging_evidence_name(LoggingEvidence evidence) {
    switch (evidence) {
        case LoggingEvidence::kernel: return "kernel";
        case LoggingEvidence::inferred: return "inferred";
        case LoggingEvidence::none: return "none";
    }
    return "?";
}

namespace {

const char* record_name(KernelView view) { return view == KernelView::ring ? "dirty rings" : "dirty bitmaps"; }

// Whether every page the guest dirties reaches the kernel record dtrack
// watches now, and if not, why not.
bool kernel_covers_the_guest(const FigureInputs& in, std::string& why) {
    if (in.evidence == LoggingEvidence::none) {
        why = "the process runs no KVM VM";
        return false;
    }
    if (in.evidence == LoggingEvidence::inferred) {
        if (in.kernel_pages > 0) {
            why = std::string("its ") + record_name(in.kernel_view) +
                  " gave pages (logging inferred: the kernel's state is not readable here)";
            return true;
        }
        why = std::string("nothing came from its ") + record_name(in.kernel_view) +
              ": the VM is not logging dirty pages, or its guest wrote nothing (inferred: the kernel's state is "
              "not readable here)";
        return false;
    }
    if (in.logging == DirtyLogging::off) {
        why =
            "the VM is not logging dirty pages now (a VMM logs only while it migrates or measures), so no kernel "
            "record follows its writes";
        return false;
    }
    if (in.logging_at_start != in.logging) {
        why = std::string("the VM's dirty logging changed during the interval (") +
              dirty_logging_name(in.logging_at_start) + " to " + dirty_logging_name(in.logging) +
              "), so the kernel's record covers only part of it";
        return false;
    }
    const KernelView logs_into = in.logging == DirtyLogging::ring ? KernelView::ring : KernelView::bitmap;
    if (in.kernel_view != logs_into) {
        why = std::string("the VM logs into ") + record_name(logs_into) + ", and dtrack watches " +
              (in.kernel_view == KernelView::none ? std::string("no kernel record of it")
                                                  : std::string("its ") + record_name(in.kernel_view));
        return false;
    }
    if (in.memslots_not_logging > 0) {
        why = std::to_string(in.memslots_not_logging) +
              " writable memslots of the VM do not log, so their writes "
              "are not recorded";
        return false;
    }
    why = std::string("the VM logs into its ") + record_name(in.kernel_view) + " (" +
          std::to_string(in.memslots_logging) + " memslots): every page it dirties is recorded";
    return true;
}

}  // namespace

FigureChoice choose_dirty_figure(const FigureInputs& in) {
    std::string state;
    const bool covered = kernel_covers_the_guest(in, state);
    switch (in.asked) {
        case MeasureMethod::sample: return {DirtyFigure::written, true, "asked for (--method sample)"};
        case MeasureMethod::kernel_events:
            if (in.kernel_view == KernelView::none)
                return {DirtyFigure::vmm_dirty, false, "no kernel view of this process's writes"};
            return {DirtyFigure::vmm_dirty, covered, (covered ? "" : "reads low: ") + state};
        case MeasureMethod::automatic: break;
    }
    if (covered) return {DirtyFigure::vmm_dirty, true, state};
    if (in.sampling) return {DirtyFigure::written, true, state + ": hashing pages"};
    return {DirtyFigure::vmm_dirty, false, "reads low: " + state};
}

}  // namespace dtrack
