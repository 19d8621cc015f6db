// Hot-page deferral on hand-built rounds and a simulated guest on a manual
// clock: hot pages are kept back, cold ones never, the budget holds and
// shrinks with the bandwidth, and every deferred page still goes in the final
// round.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <random>
#include <set>
#include <vector>

#include "dtrack/clock.hpp"
#include "dtrack/hot_page_deferral.hpp"
#include "support/test_seed.hpp"

using namespace dtrack;
using namespace std::chrono_literals;

namespace {

std::set<uint64_t> kept_pages(const HotPageDeferral& d, size_t region) {
    std::set<uint64_t> pages;
    const auto keep = d.keep(region);
    for (size_t w = 0; w < keep.size(); ++w)
        for (uint64_t bits = keep[w]; bits; bits &= bits - 1) pages.insert(w * 64 + std::countr_zero(bits));
    return pages;
}

// A guest of `pages` pages: `hot` pages at the start written every round,
// and a cold sweep that writes `cold_per_round` pages further on, never the
// same page in two rounds running.
struct HotColdGuest {
    uint64_t pages, hot, cold_per_round;
    uint64_t cold_next = 0;
    void write_round(DirtyBitmap& b) {
        b.mark_range(0, hot);
        for (uint64_t i = 0; i < cold_per_round; ++i) {
            b.mark(hot + cold_next);
            cold_next = (cold_next + 1) % (pages - hot);
        }
    }
};

// One precopy round as the sender does it: plan, then take what is not kept.
std::vector<uint64_t> send_round(HotPageDeferral& d, DirtyBitmap& b, double capacity, DeferralPlan* plan = nullptr) {
    const DirtyBitmap* dirty[] = {&b};
    const DeferralPlan p = d.plan(dirty, capacity);
    if (plan) *plan = p;
    std::vector<uint64_t> sent;
    b.take_range_keeping(0, b.pages(), d.keep(0), [&](uint64_t w, uint64_t bits) {
        for (; bits; bits &= bits - 1) sent.push_back(w * 64 + std::countr_zero(bits));
    });
    return sent;
}

TEST(HotPageDeferral, NothingIsDeferredBeforeItHasKRoundsOfHistory) {
    for (int k : {1, 2, 3, 8}) {
        SCOPED_TRACE("k " + std::to_string(k));
        HotPageDeferral d({.rounds = k}, {4096});
        DirtyBitmap b(4096);
        for (int round = 1; round <= 10; ++round) {
            b.mark_range(0, 100);  // the same 100 pages every round
            DeferralPlan p;
            send_round(d, b, 1e6, &p);
            EXPECT_EQ(p.deferred, round < k ? 0u : 100u) << "observation " << round;
        }
    }
}

TEST(HotPageDeferral, HotPagesAreDeferredColdOnesNever) {
    HotColdGuest guest{.pages = 1 << 16, .hot = 500, .cold_per_round = 3000};
    HotPageDeferral d({.rounds = 2}, {guest.pages});
    DirtyBitmap b(guest.pages);
    uint64_t deferred_rounds = 0;
    for (int round = 1; round <= 12; ++round) {
        guest.write_round(b);
        DeferralPlan p;
        const auto sent = send_round(d, b, /*capacity=*/10000, &p);
        for (uint64_t page : kept_pages(d, 0)) ASSERT_LT(page, guest.hot) << "a cold page was deferred";
        if (round >= 2) {
            EXPECT_EQ(p.deferred, guest.hot) << "every hot page is kept back from observation 2 on";
            EXPECT_EQ(sent.size(), guest.cold_per_round) << "only the cold pages go";
            ++deferred_rounds;
        }
    }
    EXPECT_EQ(deferred_rounds, 11u);
}

TEST(HotPageDeferral, TheBudgetIsWhatTheFinalRoundCarriesBesideTheOtherDirtyPages) {
    HotColdGuest guest{.pages = 1 << 16, .hot = 4000, .cold_per_round = 1000};
    HotPageDeferral d({.rounds = 2}, {guest.pages});
    DirtyBitmap b(guest.pages);
    const double capacity = 3000;  // the final round carries 3000 pages
    for (int round = 1; round <= 6; ++round) {
        guest.write_round(b);
        DeferralPlan p;
        send_round(d, b, capacity, &p);
        if (round < 2) continue;
        // Still dirty at this plan: the hot set (kept or re-dirtied) and the new cold pages.
        EXPECT_EQ(p.dirty, guest.hot + guest.cold_per_round);
        EXPECT_EQ(p.hot, guest.hot);
        EXPECT_EQ(p.budget, 2000u) << "3000 the final round carries - 1000 dirty pages that are not hot";
        EXPECT_EQ(p.deferred, 2000u);
        EXPECT_LE(double(p.deferred) + double(p.dirty - p.hot), capacity) << "the final round fits";
    }
    // No room at all: nothing is deferred.
    guest.write_round(b);
    DeferralPlan p;
    send_round(d, b, /*capacity=*/500, &p);
    EXPECT_EQ(p.deferred, 0u);
    EXPECT_TRUE(kept_pages(d, 0).empty());
}

// The sender's view on a manual clock: a link whose bandwidth halves, the
// capacity measured from what the last round moved in its time.
TEST(HotPageDeferral, TheBudgetShrinksWhenTheBandwidthDrops) {
    HotColdGuest guest{.pages = 1 << 16, .hot = 3000, .cold_per_round = 500};
    HotPageDeferral d({.rounds = 2}, {guest.pages});
    DirtyBitmap b(guest.pages);
    ManualClock clock;
    double pages_per_s = 40000;  // the link
    double measured_rate = 0;    // bytes of memory per second over the last round
    std::vector<uint64_t> deferred;
    std::set<uint64_t> kept_before;
    for (int round = 1; round <= 8; ++round) {
        if (round == 5) pages_per_s /= 4;
        guest.write_round(b);
        const double capacity = final_round_capacity_pages(100ms, measured_rate, 4096);
        DeferralPlan p;
        const auto start = clock.now();
        const auto sent = send_round(d, b, capacity, &p);
        clock.advance(std::chrono::nanoseconds(int64_t(1e9 * double(sent.size() + 1) / pages_per_s)));
        measured_rate = double(sent.size() + 1) * 4096 / std::chrono::duration<double>(clock.now() - start).count();
        deferred.push_back(p.deferred);
        // A shrinking budget releases pages it kept: those are sent now.
        const std::set<uint64_t> kept_now = kept_pages(d, 0);
        for (uint64_t page : kept_before) {
            if (kept_now.count(page)) continue;
            EXPECT_TRUE(std::find(sent.begin(), sent.end(), page) != sent.end()) << "released page " << page;
        }
        kept_before = kept_now;
    }
    // 100 ms at 40000 pages/s carries 4000 pages: 3500 besides the 500 cold ones.
    EXPECT_EQ(deferred[3], 3000u) << "with room to spare, the whole hot set";
    // A quarter of the bandwidth: 1000 pages, 500 beside the cold ones.
    EXPECT_EQ(deferred[6], 500u);
    EXPECT_LT(deferred[7], deferred[3]);
}

TEST(HotPageDeferral, ADeferredPageIsStillSentInTheFinalRound) {
    const uint64_t seed = dtrack_test::test_seed(24);
    std::mt19937_64 rng(seed);
    const uint64_t pages = 20000;
    HotPageDeferral d({.rounds = 2}, {pages});
    DirtyBitmap b(pages);
    // The receiver's view: the round each page was last written and last sent.
    std::vector<int> written(pages, -1), sent_at(pages, -1);
    uint64_t deferred = 0;
    int round = 1;
    for (; round <= 15; ++round) {
        for (int i = 0; i < 3000; ++i) {  // hot: 1000 pages; cold: anywhere
            const uint64_t page = rng() % 4 ? rng() % 1000 : rng() % pages;
            b.mark(page);
            written[page] = round;
        }
        DeferralPlan p;
        for (uint64_t page : send_round(d, b, 2500, &p)) sent_at[page] = round;
        deferred += p.deferred;
    }
    // The final round: the guest is paused, nothing is kept.
    d.release_all();
    EXPECT_TRUE(d.keep(0).empty());
    b.take_all([&](uint64_t w, uint64_t bits) {
        for (; bits; bits &= bits - 1) sent_at[w * 64 + std::countr_zero(bits)] = round;
    });
    EXPECT_GT(deferred, 0u);
    for (uint64_t page = 0; page < pages; ++page)
        ASSERT_GE(sent_at[page], written[page]) << "page " << page << " written after it was last sent";
}

// Whatever k, the kept pages leave the final round room for the pages that
// became dirty since the last round; so once the guest stops writing, what
// is left (the kept pages) fits and the migration can switch over.
TEST(HotPageDeferral, KeptPagesNeverFillTheFinalRoundAloneForAnyK) {
    const uint64_t seed = dtrack_test::test_seed(8);
    for (int k = 1; k <= 3; ++k) {
        SCOPED_TRACE("k " + std::to_string(k));
        std::mt19937_64 rng(seed + k);
        const uint64_t pages = 8192;
        const double capacity = 1500;
        HotPageDeferral d({.rounds = k}, {pages});
        DirtyBitmap b(pages);
        uint64_t deferred = 0;
        for (int round = 1; round <= 12; ++round) {
            if (round <= 9)
                for (int i = 0; i < 1200; ++i) b.mark(rng() % 3 ? rng() % 600 : rng() % pages);
            DeferralPlan p;
            send_round(d, b, capacity, &p);
            deferred += p.deferred;
            EXPECT_LE(double(p.deferred + p.dirty - p.repeated), std::max(capacity, double(p.dirty - p.repeated)))
                << "round " << round << ": kept pages beyond the room beside the new ones";
            if (round > 10) {
                EXPECT_LE(double(b.count()), capacity) << "the guest stopped: the rest must fit";
            }
        }
        EXPECT_GT(deferred, 0u);
    }
}

TEST(HotPageDeferral, RoundsOutsideOneToEightAreRefusedWithTheFix) {
    for (int k : {0, -1, 9, 100}) {
        Status s = check_hot_page_deferral({.rounds = k});
        ASSERT_FALSE(s) << k;
        EXPECT_NE(s.error().what.find("outside 1..8"), std::string::npos) << s.error().what;
        EXPECT_NE(s.error().fix.find("from 1 to 8"), std::string::npos) << s.error().fix;
    }
    for (int k = 1; k <= 8; ++k) EXPECT_TRUE(check_hot_page_deferral({.rounds = k})) << k;
}

TEST(HotPageDeferral, TheHistoryHoldsTheLastEightRounds) {
    HotPageDeferral d({.rounds = 2}, {128, 64});
    DirtyBitmap b(128);
    const DirtyBitmap* dirty[] = {&b, nullptr};
    for (int round = 0; round < 10; ++round) {
        if (round % 3 == 0) b.mark(70);
        d.plan(dirty, 0);
        b.take_all([](uint64_t, uint64_t) {});
    }
    // Observations 0..9, page 70 dirty at 0, 3, 6, 9: 0, 3 and 6 rounds ago.
    for (int ago = 0; ago < 8; ++ago) EXPECT_EQ(d.was_dirty(0, 70, ago), ago % 3 == 0) << ago;
    EXPECT_FALSE(d.was_dirty(0, 69, 0));
    EXPECT_EQ(d.observed_rounds(), 10u);
}

}  // namespace
