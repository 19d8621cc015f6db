#include <gtest/gtest.h>

#include "dtrack/migration_forecast.hpp"

using namespace dtrack;
using namespace std::chrono_literals;

TEST(MigrationForecast, IdleGuestIsOneCopyAndAnEmptyStop) {
    const Forecast f = forecast_precopy(
        {.memory_bytes = 1'000'000'000, .working_set_bytes = 0, .dirty_bytes_per_s = 0, .bandwidth = 100e6});
    EXPECT_TRUE(f.converges);
    EXPECT_EQ(f.rounds, 2);
    EXPECT_NEAR(f.total_s, 10.0, 1e-9);
    EXPECT_EQ(f.downtime_s, 0);
}

// 1 GB at 100 MB/s, dirtying 50 MB/s over a 400 MB working set:
// round 1 10 s; then 400 MB (capped) 4 s; 200 MB 2 s; 100 MB 1 s; 50 MB 0.5 s; 25 MB 0.25 s <= 0.3 s.
const ForecastInput geometric_rounds{.memory_bytes = 1'000'000'000,
                                     .working_set_bytes = 400'000'000,
                                     .dirty_bytes_per_s = 50e6,
                                     .bandwidth = 100e6,
                                     .downtime = 300ms};

TEST(MigrationForecast, RoundsShrinkGeometricallyWhenTheLinkIsFaster) {
    const Forecast f = forecast_precopy(geometric_rounds);
    EXPECT_TRUE(f.converges);
    EXPECT_EQ(f.rounds, 6);
    EXPECT_NEAR(f.total_s, 10 + 4 + 2 + 1 + 0.5 + 0.25, 1e-9);
    EXPECT_NEAR(f.downtime_s, 0.25, 1e-9);
}

TEST(MigrationForecast, DirtierThanTheLinkDoesNotConverge) {
    const Forecast f = forecast_precopy({.memory_bytes = 1'000'000'000,
                                         .working_set_bytes = 400'000'000,
                                         .dirty_bytes_per_s = 150e6,
                                         .bandwidth = 100e6,
                                         .downtime = 300ms});
    EXPECT_FALSE(f.converges);
    EXPECT_GE(f.bandwidth_to_converge, 150e6);
    EXPECT_NE(f.summary.find("does not converge"), std::string::npos);
}

TEST(MigrationForecast, SmallWorkingSetFitsInTheStopEvenWhenDirty) {
    // Dirtier than the link, but the whole working set copies in 0.2 s.
    const Forecast f = forecast_precopy({.memory_bytes = 1'000'000'000,
                                         .working_set_bytes = 20'000'000,
                                         .dirty_bytes_per_s = 500e6,
                                         .bandwidth = 100e6,
                                         .downtime = 300ms});
    EXPECT_TRUE(f.converges);
    EXPECT_NEAR(f.downtime_s, 0.2, 1e-9);
}

TEST(MigrationForecast, BytesSentPerByteOfGuestMemoryAddsUpEveryRoundsCopy) {
    // 1 GB, then 400 + 200 + 100 + 50 + 25 MB re-sent.
    const Forecast f = forecast_precopy(geometric_rounds);
    ASSERT_TRUE(f.converges);
    EXPECT_NEAR(f.bytes_sent, 1'775'000'000.0, 1);
    EXPECT_NEAR(f.bytes_per_guest_byte, 1.775, 1e-9);
    EXPECT_NE(f.summary.find(" bytes sent per byte of memory"), std::string::npos) << f.summary;
    // An idle guest: one copy, one byte per byte.
    const Forecast idle = forecast_precopy({.memory_bytes = 1'000'000'000, .bandwidth = 100e6});
    EXPECT_NEAR(idle.bytes_per_guest_byte, 1.0, 1e-9);
    // No convergence, no figure: it would send for ever.
    const Forecast stuck = forecast_precopy({.memory_bytes = 1'000'000'000,
                                             .working_set_bytes = 400'000'000,
                                             .dirty_bytes_per_s = 150e6,
                                             .bandwidth = 100e6});
    EXPECT_EQ(stuck.bytes_per_guest_byte, 0);
}
