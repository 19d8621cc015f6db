// KvmLogSource: harvests KVM's per-memslot dirty bitmaps (KVM_GET_DIRTY_LOG).
//
// With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (MANUAL_PROTECT | INITIALLY_SET),
// KVM_GET_DIRTY_LOG only reads; the pages are write-protected again by
// KVM_CLEAR_DIRTY_LOG, which this source issues lazily, in 64-page-aligned
// chunks, just before a consumer takes them (prepare_take). Between a harvest
// and the take the guest can keep writing to those pages at full speed, and
// the consumer still reads contents written after the re-protection.
// Without the capability, plain KVM_GET_DIRTY_LOG reads and re-protects in one
// call.
//
// Every memslot region of the tracker must have been created with
// KVM_MEM_LOG_DIRTY_PAGES.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "dtrack/source.hpp"
#include "dtrack/tracker.hpp"

namespace dtrack {

struct KvmLogOptions {
    bool manual_protect = true;  // use MANUAL_PROTECT2 when the kernel has it
};

class KvmLogSource : public Source {
public:
    // Enables manual protection on `vm_fd` (before any memslot has dirty
    // logging on); `tracker` holds a region per memslot.
    static Result<std::unique_ptr<KvmLogSource>> enable(int vm_fd, Tracker& tracker, KvmLogOptions options = {});

    std::string name() const override { return "kvm-log"; }
    Result<HarvestReport> harvest(Tracker& tracker) override;
    Status prepare_take(RegionId region, uint64_t first_page, uint64_t count) override;

    bool manual_protect() const { return manual_protect_; }
    uint64_t clear_calls() const;

private:
    struct Slot {
        RegionId region;
        uint32_t slot;
        uint64_t pages;                  // the memslot's page count
        std::vector<uint64_t> kernel;    // the last KVM_GET_DIRTY_LOG
        std::vector<uint64_t> reported;  // harvested, not yet cleared in the kernel
    };
    KvmLogSource(int vm_fd, Tracker& tracker, bool manual_protect);

    int vm_fd_;
    bool manual_protect_;
    mutable std::mutex mutex_;
    std::vector<Slot> slots_;
    uint64_t clear_calls_ = 0;
    std::chrono::nanoseconds clear_cost_{0};  // KVM_CLEAR_DIRTY_LOG time not yet reported
};

}  // namespace dtrack
