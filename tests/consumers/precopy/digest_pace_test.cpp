// DigestPace: the switchover digest's time is the median of its last
// samples, so that neither a preempted sample nor one read from the cache
// decides when the sender switches over.
#include <gtest/gtest.h>

#include "consumers/precopy/digest_pace.hpp"

using dtrack::precopy::DigestPace;
using std::chrono::milliseconds;

TEST(DigestPace, NoSampleEstimatesNothing) { EXPECT_EQ(DigestPace().estimate().count(), 0); }

TEST(DigestPace, APreemptedSampleOrOneFromTheCacheDoesNotDecide) {
    DigestPace pace;
    for (int ms : {8, 9, 700, 8, 2, 9, 10}) pace.add(milliseconds(ms));
    EXPECT_EQ(pace.estimate(), milliseconds(9));
}

TEST(DigestPace, OnlyTheLastWindowOfSamplesCounts) {
    DigestPace pace;
    for (size_t i = 0; i < DigestPace::window; ++i) pace.add(milliseconds(100));
    for (size_t i = 0; i < DigestPace::window / 2; ++i) pace.add(milliseconds(5));
    EXPECT_EQ(pace.estimate(), milliseconds(100)) << "still a majority of the window at 100 ms";
    for (size_t i = 0; i < DigestPace::window; ++i) pace.add(milliseconds(5));
    EXPECT_EQ(pace.estimate(), milliseconds(5)) << "the 100 ms samples have left the window";
}
