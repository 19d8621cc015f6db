// The reader gathers ring entries by memslot and 64-page word before it marks
// them (sources/staged_pages.hpp): whatever word, slot or ring an entry
// shares with its neighbours, its page reaches the bitmap, once, and is
// counted once for its vCPU and its region.
#include <gtest/gtest.h>

#include <set>
#include <utility>

#include "support/model_vm.hpp"

namespace ring_model {
namespace {

constexpr uint32_t ring_entries = 256;

TEST(RingBatching, EveryEntryIsMarkedAndCountedOnceAcrossWordSlotAndRingBoundaries) {
    // Slot 4's last word is partial (100 pages); the tracker's regions are in
    // another order than the memslot ids.
    const std::vector<ModelSlot> slots = {{.id = 4, .pages = 100}, {.id = 1, .pages = 640}};
    ModelVm vm(slots, 2, ring_entries);
    std::set<std::pair<size_t, uint64_t>> written;  // (slot index, page)
    auto write = [&](uint32_t vcpu, size_t slot_index, uint64_t first, uint64_t count) {
        for (uint64_t p = first; p < first + count; ++p) {
            vm.write(vcpu, slot_index, p);
            written.insert({slot_index, p});
        }
    };
    write(0, 0, 60, 10);  // a run across the word boundary at page 64
    write(0, 1, 62, 3);   // the same word indices, another slot
    write(0, 0, 70, 2);   // back to slot 4's second word, after the switch
    write(0, 0, 99, 1);   // its last page, in the partial word
    write(0, 0, 3, 1);    // its first word again, not next to the run
    write(1, 0, 72, 8);   // another ring continues vCPU 0's run in the same word
    write(1, 1, 639, 1);  // slot 1's last page
    write(1, 1, 0, 1);    // its first page
    write(1, 1, 200, 1);  // a later word of the same slot, not the next one

    const EpochCheck c = vm.end_epoch();
    ASSERT_TRUE(c.harvested);
    EXPECT_EQ(c.lost, 0u) << "page " << c.first_lost_page << " of slot " << c.first_lost_slot;
    EXPECT_EQ(c.taken, written.size()) << "exactly the written pages: no neighbour marked with them";
    EXPECT_EQ(c.report.pages, written.size());
    EXPECT_EQ(c.report.new_dirty, written.size());
    EXPECT_EQ(c.report.lost, 0u);
    EXPECT_EQ(c.report.pages_per_vcpu, (std::vector<uint64_t>{10 + 3 + 2 + 1 + 1, 8 + 1 + 1 + 1}));
    EXPECT_EQ(c.report.pages_per_region, (std::vector<uint64_t>{10 + 2 + 1 + 1 + 8, 3 + 1 + 1 + 1}));
}

TEST(RingBatching, APageAlreadyDirtyInTheBitmapIsCountedAsAPageButNotAsNewlyDirty) {
    ModelVm vm({{.id = 0, .pages = 256}}, 1, ring_entries);
    vm.tracker.bitmap(0).mark(65);  // dirty from an earlier harvest, not taken yet
    for (uint64_t p = 64; p < 68; ++p) vm.kernel.write(0, 0, p);
    auto r = vm.reader->harvest();
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->pages, 4u);
    EXPECT_EQ(r->new_dirty, 3u);
    EXPECT_EQ(vm.tracker.bitmap(0).count(), 4u);
}

}  // namespace
}  // namespace ring_model
