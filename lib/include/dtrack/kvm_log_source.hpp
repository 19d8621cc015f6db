// KvmLogSource: harvests KVM's per-memslot dirty bitmaps (KVM_GET_DIRTY_LOG).
//
// With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (MANUAL_PROTECT | INITIALLY_SET),
// KVM_GET_DIRTY_LOG only reads; the pages are write-protected again by
// KVM_CLEAR_DIRTY_LOG, which this source issues lazily, in 64-page-aligned
// chunks, just before a consumer takes them (prepare_take). Between a harvest
// and the take the guest can keep writing to those pages at full speed, and
// the consumer still reads contents written after the re-protection.
// Without the capability, plain KVM_GET_DIRTY_LOG reads and re-protects in one
// call. A take that keeps pages dirty (Tracker::take_keeping, hot-page
// deferral) leaves them out of KVM_CLEAR_DIRTY_LOG: they stay writable, so
// the guest's later writes to them take no fault, until the take that reads
// them clears them first. Without manual protection they were re-protected at
// the harvest already.
//
// Every memslot region of the tracker must have been created with
// KVM_MEM_LOG_DIRTY_PAGES, and must have the memslot's page count: the kernel
// copies the memslot's whole bitmap. A memslot larger than its Region makes
// the harvest fail (EFAULT, with the fix named; the Region is marked wholly
// dirty) instead of letting the kernel write past the buffer.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "dtrack/source.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

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
    // Kept pages are not cleared: they stay writable and reported (hot-page deferral).
    Status prepare_take_keeping(RegionId region, uint64_t first_page, uint64_t count,
                                std::span<const uint64_t> keep) override;

    bool manual_protect() const { return manual_protect_; }
    uint64_t clear_calls() const;

private:
    // Words for the kernel to write into, placed to end where a page that
    // cannot be written begins: a copy longer than the buffer faults (EFAULT)
    // instead of overwriting the heap.
    class GuardedWords {
    public:
        static Result<GuardedWords> map(size_t words);
        GuardedWords(GuardedWords&& other) noexcept;
        GuardedWords& operator=(GuardedWords&&) = delete;
        ~GuardedWords();
        std::span<uint64_t> words() const { return {first_, count_}; }

    private:
        GuardedWords(void* base, size_t bytes, uint64_t* first, size_t count)
            : base_(base), bytes_(bytes), first_(first), count_(count) {}
        void* base_;
        size_t bytes_;  // mapped, the guard page included
        uint64_t* first_;
        size_t count_;
    };
    struct Slot {
        RegionId region;
        uint32_t slot;
        uint64_t pages;                  // the Region's page count, which must be the memslot's
        GuardedWords kernel;             // the last KVM_GET_DIRTY_LOG
        std::vector<uint64_t> reported;  // harvested, not yet cleared in the kernel
        std::vector<uint64_t> clearing;  // the words of one KVM_CLEAR_DIRTY_LOG call
    };
    KvmLogSource(int vm_fd, bool manual_protect) : vm_fd_(vm_fd), manual_protect_(manual_protect) {}

    int vm_fd_;
    bool manual_protect_;
    mutable std::mutex mutex_;
    std::vector<Slot> slots_;
    uint64_t clear_calls_ = 0;
    std::chrono::nanoseconds clear_cost_{0};  // KVM_CLEAR_DIRTY_LOG time not yet reported
};

}  // namespace dtrack

DTRACK_PUBLIC_END
