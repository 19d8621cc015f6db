// Tracker accounting with a scripted in-memory source: counters, the two
// clocks, failing sources, and re-protection before a consumer takes.
#include <gtest/gtest.h>

#include <deque>

#include "dtrack/tracker.hpp"

using namespace dtrack;

namespace {

// Replays a script of (region, page, vcpu) writes, one batch per harvest.
class ScriptedSource : public Source {
public:
    struct Write {
        RegionId region;
        uint64_t page;
        size_t vcpu;
    };
    std::deque<std::vector<Write>> batches;
    std::vector<std::tuple<RegionId, uint64_t, uint64_t>> prepared;  // prepare_take calls
    bool fail_next = false;

    std::string name() const override { return "scripted"; }

    Result<HarvestReport> harvest(Tracker& tracker) override {
        if (fail_next) {
            fail_next = false;
            return Error{EIO, "scripted failure", "none"};
        }
        HarvestReport r;
        if (batches.empty()) return r;
        for (const Write& w : batches.front()) {
            ++r.pages;
            r.new_dirty += tracker.bitmap(w.region).mark(w.page);
            r.add_vcpu(w.vcpu, 1);
            r.add_region(w.region, 1);
        }
        batches.pop_front();
        return r;
    }

    Status prepare_take(RegionId region, uint64_t first, uint64_t count) override {
        prepared.emplace_back(region, first, count);
        return Ok{};
    }
};

struct TrackerTest : testing::Test {
    Tracker tracker;
    RegionId slot0 = tracker.add_region(Region{.name = "slot 0", .slot = 0, .page_count = 1000}).value();
    RegionId slot1 = tracker.add_region(Region{.name = "slot 1", .slot = 1, .base = 1 << 30, .page_count = 77}).value();
    ScriptedSource* source = static_cast<ScriptedSource*>(&tracker.add_source(std::make_unique<ScriptedSource>()));
};

TEST_F(TrackerTest, SyncHarvestsIntoBitmapsAndCounts) {
    source->batches.push_back({{slot0, 5, 0}, {slot0, 5, 1}, {slot1, 76, 1}});
    const SyncReport r = tracker.sync();
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.pages, 3u);
    EXPECT_EQ(r.new_dirty, 2u);
    EXPECT_TRUE(tracker.bitmap(slot0).test(5));
    EXPECT_TRUE(tracker.bitmap(slot1).test(76));

    const Counters c = tracker.counters();
    ASSERT_EQ(c.sources.size(), 1u);
    EXPECT_EQ(c.sources[0].pages, 3u);
    EXPECT_EQ(c.sources[0].pages_per_vcpu, (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(c.pages_per_region, (std::vector<uint64_t>{2, 1}));
}

TEST_F(TrackerTest, RoundsAndSyncsAreSeparateClocks) {
    EXPECT_TRUE(tracker.sync(SyncKind::round).ok());
    EXPECT_TRUE(tracker.sync(SyncKind::background).ok());
    EXPECT_TRUE(tracker.sync(SyncKind::background).ok());
    tracker.count_round();
    const Counters c = tracker.counters();
    EXPECT_EQ(c.rounds, 1u);
    EXPECT_EQ(c.syncs_round, 1u);
    EXPECT_EQ(c.syncs_background, 2u);
    EXPECT_EQ(c.syncs(), 3u);
}

TEST_F(TrackerTest, CountersNeverDecrease) {
    Counters before = tracker.counters();
    for (int i = 0; i < 20; ++i) {
        source->batches.push_back({{slot0, uint64_t(i), size_t(i % 3)}});
        EXPECT_TRUE(tracker.sync(i % 2 ? SyncKind::round : SyncKind::background).ok());
        tracker.bitmap(slot0).take_all([](uint64_t, uint64_t) {});  // consuming never lowers counters
        const Counters now = tracker.counters();
        EXPECT_GE(now.syncs(), before.syncs() + 1);
        EXPECT_GE(now.sources[0].pages, before.sources[0].pages);
        EXPECT_GE(now.pages_per_region[0], before.pages_per_region[0]);
        before = now;
    }
}

TEST_F(TrackerTest, FailingSourceIsReportedAndCounted) {
    source->fail_next = true;
    const SyncReport r = tracker.sync();
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].errno_value, EIO);
    EXPECT_EQ(tracker.counters().sources[0].failures, 1u);
    EXPECT_EQ(tracker.counters().syncs_round, 1u);
}

TEST_F(TrackerTest, TakeReprotectsBeforeTaking) {
    source->batches.push_back({{slot1, 3, 0}, {slot1, 70, 0}});
    EXPECT_TRUE(tracker.sync().ok());
    std::vector<uint64_t> taken;
    auto n = tracker.take(slot1, 0, 64, [&](uint64_t w, uint64_t bits) {
        // By the time bits reach the consumer the source was asked to re-protect.
        EXPECT_EQ(source->prepared.size(), 1u);
        for (; bits; bits &= bits - 1) taken.push_back(w * 64 + std::countr_zero(bits));
    });
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 1u);
    EXPECT_EQ(taken, std::vector<uint64_t>{3});
    EXPECT_EQ(source->prepared[0], std::make_tuple(slot1, uint64_t(0), uint64_t(64)));
    EXPECT_TRUE(tracker.bitmap(slot1).test(70));
}

TEST_F(TrackerTest, FindsRegionsBySlot) {
    RegionId id = 99;
    ASSERT_NE(tracker.find_slot(1, &id), nullptr);
    EXPECT_EQ(id, slot1);
    EXPECT_EQ(tracker.find_slot(7), nullptr);
}

}  // namespace

// A guest-physical region names a KVM memslot: address space 0 or 1, slot id
// below 32768. Anything else would index the sources' per-slot tables out of
// bounds (slot 0xFFFFFFFF made the ring reader's resize(slot + 1) wrap to 0).
TEST(TrackerRegions, MemslotIdsKvmCannotHaveAreRefusedAndNothingIsAdded) {
    Tracker tracker;
    for (uint32_t slot : {0xFFFFFFFFu, 2u << 16, 32768u, 1u << 16 | 40000u}) {
        Result<RegionId> r = tracker.add_region(Region{.name = "bad", .slot = slot, .page_count = 8});
        ASSERT_FALSE(r.ok()) << "memslot " << slot << " was accepted";
        EXPECT_NE(r.error().what.find("memslot " + std::to_string(slot)), std::string::npos) << r.error().what;
        EXPECT_NE(r.error().fix.find("32768"), std::string::npos) << r.error().fix;
    }
    EXPECT_EQ(tracker.region_count(), 0u) << "a refused region was added";
    EXPECT_EQ(tracker.counters().pages_per_region.size(), 0u);
    // The limits themselves, and host ranges (whose slot means nothing).
    for (uint32_t slot : {0u, 32767u, 1u << 16, 1u << 16 | 32767u}) {
        Result<RegionId> r = tracker.add_region(Region{.name = "ok", .slot = slot, .page_count = 8});
        ASSERT_TRUE(r.ok()) << slot << ": " << r.error().message();
    }
    ASSERT_TRUE(tracker.add_region(Region{.name = "heap", .space = AddressSpace::host_virtual, .slot = ~0u}).ok());
    EXPECT_EQ(tracker.region_count(), 5u);
}

// Each source files a memslot's dirty pages under one region, so a second
// region for the same memslot would never get a dirty bit; a range whose
// end wraps past 2^64 has no address contains() finds.
TEST(TrackerRegions, AMemslotTwiceOrARangePastTheAddressSpaceIsRefusedAndNothingIsAdded) {
    Tracker tracker;
    ASSERT_TRUE(tracker.add_region(Region{.name = "slot 3", .slot = 3, .page_count = 8}).ok());
    Result<RegionId> twice = tracker.add_region(Region{.name = "again", .slot = 3, .base = 1 << 20, .page_count = 8});
    ASSERT_FALSE(twice.ok()) << "memslot 3 was accepted twice";
    EXPECT_EQ(twice.error().what, "region 'again': memslot 3 is already region 0 ('slot 3')");
    for (AddressSpace space : {AddressSpace::guest_physical, AddressSpace::host_virtual}) {
        Result<RegionId> wraps = tracker.add_region(
            Region{.name = "wraps", .space = space, .slot = 4, .base = ~0ULL - 4095, .page_count = 2});
        ASSERT_FALSE(wraps.ok()) << "a range past 2^64 was accepted";
        EXPECT_NE(wraps.error().what.find("run past the end of the 64-bit address space"), std::string::npos)
            << wraps.error().what;
        Result<RegionId> huge = tracker.add_region(
            Region{.name = "huge", .space = space, .slot = 4, .page_size = 1ULL << 32, .page_count = 1ULL << 32});
        EXPECT_FALSE(huge.ok()) << "2^32 pages of 4 GiB were accepted";
    }
    EXPECT_EQ(tracker.region_count(), 1u) << "a refused region was added";
    // The address space's last page, and the same slot id in address space 1.
    EXPECT_TRUE(tracker.add_region(Region{.name = "top", .slot = 4, .base = ~0ULL - 4095, .page_count = 1}).ok());
    EXPECT_TRUE(tracker.add_region(Region{.name = "smm", .slot = 1u << 16 | 3, .page_count = 8}).ok());
}
