// BpfBitmapSource: the dirty pages of a running VMM that logs with KVM's
// dirty bitmap (QEMU's default, Cloud Hypervisor, Firecracker), seen from the
// kernel through eBPF, without touching the VMM.
//
// No tracepoint fires per dirtied page for the bitmap, but every one becomes
// a bit of its memslot's dirty bitmap in the kernel, and leaves it only
// through the VMM's own harvest (KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG). So
// bpf/kvm_dirty_log.bpf.c reads the bitmap, never writes it: at each
// harvest() an iterator reads every logging memslot's bitmap, and before the
// kernel clears bits for the VMM (at its ioctls, on raw syscall
// tracepoints) the bits about to go are read too. A page counts once per
// time it becomes dirty for the VMM: the figure a dirty-ring VMM's pushes
// give (BpfSource), for the bitmap.
//
//   dtrack::Tracker tracker;
//   dtrack::add_slot_regions(tracker, 32, 1 << 21);
//   auto bitmap = dtrack::BpfBitmapSource::attach(pid, tracker);
//   tracker.add_source(std::move(bitmap.value()));
//   ... tracker.sync() ...
//
// What it reports, per harvest: pages newly dirty for the VMM since the last
// harvest (distinct), per memslot region; no per-vCPU view (the bitmap has
// none). While no memslot logs, the kernel keeps no bitmap and it reports
// nothing: KvmStateReader says when that is. When logging starts, the bitmap
// as found is the start (QEMU sets every bit): pages dirtied between the
// switch and the first reading are not counted as new.
//
// Needs kernel BTF (CO-RE, iterators), root or CAP_BPF+CAP_PERFMON, x86-64
// (the syscall hooks read its registers); refuses with the cause and the fix
// and loads nothing otherwise.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dtrack/export.hpp"
#include "dtrack/source.hpp"
#include "dtrack/tracker.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

// What the source has seen. Counters only grow.
struct BpfBitmapCounters {
    uint64_t readings = 0;         // iterator passes over the kernel's bitmaps
    uint64_t vmm_harvests = 0;     // the VMM's KVM_GET_DIRTY_LOG / KVM_CLEAR_DIRTY_LOG calls
    uint64_t pages_read = 0;       // pages found newly dirty by a reading
    uint64_t pages_harvested = 0;  // pages found newly dirty in a VMM's harvest
    uint64_t logging_starts = 0;   // memslot bitmaps that appeared, taken as the start
    uint64_t clean_clears = 0;     // bits the VMM cleared of pages not dirty in the kernel
    uint64_t untracked_pages = 0;  // dirty pages of memslots (or beyond capacities) the tracker has no room for
    uint64_t unreadable = 0;       // kernel or VMM words that could not be read
};

class BpfBitmapSource : public Source {
public:
    // Loads and attaches for process `pid`. `tracker` must hold a
    // guest_physical Region per memslot id to track (address space 0;
    // add_slot_regions() when the memslots are unknown).
    static Result<std::unique_ptr<BpfBitmapSource>> attach(pid_t pid, Tracker& tracker);
    ~BpfBitmapSource() override;

    std::string name() const override { return "bpf-bitmap"; }
    Result<HarvestReport> harvest(Tracker& tracker) override;

    pid_t pid() const { return pid_; }
    BpfBitmapCounters counters() const;

private:
    struct Program;
    struct TrackedSlot {
        RegionId region;
        uint32_t slot;
        uint64_t words;
    };
    BpfBitmapSource(pid_t pid, std::unique_ptr<Program> program, std::vector<TrackedSlot> slots);
    // One reading of the kernel's bitmaps (the iterator).
    Status read_bitmaps();

    pid_t pid_;
    std::unique_ptr<Program> program_;
    std::vector<TrackedSlot> slots_;
    uint64_t last_untracked_ = 0;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
