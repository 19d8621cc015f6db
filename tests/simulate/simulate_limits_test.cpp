// dtrack simulate --trace on tiny recordings (valid checksums) that declare,
// or expand to, a lot (issue 21, item 9), run under 1 GiB of address space
// and a 20 s hang bound: each is simulated, or refused with a message that
// names --max-memory; never killed by the allocator, never left hanging.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/bounded_run.hpp"
#include "support/hostile_recordings.hpp"

using dtrack_test::run_bounded;
using dtrack_test::hostile::TempRecording;
namespace hostile = dtrack_test::hostile;

TEST(SimulateLimits, AHeaderDeclaring2To36PagesIsRefusedNamingMaxMemory) {
    const TempRecording f(hostile::huge_region(1ULL << 36));
    const auto r = run_bounded("simulate --trace " + f.path + " --bandwidth 10G --auto-converge");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("the recording's regions hold 68719476736 pages (256.0 TiB): replaying them takes 16.3 "
                            "GiB of dirty bitmaps, more than the 256.0 MiB the replay may use"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("fix: give a larger --max-memory than 512M"), std::string::npos) << r.output;
}

TEST(SimulateLimits, ARunOf50MillionPagesIsReplayedInStretches) {
    // Every 100 ms all of 190 GiB: the throttle cannot help, and the
    // simulation says so, in bounded memory and time.
    const TempRecording f(hostile::one_run(50'000'000));
    const auto r = run_bounded("simulate --trace " + f.path + " --bandwidth 10G --auto-converge --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    ASSERT_EQ(j["runs"].size(), 2u);
    for (const auto& run : j["runs"]) {
        EXPECT_EQ(run["verdict"], "stuck") << run.dump();
        EXPECT_EQ(run["final_throttle_pct"], 99);
    }
}

TEST(SimulateLimits, ABitmapThatExpandsToARunPerPageIsRefusedNamingTheLimit) {
    const TempRecording f(hostile::alternating_bitmap(1 << 20));
    const auto r = run_bounded("simulate --trace " + f.path + " --bandwidth 10G");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("too large to read at byte 110"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("fix: give a larger --max-memory than 512M"), std::string::npos) << r.output;
}

TEST(SimulateLimits, ARecordingOfOneNanosecondIsReplayedOncePerStepNotABillionTimesASecond) {
    // 4 GiB, all of it dirtied in a nanosecond: rounds of 4 s at 1 GiB/s.
    const TempRecording f(hostile::instant_interval(1 << 20));
    const auto r = run_bounded("simulate --trace " + f.path + " --bandwidth 1G --auto-converge --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    for (const auto& run : j["runs"]) EXPECT_EQ(run["verdict"], "stuck") << run.dump();
}
