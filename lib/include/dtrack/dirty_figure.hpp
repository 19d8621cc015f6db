// Which dirty figure tells the truth about a running VM now, and why: the
// decision of the state-aware method, apart from anything that measures
// (dtrack rate and the sidecar feed it every interval).
//
// Two figures, never mixed under one name:
//   vmm_dirty  pages the kernel marked dirty for the VMM since the VMM last
//              write-protected them (ring pushes, or new bits of the dirty
//              bitmaps): what its migration must send again. Exact, but only while the VM logs dirty pages:
//              QEMU logs only while it migrates or runs calc-dirty-rate, and
//              the rest of the time the kernel records no write at all, so
//              the figure would read 0 although the guest writes.
//   written    distinct pages written during dtrack's interval, by hashing
//              pages of the process: a sample (an estimate with its bound),
//              or every page (exact up to writes that restore the contents).
// They differ when the VMM re-protects less often than dtrack's interval: a
// page written in each of 8 intervals between two of the VMM's syncs is 1
// vmm_dirty page and 8 written ones.
#pragma once

#include <cstdint>
#include <string>

#include "dtrack/export.hpp"
#include "dtrack/kvm_vm_state.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

enum class DirtyFigure : uint8_t { vmm_dirty, written };
const char* dirty_figure_name(DirtyFigure figure);  // "vmm-dirty" | "written"

// What the user asked for: the kernel's events, page hashing, or the best
// figure for the VM's state, interval by interval.
enum class MeasureMethod : uint8_t { automatic, kernel_events, sample };

// Where the VM's logging state came from.
enum class LoggingEvidence : uint8_t {
    kernel,    // read from struct kvm (KvmStateReader)
    inferred,  // no reader here: a ring VM whose rings got pushes is logging
    none,      // the process runs no KVM VM
};
const char* logging_evidence_name(LoggingEvidence evidence);  // "kernel" | "inferred" | "none"

// Which kernel record of the VM's dirty pages dtrack watches.
enum class KernelView : uint8_t {
    none,
    ring,    // the dirty rings' pushes (BpfSource)
    bitmap,  // the dirty bitmaps' new bits (BpfBitmapSource)
};

struct FigureInputs {
    MeasureMethod asked = MeasureMethod::automatic;
    KernelView kernel_view = KernelView::none;  // what is attached
    bool sampling = false;                      // a page-hashing source is attached
    LoggingEvidence evidence = LoggingEvidence::none;
    DirtyLogging logging = DirtyLogging::off;  // at the interval's end
    // At its start: a record that began or ended within the interval covers
    // only part of it.
    DirtyLogging logging_at_start = DirtyLogging::off;
    uint32_t memslots_logging = 0;
    uint32_t memslots_not_logging = 0;  // writable memslots that do not log (their writes are not recorded)
    uint64_t kernel_pages = 0;          // pages the kernel view reported this interval (the evidence when inferred)
};

struct FigureChoice {
    DirtyFigure figure = DirtyFigure::written;
    // The figure means what it says: false for vmm_dirty while the VM does
    // not log, or may not (then it reads low, never high).
    bool trusted = true;
    std::string why;  // one line, for the interval's label
};

FigureChoice choose_dirty_figure(const FigureInputs& in);

}  // namespace dtrack

DTRACK_PUBLIC_END
