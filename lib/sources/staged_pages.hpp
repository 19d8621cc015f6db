// StagedPages: pages read off KVM's dirty rings that wait for the rings'
// reset before they may reach the bitmaps (invariant 2), gathered by region
// and 64-page word, so that publishing them costs one atomic OR per word
// instead of one per page.
//
// A Gatherer reads one ring's entries in order: entries that fall in the
// same word of the same memslot, one after the other (a guest writing
// neighbouring pages), add a bit to the word being gathered; any other entry
// closes that word and opens the next. The memslot of the last entry is kept,
// so a run of entries from one slot costs no lookup.
//
// Entries that fit no region (an unknown memslot, an offset past its end)
// are counted, not staged; the reader covers them by marking everything.
//
// Not thread-safe: DirtyRingReader holds its lock around every use.
#pragma once

#include <cstdint>
#include <vector>

#include "dtrack/dirty_bitmap.hpp"
#include "dtrack/source.hpp"
#include "dtrack/tracker.hpp"

namespace dtrack {

class StagedPages {
public:
    // The guest-physical regions of `tracker`, found by their memslot (the
    // last one added wins a memslot two claim). Later regions are not seen.
    explicit StagedPages(Tracker& tracker);

    class Gatherer;
    // Gathers up to `max_entries` entries of the ring of `vcpu`, until
    // Gatherer::finish().
    Gatherer gather(uint32_t vcpu, uint32_t max_entries);

    // Marks every staged page in its bitmap and adds the counts to `report`
    // (pages, new_dirty, per vCPU, per region, and each entry that fit no
    // region as lost). Returns whether there was such an entry: then the
    // caller must cover it. Leaves nothing staged.
    bool publish(HarvestReport& report);

    // The bitmap of every region the rings can name, by RegionId; null for
    // the others.
    const std::vector<DirtyBitmap*>& bitmaps() const { return bitmaps_; }

private:
    static constexpr RegionId no_region = ~0u;
    static constexpr uint64_t no_word = ~0ULL;

    // Where the pages of one staged word go; its bits are in word_bits_.
    struct WordPlace {
        uint64_t index;  // word of the region's bitmap
        RegionId region;
        uint32_t entries;  // ring entries that named its pages (a page may come twice)
    };
    // Where a memslot's entries go.
    struct Slot {
        RegionId region = no_region;
        uint64_t pages = 0;  // 0 for a memslot no region holds: every offset is past the end
    };
    // Ring entries of one vCPU that fit a region.
    struct VcpuEntries {
        uint32_t vcpu;
        uint64_t entries;
    };

    std::vector<Slot> slots_;            // by memslot id
    std::vector<DirtyBitmap*> bitmaps_;  // by RegionId
    // Staged words [0, words_), in the order the rings named them. Apart, so
    // that neighbouring words are one span for DirtyBitmap::or_words; sized
    // ahead by gather(), so that staging a word checks no capacity.
    std::vector<WordPlace> word_places_;
    std::vector<uint64_t> word_bits_;
    size_t words_ = 0;
    std::vector<VcpuEntries> vcpu_entries_;
    std::vector<uint64_t> region_entries_;  // publish()'s scratch, by RegionId
    uint64_t unplaceable_ = 0;
};

// Meant to be inlined whole into the reader's loop over a ring, so that the
// word being gathered lives in registers.
class StagedPages::Gatherer {
public:
    [[gnu::always_inline]] void add(uint32_t slot, uint64_t offset) {
        const uint64_t index = offset / DirtyBitmap::bits_per_word;
        if (slot != slot_id_ || index != place_.index) [[unlikely]] {
            if (!open_word(slot, offset)) return;
        }
        bits_ |= 1ULL << (offset % DirtyBitmap::bits_per_word);
        ++place_.entries;
    }

    // Stages the last word and the vCPU's count.
    void finish() {
        close_word();
        staged_.words_ = next_place_ - staged_.word_places_.data();
        staged_.unplaceable_ += unplaceable_;
        if (entries_) staged_.vcpu_entries_.push_back({vcpu_, entries_});
    }

private:
    friend class StagedPages;
    Gatherer(StagedPages& staged, uint32_t vcpu)
        : staged_(staged),
          slots_(staged.slots_.data()),
          slot_count_(staged.slots_.size()),
          next_place_(staged.word_places_.data() + staged.words_),
          next_bits_(staged.word_bits_.data() + staged.words_),
          vcpu_(vcpu) {}

    // Closes the word being gathered and opens the one of `offset`; false
    // when the entry fits no region (counted, not staged).
    [[gnu::always_inline]] bool open_word(uint32_t slot, uint64_t offset) {
        close_word();
        if (slot != slot_id_) {
            slot_id_ = slot;
            slot_ = slot < slot_count_ ? slots_[slot] : Slot{};
        }
        if (offset >= slot_.pages) [[unlikely]] {
            ++unplaceable_;
            place_.index = no_word;
            return false;
        }
        place_ = {.index = offset / DirtyBitmap::bits_per_word, .region = slot_.region, .entries = 0};
        bits_ = 0;
        return true;
    }
    [[gnu::always_inline]] void close_word() {
        if (!place_.entries) return;
        entries_ += place_.entries;
        *next_place_++ = place_;
        *next_bits_++ = bits_;
        place_.entries = 0;
    }

    StagedPages& staged_;
    const Slot* slots_;
    size_t slot_count_;
    WordPlace* next_place_;  // where the next closed word goes
    uint64_t* next_bits_;
    uint32_t vcpu_;
    uint32_t slot_id_ = ~0u;  // the memslot of the last entry; no valid id is ~0u
    Slot slot_;
    WordPlace place_{.index = no_word, .region = no_region, .entries = 0};
    uint64_t bits_ = 0;
    uint64_t entries_ = 0;  // staged in closed words
    uint64_t unplaceable_ = 0;
};

}  // namespace dtrack
