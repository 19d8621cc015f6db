// RateMeter arithmetic with a scripted source and a manual clock.
#include <gtest/gtest.h>

#include <deque>

#include "dtrack/rate_meter.hpp"

using namespace dtrack;
using namespace std::chrono_literals;

namespace {

class Script : public Source {
public:
    // Time that prepare_take() takes (a re-protection of a large region), or none.
    ManualClock* clock = nullptr;
    std::chrono::nanoseconds take_lasts{0};
    Status prepare_take(RegionId, uint64_t, uint64_t) override {
        if (clock) clock->advance(take_lasts);
        return Ok{};
    }

    struct Batch {
        std::vector<uint64_t> pages;
        std::vector<uint64_t> per_vcpu;
        bool estimate = false;
        double estimated = 0, bound = 0;
    };
    std::deque<Batch> batches;
    std::string name() const override { return "script"; }
    Result<HarvestReport> harvest(Tracker& t) override {
        HarvestReport r;
        if (batches.empty()) return r;
        const Batch b = batches.front();
        batches.pop_front();
        for (uint64_t p : b.pages) r.new_dirty += t.bitmap(0).mark(p);
        r.pages = b.pages.size();
        r.pages_per_vcpu = b.per_vcpu;
        r.estimate = b.estimate;
        r.estimated_pages = b.estimated;
        r.estimate_bound = b.bound;
        return r;
    }
};

TEST(RateMeter, DistinctPagesPerIntervalAndTheWorkingSet) {
    Tracker tracker;
    ManualClock clock;
    tracker.add_region(Region{.name = "ram", .page_size = 4096, .page_count = 1000}).value();
    auto* script = static_cast<Script*>(&tracker.add_source(std::make_unique<Script>()));
    script->batches = {{{1, 2, 3}, {3, 0}},         // before start(): forgotten
                       {{10, 11, 11, 12}, {2, 2}},  // interval 1: 3 distinct
                       {{11, 500}, {0, 2}}};        // interval 2: 2 distinct, 1 new to the working set
    RateMeter meter(tracker, clock);
    ASSERT_TRUE(meter.start().ok());

    clock.advance(2s);
    auto a = meter.sample();
    ASSERT_TRUE(a.ok());
    EXPECT_DOUBLE_EQ(a->seconds, 2.0);
    EXPECT_DOUBLE_EQ(a->distinct_pages, 3);
    EXPECT_DOUBLE_EQ(a->bytes_per_s, 3 * 4096 / 2.0);
    EXPECT_EQ(a->vcpu_pages_per_s, (std::vector<double>{1.0, 1.0}));
    EXPECT_EQ(a->working_set_pages, 3u);

    clock.advance(1s);
    auto b = meter.sample();
    ASSERT_TRUE(b.ok());
    EXPECT_DOUBLE_EQ(b->distinct_pages, 2);
    EXPECT_EQ(b->vcpu_pages_per_s, (std::vector<double>{0.0, 2.0}));
    EXPECT_EQ(b->working_set_pages, 4u);
    EXPECT_FALSE(b->estimate);
}

// start() harvests, then clears what came before, which takes time on a
// large region: the first interval starts at the harvest, where the sources'
// counts start, so its length and rates cover the clearing too (they left
// it out: 120 vCPU pages over 12 s read as 60/s).
TEST(RateMeter, TheFirstIntervalStartsAtStartsHarvestNotAfterItsClearing) {
    Tracker tracker;
    ManualClock clock;
    tracker.add_region(Region{.name = "ram", .page_size = 4096, .page_count = 1000}).value();
    auto* script = static_cast<Script*>(&tracker.add_source(std::make_unique<Script>()));
    script->batches = {{{1}, {0}}, {{10, 11}, {120}}};
    script->clock = &clock;
    script->take_lasts = 10s;
    RateMeter meter(tracker, clock);
    ASSERT_TRUE(meter.start().ok());
    script->clock = nullptr;

    clock.advance(2s);
    auto a = meter.sample();
    ASSERT_TRUE(a.ok());
    EXPECT_DOUBLE_EQ(a->seconds, 12.0);
    EXPECT_EQ(a->vcpu_pages_per_s, (std::vector<double>{10.0}));
    EXPECT_DOUBLE_EQ(a->bytes_per_s, 2 * 4096 / 12.0);
}

TEST(RateMeter, EstimatesCarryTheirBound) {
    Tracker tracker;
    ManualClock clock;
    tracker.add_region(Region{.name = "ram", .page_count = 100}).value();
    auto* script = static_cast<Script*>(&tracker.add_source(std::make_unique<Script>()));
    script->batches = {{}, {{5}, {}, true, 4200, 300}};
    RateMeter meter(tracker, clock);
    ASSERT_TRUE(meter.start().ok());
    clock.advance(1s);
    auto s = meter.sample();
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(s->estimate);
    EXPECT_DOUBLE_EQ(s->distinct_pages, 4200);
    EXPECT_DOUBLE_EQ(s->bound_pages, 300);
}

}  // namespace
