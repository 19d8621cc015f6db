// The model itself, against what api.rst and dirty_ring.c say the kernel
// does: a test double is only as good as its likeness.
#include <gtest/gtest.h>

#include "support/kernel_ring_model.hpp"

namespace ring_model {
namespace {

uint32_t flags(const dtrack::DirtyRingMemory& r, uint32_t i) { return r.gfns[i & (r.entries - 1)].flags; }

TEST(RingModelKernel, PushesOnlyForProtectedPagesAndIsSoftFullAtSizeMinus64) {
    KernelRingModel k({{.id = 3, .pages = 1024}}, 1, 256);
    const dtrack::DirtyRingMemory r = k.ring(0);
    EXPECT_EQ(k.write(0, 3, 7), WriteOutcome::pushed);
    EXPECT_EQ(r.gfns[0].slot, 3u);
    EXPECT_EQ(r.gfns[0].offset, 7u);
    EXPECT_EQ(flags(r, 0), uint32_t(KVM_DIRTY_GFN_F_DIRTY));
    EXPECT_EQ(k.write(0, 3, 7), WriteOutcome::unseen) << "a writable page pushes nothing";
    EXPECT_TRUE(k.writable(3, 7));
    for (uint64_t p = 8; p < 8 + 191; ++p) ASSERT_EQ(k.write(0, 3, p), WriteOutcome::pushed);
    EXPECT_EQ(k.write(0, 3, 500), WriteOutcome::ring_full) << "192 = 256 - 64 entries: soft-full";
    EXPECT_FALSE(k.writable(3, 500));
    EXPECT_EQ(k.emulated_write(0, 3, 500), WriteOutcome::pushed) << "the emulator does not look";
}

TEST(RingModelKernel, ResetReprotectsFlaggedEntriesAndStopsAtTheFirstUnflagged) {
    KernelRingModel k({{.id = 0, .pages = 1024}}, 1, 256);
    const dtrack::DirtyRingMemory r = k.ring(0);
    // 100 pages forwards, 70 backwards, one far away: several masks.
    for (uint64_t p = 0; p < 100; ++p) k.write(0, 0, p);
    for (uint64_t p = 400; p > 330; --p) k.write(0, 0, p);
    k.write(0, 0, 900);
    for (uint32_t i = 0; i < 150; ++i) r.gfns[i].flags = KVM_DIRTY_GFN_F_RESET;
    EXPECT_EQ(k.reset()->count, 150u);
    EXPECT_EQ(flags(r, 0), 0u);
    EXPECT_EQ(flags(r, 150), uint32_t(KVM_DIRTY_GFN_F_DIRTY));
    EXPECT_EQ(k.writable_pages(), 171u - 150u);
    EXPECT_TRUE(k.writable(0, 350)) << "entry 150 (page 350) was not flagged";
    EXPECT_FALSE(k.writable(0, 351)) << "pages 400 down to 351: one mask, gathered backwards";
    EXPECT_FALSE(k.writable(0, 400));
    EXPECT_EQ(k.reset()->count, 0u) << "nothing flagged since";
}

TEST(RingModelKernel, AResetCutShortLeavesTheMaskBeingGatheredWritable) {
    KernelRingModel k({{.id = 0, .pages = 1024}}, 1, 256);
    const dtrack::DirtyRingMemory r = k.ring(0);
    for (uint64_t p = 0; p < 100; ++p) k.write(0, 0, p);
    for (uint32_t i = 0; i < 100; ++i) r.gfns[i].flags = KVM_DIRTY_GFN_F_RESET;
    // Pages 0..63 fill one mask, which flushes when page 64 starts the next.
    k.cut_next_reset_after(70);
    EXPECT_EQ(k.reset()->count, 70u);
    EXPECT_FALSE(k.writable(0, 63));
    EXPECT_TRUE(k.writable(0, 64)) << "cleared from the ring but never re-protected";
    EXPECT_TRUE(k.writable(0, 69));
    EXPECT_EQ(flags(r, 70), uint32_t(KVM_DIRTY_GFN_F_RESET)) << "not reached: still flagged";
    EXPECT_EQ(k.reset()->count, 30u);
    EXPECT_FALSE(k.writable(0, 99));
    EXPECT_TRUE(k.writable(0, 64)) << "a later reset does not revisit it";
    // Cut right after the last entry: the count is whole, the last mask lost.
    for (uint64_t p = 200; p < 210; ++p) k.write(0, 0, p);
    for (uint32_t i = 100; i < 110; ++i) r.gfns[i].flags = KVM_DIRTY_GFN_F_RESET;
    k.cut_next_reset_after(10);
    EXPECT_EQ(k.reset()->count, 10u);
    EXPECT_TRUE(k.writable(0, 200));
    EXPECT_EQ(k.cut_resets(), 2u);
}

TEST(RingModelKernel, AnEmulatedPushPastTheEndOverwritesUnharvestedEntries) {
    KernelRingModel k({{.id = 0, .pages = 1024}}, 1, 256);
    const dtrack::DirtyRingMemory r = k.ring(0);
    for (uint64_t p = 0; p < 260; ++p) k.emulated_write(0, 0, p);
    EXPECT_EQ(k.overwritten(), 4u);
    EXPECT_EQ(r.gfns[0].offset, 256u) << "entry 0 now names page 256; page 0 is named nowhere";
    EXPECT_TRUE(k.writable(0, 0));
}

}  // namespace
}  // namespace ring_model
