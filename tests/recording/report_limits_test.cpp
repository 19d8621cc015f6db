// dtrack report on tiny recordings (valid checksums) that declare, or expand
// to, a lot (issue 21, item 9), run under 1 GiB of address space and a 20 s
// hang bound: each is reported in full, with figures that follow from its
// runs, or refused with a message that names --max-memory; never killed by
// the allocator.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/bounded_run.hpp"
#include "support/hostile_recordings.hpp"

using dtrack_test::run_bounded;
using dtrack_test::hostile::TempRecording;
using nlohmann::json;
namespace hostile = dtrack_test::hostile;

namespace {

json report_json(const TempRecording& f, const std::string& options = "") {
    const auto r = run_bounded("report --json " + f.path + " " + options);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.exit_code == 0 ? json::parse(r.output) : json{};
}

}  // namespace

TEST(ReportLimits, ARunOf50MillionPagesIsReportedFromItsOneRun) {
    const TempRecording f(hostile::one_run(50'000'000));  // 155 bytes
    const json j = report_json(f);
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j["working_set"].back()["max_pages"], 50'000'000);
    EXPECT_EQ(j["regions"][0]["dirtyings"], 50'000'000);
    EXPECT_EQ(j["range_bytes"], 2 << 20);
    EXPECT_EQ(j["hottest_ranges"][0]["dirtyings"], 512);
    EXPECT_EQ(j["hottest_ranges"][0]["share_per_interval"], 1.0);
}

TEST(ReportLimits, ARunOf2To40PagesIsReportedWithRangesGrownToFitTheirCounters) {
    const TempRecording f(hostile::one_run(1ULL << 40, 3));
    const json j = report_json(f);
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j["working_set"].back()["max_pages"], 1ULL << 40);
    // Every page again after one interval, twice.
    ASSERT_EQ(j["redirty_log2_intervals"].size(), 1u);
    EXPECT_EQ(j["redirty_log2_intervals"][0]["pages"], 2 * (1ULL << 40));
    // 2^40 pages of 4 KiB in at most 2^20 ranges: 4 GiB each.
    EXPECT_EQ(j["range_bytes"], 4ULL << 30);
    EXPECT_EQ(j["hottest_ranges"][0]["pages"], 1 << 20);
    EXPECT_EQ(j["hottest_ranges"][0]["dirtyings"], 3 << 20);
}

TEST(ReportLimits, AHeaderDeclaring2To36PagesIsReportedFromTheFewPagesItsIntervalsHold) {
    const TempRecording f(hostile::huge_region(1ULL << 36));
    const json j = report_json(f);
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j["intervals"], 3);
    EXPECT_EQ(j["working_set"].back()["max_pages"], 3 * 8 + 1);
    EXPECT_EQ(j["range_bytes"], 256 << 20);  // 256 TiB in 2^20 ranges
}

TEST(ReportLimits, ABitmapThatExpandsToARunPerPageIsRefusedNamingTheLimit) {
    const TempRecording f(hostile::alternating_bitmap(1 << 20));  // 7.9 KiB: 33.5 million one-page runs
    const auto r = run_bounded("report " + f.path);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("too large to read at byte 110: interval 0: its pages are more than"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("fix: give a larger --max-memory than 512M"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("bad_alloc"), std::string::npos) << r.output;
}

TEST(ReportLimits, APageHistoryThatOutgrowsMaxMemoryIsRefusedNamingIt) {
    // 640 intervals of 32,000 one-page runs each, none touching another
    // (60 KiB): a history of 20 million runs, past what the default leaves
    // the analysis...
    const TempRecording big(hostile::scattered_history(640, 1000));
    auto r = run_bounded("report " + big.path);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("the history of the pages holds"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("fix: give a larger --max-memory than 512M"), std::string::npos) << r.output;
    // ...and 40 of them, 1.28 million runs, within it, but not within 16M.
    const TempRecording small(hostile::scattered_history(40, 1000));
    const json j = report_json(small);
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j["working_set"].back()["max_pages"], 40 * 32'000);
    r = run_bounded("report " + small.path + " --max-memory 16M");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("fix: give a larger --max-memory than 16M"), std::string::npos) << r.output;
}

TEST(ReportLimits, PerVcpuFiguresThatOutgrowMaxMemoryAreRefusedNamingIt) {
    // 40,000 intervals of 4096 vCPU counts (9 MiB): 1.3 GiB of figures.
    const TempRecording f(hostile::many_vcpus(40'000));
    const auto r = run_bounded("report " + f.path);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("the figures of"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("fix: give a larger --max-memory than 512M"), std::string::npos) << r.output;
}

TEST(ReportLimits, ATooSmallMaxMemoryOrTooManyRowsIsAUsageError) {
    const TempRecording f(hostile::one_run(100));
    auto r = run_bounded("report " + f.path + " --max-memory 1M");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("give at least 16M"), std::string::npos) << r.output;
    r = run_bounded("report " + f.path + " --rows 100000");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("give at most --rows 1000"), std::string::npos) << r.output;
}
