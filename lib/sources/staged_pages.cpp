#include "sources/staged_pages.hpp"

#include <bit>
#include <span>
#include <utility>

namespace dtrack {

StagedPages::StagedPages(Tracker& tracker) : bitmaps_(tracker.region_count(), nullptr) {
    for (RegionId id = 0; id < tracker.region_count(); ++id) {
        const Region& r = tracker.region(id);
        if (r.space != AddressSpace::guest_physical) continue;
        if (slots_.size() <= r.slot) slots_.resize(r.slot + 1);
        slots_[r.slot] = {.region = id, .pages = r.page_count};
    }
    for (const Slot& s : slots_)
        if (s.region != no_region) bitmaps_[s.region] = &tracker.bitmap(s.region);
    region_entries_.resize(bitmaps_.size());
}

StagedPages::Gatherer StagedPages::gather(uint32_t vcpu, uint32_t max_entries) {
    // Each entry closes at most one word.
    if (const size_t need = words_ + max_entries + 1; word_places_.size() < need) {
        word_places_.resize(need);
        word_bits_.resize(need);
    }
    return Gatherer(*this, vcpu);
}

bool StagedPages::publish(HarvestReport& report) {
    const WordPlace* const places = word_places_.data();
    const uint64_t* const bits = word_bits_.data();
    uint64_t fresh = 0;
    for (size_t i = 0, end; i < words_; i = end) {
        // Neighbouring words of one region (a burst of writes across a word
        // boundary) are one call.
        const WordPlace& first = places[i];
        uint64_t entries = first.entries;
        for (end = i + 1;
             end < words_ && places[end].region == first.region && places[end].index == places[end - 1].index + 1;
             ++end)
            entries += places[end].entries;
        DirtyBitmap& bitmap = *bitmaps_[first.region];
        // A lone page (the usual shape of a random write): mark() is the same
        // one atomic OR, without or_words' loop and bit count. (Not
        // has_single_bit: without -mpopcnt that is a library call.)
        if (end == i + 1 && (bits[i] & (bits[i] - 1)) == 0)
            fresh += bitmap.mark(first.index * DirtyBitmap::bits_per_word + std::countr_zero(bits[i]));
        else fresh += bitmap.or_words(first.index, std::span(bits + i, end - i));
        region_entries_[first.region] += entries;
    }
    words_ = 0;
    report.new_dirty += fresh;
    for (RegionId id = 0; id < region_entries_.size(); ++id) {
        if (!region_entries_[id]) continue;
        report.pages += region_entries_[id];
        report.add_region(id, std::exchange(region_entries_[id], 0));
    }
    for (const VcpuEntries& v : vcpu_entries_) report.add_vcpu(v.vcpu, v.entries);
    vcpu_entries_.clear();
    report.lost += unplaceable_;
    return std::exchange(unplaceable_, 0) != 0;
}

}  // namespace dtrack
