// KernelRingModel: a model of the kernel's producer side of KVM's dirty rings,
// for testing DirtyRingReader (the ring protocol) on machines without
// /dev/kvm. It is a test double for the ring protocol only, not a replacement
// for the real-KVM tests, which stay in tests/vm and tests/kvm and run where /dev/kvm
// exists.
//
// Written from Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING,
// KVM_RESET_DIRTY_RINGS) and virt/kvm/dirty_ring.c of Linux 6.18:
//   - every page starts write-protected; a write to a protected page makes it
//     writable and pushes {slot, offset} onto the writing vCPU's ring (flags
//     DIRTY stored last, with release); a write to a writable page pushes
//     nothing (so a page left writable by mistake shows as a lost page);
//   - a ring is soft-full at entries - 64 (KVM_DIRTY_RING_RSVD_ENTRIES): the
//     vCPU may not run, write() answers like a KVM_EXIT_DIRTY_RING_FULL;
//   - the reset walks each ring from its reset index while the entries are
//     flagged RESET, clears them, and write-protects their pages again,
//     coalescing offsets of one slot within 64 pages into one mask that it
//     re-protects when the mask flushes;
//   - a reset can be cut short between entries, as 6.18 does when a signal is
//     pending: it returns the count so far, and the mask not yet flushed
//     leaves its pages writable (also right after the last entry);
//   - under the instruction emulator a vCPU pushes past the soft limit and
//     past the ring's end, overwriting entries not yet harvested (a jam).
#pragma once

#include <linux/kvm.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "sources/dirty_ring_kernel.hpp"

namespace ring_model {

constexpr uint32_t reserved_entries = 64;  // KVM_DIRTY_RING_RSVD_ENTRIES

struct ModelSlot {
    uint32_t id;  // memslot id, as in kvm_dirty_gfn::slot
    uint64_t pages;
};

enum class WriteOutcome {
    pushed,     // the page was write-protected: an entry names it now
    unseen,     // the page was writable: nothing pushed
    ring_full,  // the vCPU's ring is soft-full: it exited before the write (KVM_EXIT_DIRTY_RING_FULL)
};

class KernelRingModel final : public dtrack::DirtyRingKernel {
public:
    KernelRingModel(std::vector<ModelSlot> slots, uint32_t vcpus, uint32_t entries);

    dtrack::DirtyRingMemory ring(uint32_t vcpu);
    uint32_t soft_limit() const { return entries_ - reserved_entries; }

    // A guest write by `vcpu` to page `offset` of memslot `slot`.
    WriteOutcome write(uint32_t vcpu, uint32_t slot, uint64_t offset);
    // The same under KVM's instruction emulator: no soft limit, and past the
    // ring's end it overwrites the oldest entries.
    WriteOutcome emulated_write(uint32_t vcpu, uint32_t slot, uint64_t offset);

    // KVM_RESET_DIRTY_RINGS, every ring in vCPU order.
    dtrack::Result<dtrack::RingResetResult> reset() override;  // never fails
    // The next reset stops once it has reset `entries` entries, checked
    // before each entry as 6.18 checks for a pending signal.
    void cut_next_reset_after(uint64_t entries);

    // KVM_MEM_LOG_DIRTY_PAGES off and on for every slot: all pages
    // write-protected again (what a VMM's re-arm does).
    void protect_all();

    bool writable(uint32_t slot, uint64_t offset) const;
    uint64_t writable_pages() const;
    uint64_t overwritten() const;  // entries overwritten before they were reset (jams)
    uint64_t cut_resets() const;   // resets cut short

private:
    struct Ring {
        std::unique_ptr<kvm_dirty_gfn[]> gfns;
        uint32_t dirty_index = 0;  // next entry to push (free-running)
        uint32_t reset_index = 0;  // next entry to reset (free-running)
    };
    WriteOutcome write_locked(uint32_t vcpu, uint32_t slot, uint64_t offset, bool emulated);
    // 1 = writable, by offset; null for an unknown slot.
    const std::vector<uint8_t>* slot_pages(uint32_t slot) const;
    std::vector<uint8_t>* slot_pages(uint32_t slot);
    void protect_mask(uint32_t slot, uint64_t offset, uint64_t mask);

    const uint32_t entries_;
    mutable std::mutex mutex_;  // page state and indices: vCPU writes against resets
    std::vector<ModelSlot> slots_;
    std::vector<std::vector<uint8_t>> writable_;  // by slot index
    std::vector<Ring> rings_;
    std::optional<uint64_t> cut_after_;
    uint64_t overwritten_ = 0, cut_resets_ = 0;
};

// --- the model, inline so the benchmarks can use it too ---------------------

namespace detail {

inline uint32_t load_flags(const kvm_dirty_gfn& g) { return __atomic_load_n(&g.flags, __ATOMIC_ACQUIRE); }
inline void store_flags(kvm_dirty_gfn& g, uint32_t f) { __atomic_store_n(&g.flags, f, __ATOMIC_RELEASE); }

}  // namespace detail

inline KernelRingModel::KernelRingModel(std::vector<ModelSlot> slots, uint32_t vcpus, uint32_t entries)
    : entries_(entries), slots_(std::move(slots)) {
    for (const ModelSlot& s : slots_) writable_.emplace_back(s.pages, 0);  // logging on: all protected
    rings_.resize(vcpus);
    for (Ring& r : rings_) r.gfns = std::make_unique<kvm_dirty_gfn[]>(entries);  // zeroed: no flags
}

inline dtrack::DirtyRingMemory KernelRingModel::ring(uint32_t vcpu) {
    return {.vcpu = vcpu, .gfns = rings_.at(vcpu).gfns.get(), .entries = entries_};
}

inline const std::vector<uint8_t>* KernelRingModel::slot_pages(uint32_t slot) const {
    for (size_t i = 0; i < slots_.size(); ++i)
        if (slots_[i].id == slot) return &writable_[i];
    return nullptr;
}

inline std::vector<uint8_t>* KernelRingModel::slot_pages(uint32_t slot) {
    return const_cast<std::vector<uint8_t>*>(std::as_const(*this).slot_pages(slot));
}

inline WriteOutcome KernelRingModel::write(uint32_t vcpu, uint32_t slot, uint64_t offset) {
    std::lock_guard lock(mutex_);
    return write_locked(vcpu, slot, offset, false);
}

inline WriteOutcome KernelRingModel::emulated_write(uint32_t vcpu, uint32_t slot, uint64_t offset) {
    std::lock_guard lock(mutex_);
    return write_locked(vcpu, slot, offset, true);
}

inline WriteOutcome KernelRingModel::write_locked(uint32_t vcpu, uint32_t slot, uint64_t offset, bool emulated) {
    Ring& r = rings_.at(vcpu);
    const uint32_t used = r.dirty_index - r.reset_index;
    // KVM checks the soft limit before it enters the guest; the emulator runs
    // on without looking.
    if (!emulated && used >= soft_limit()) return WriteOutcome::ring_full;
    std::vector<uint8_t>& pages = *slot_pages(slot);
    if (pages.at(offset)) return WriteOutcome::unseen;
    pages[offset] = 1;  // the write fault makes the page writable and logs it
    if (used >= entries_) ++overwritten_;
    kvm_dirty_gfn& g = r.gfns[r.dirty_index & (entries_ - 1)];
    g.slot = slot;
    g.offset = offset;
    detail::store_flags(g, KVM_DIRTY_GFN_F_DIRTY);  // slot and offset visible first
    ++r.dirty_index;
    return WriteOutcome::pushed;
}

inline void KernelRingModel::protect_mask(uint32_t slot, uint64_t offset, uint64_t mask) {
    std::vector<uint8_t>* pages = slot_pages(slot);
    // Like the kernel: a mask that reaches past the slot's end is ignored whole.
    if (!pages || offset + (63 - std::countl_zero(mask)) >= pages->size()) return;
    for (uint64_t m = mask; m; m &= m - 1) (*pages)[offset + std::countr_zero(m)] = 0;
}

inline dtrack::Result<dtrack::RingResetResult> KernelRingModel::reset() {
    std::lock_guard lock(mutex_);
    uint64_t count = 0;  // one count for all rings, as in the ioctl
    for (Ring& r : rings_) {
        uint32_t slot = 0;
        uint64_t offset = 0, mask = 0;  // the batch not yet re-protected
        while (true) {
            if (cut_after_ && count >= *cut_after_) {
                // The bail-out on a pending signal: return at once; the batch
                // in `mask` was cleared from the ring but stays writable.
                cut_after_.reset();
                ++cut_resets_;
                // What stops the walk is a signal that stops the thread (the
                // catchable ones are held back): the real side sees the stop.
                return dtrack::RingResetResult{.count = count, .stopped = true};
            }
            kvm_dirty_gfn& g = r.gfns[r.reset_index & (entries_ - 1)];
            if (!(detail::load_flags(g) & KVM_DIRTY_GFN_F_RESET)) break;
            const uint32_t next_slot = g.slot;
            const uint64_t next_offset = g.offset;
            detail::store_flags(g, 0);
            ++r.reset_index;
            ++count;
            if (mask && next_slot == slot) {
                // Coalesce: the next page lies within 64 pages of the batch.
                const int64_t delta = int64_t(next_offset - offset);
                if (delta >= 0 && delta < 64) {
                    mask |= uint64_t(1) << delta;
                    continue;
                }
                if (delta < 0 && delta > -64 && std::countl_zero(mask) >= -delta) {
                    offset = next_offset;
                    mask = (mask << -delta) | 1;
                    continue;
                }
            }
            if (mask) protect_mask(slot, offset, mask);
            slot = next_slot;
            offset = next_offset;
            mask = 1;
        }
        if (mask) protect_mask(slot, offset, mask);
    }
    return dtrack::RingResetResult{.count = count};
}

inline void KernelRingModel::cut_next_reset_after(uint64_t entries) {
    std::lock_guard lock(mutex_);
    cut_after_ = entries;
}

inline void KernelRingModel::protect_all() {
    std::lock_guard lock(mutex_);
    for (auto& pages : writable_) std::fill(pages.begin(), pages.end(), 0);
}

inline bool KernelRingModel::writable(uint32_t slot, uint64_t offset) const {
    std::lock_guard lock(mutex_);
    return slot_pages(slot)->at(offset);
}

inline uint64_t KernelRingModel::writable_pages() const {
    std::lock_guard lock(mutex_);
    uint64_t n = 0;
    for (const auto& pages : writable_)
        for (uint8_t w : pages) n += w;
    return n;
}

inline uint64_t KernelRingModel::overwritten() const {
    std::lock_guard lock(mutex_);
    return overwritten_;
}

inline uint64_t KernelRingModel::cut_resets() const {
    std::lock_guard lock(mutex_);
    return cut_resets_;
}

}  // namespace ring_model
