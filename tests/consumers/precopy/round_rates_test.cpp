// RoundRates: the sender's switchover decision, apart from its I/O. The
// rates come from what the rounds sent; the estimate is the dirty pages at
// the rate of page contents, plus the switchover's own cost.
#include <gtest/gtest.h>

#include "consumers/precopy/round_rates.hpp"

using dtrack::precopy::RoundRates;
using dtrack::precopy::Sent;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t page = 4096;

// A round of `pages` pages with contents, whole on the wire, in `time`.
Sent round_of(uint64_t pages, std::chrono::nanoseconds time, uint64_t zero = 0) {
    return Sent{.wire_bytes = (pages - zero) * page, .pages = pages, .zero_pages = zero, .time = time};
}

double ms(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

TEST(RoundRates, NothingSentEstimatesNoEnd) {
    const RoundRates rates(page, 0, false);
    EXPECT_EQ(rates.estimated_downtime(1), std::chrono::nanoseconds::max());
    EXPECT_EQ(rates.estimated_downtime(0), 0ns) << "an empty dirty set costs only the switchover";
}

TEST(RoundRates, TheLastRoundSetsThePaceWhenItLastedLongEnough) {
    RoundRates rates(page, 0, false);
    rates.round_done(round_of(32768, 4000ms, 8192));  // round 1: 24,576 pages with contents
    rates.round_done(round_of(2000, 250ms));          // 8,000 pages/s
    EXPECT_NEAR(ms(rates.estimated_downtime(800)), 100, 0.01);
}

TEST(RoundRates, AShortLastRoundFallsBackToAllRounds) {
    RoundRates rates(page, 0, false);
    rates.round_done(round_of(10000, 1000ms));
    rates.round_done(round_of(10, 1ms));  // 10,000 pages/s over both
    EXPECT_NEAR(ms(rates.estimated_downtime(1001)), 1001.0 / 10010 * 1001, 0.01);
}

// A final round carries the hot pages deferral kept back; one round of
// cheaper pages before it (its deltas paid) does not set its pace: of the
// last two rounds, the slower.
TEST(RoundRates, OneRoundOfCheapPagesDoesNotSetTheFinalRoundsPace) {
    RoundRates rates(page, 0, false);
    rates.round_done(round_of(32768, 4000ms, 8192));
    rates.round_done(round_of(2500, 400ms));  // 6,250 pages/s
    rates.round_done(round_of(2903, 400ms));  // 7,257 pages/s
    EXPECT_NEAR(ms(rates.estimated_downtime(1958)), 1958.0 / 6250 * 1000, 0.01);
    rates.set_switchover_cost(10ms);
    EXPECT_NEAR(ms(rates.estimated_downtime(1958)), 1958.0 / 6250 * 1000 + 10, 0.01);
    EXPECT_FALSE(RoundRates::fits(1958, rates.estimated_downtime(1958), 300ms));
}

// Round 1 sends every page, zero and cold ones, at the sender's pace where
// that is slower than the link: it is not one of the last two.
TEST(RoundRates, RoundOneIsNotOneOfTheLastTwo) {
    RoundRates rates(page, 0, false);
    rates.round_done(round_of(32768, 8000ms));  // 4,096 pages/s
    rates.round_done(round_of(2500, 250ms));    // 10,000 pages/s
    EXPECT_NEAR(ms(rates.estimated_downtime(1000)), 100, 0.01);
}

TEST(RoundRates, UncompressedContentsCannotOutrunTheCap) {
    RoundRates rates(page, 1000 * page, false);
    rates.round_done(round_of(32768, 4000ms, 30000));  // 2,768 pages with contents in 4 s
    rates.round_done(round_of(5000, 200ms, 4000));     // 1,000 pages in 0.2 s: 5,000 pages/s, over the cap
    EXPECT_NEAR(ms(rates.estimated_downtime(1000)), 1000, 0.01) << "at the cap, 1,000 pages/s";
}
