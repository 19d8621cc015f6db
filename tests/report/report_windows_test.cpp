// dtrack report's durations and working-set windows come from the recorded
// times of the intervals, not from the interval the recorder was asked for:
// recordings written with chosen times (jittered, short, ending mid-window),
// read by the real dtrack report.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "report_recordings.hpp"
#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::recording_with_lengths;
using dtrack_test::run;
using nlohmann::json;

namespace {

// Not const: a missing field reads as null, whose get<>() throws (a failure, not an abort).
json report_json(const std::string& file) {
    const auto r = run(binary("dtrack") + " report --json " + file);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return json::parse(r.output);
}

// Intervals alternating 100 and 150 ms (mean 125 ms, 100 ms asked): four
// pairs a second, so every 1 s window holds 8 intervals and ends on the
// second; 86 intervals end at 10.75 s, the last window holding 6.
std::vector<uint64_t> jittered(size_t n) {
    std::vector<uint64_t> lengths;
    for (size_t i = 0; i < n; ++i) lengths.push_back(i % 2 ? 150 : 100);
    return lengths;
}

TEST(ReportWindows, AreCutFromTheRecordedTimestampsNotTheNominalInterval) {
    const std::string file = recording_with_lengths("jittered.dtz", jittered(86));
    json j = report_json(file);
    EXPECT_DOUBLE_EQ(j["duration_s"].get<double>(), 10.75);
    EXPECT_DOUBLE_EQ(j["mean_interval_s"].get<double>(), 0.125);
    json& second = j["working_set"][0];
    EXPECT_DOUBLE_EQ(second["window_s"].get<double>(), 1.0);
    EXPECT_EQ(second["whole_windows"], 10);
    ASSERT_EQ(second["windows"].size(), 11u);
    for (size_t w = 0; w < 10; ++w) {
        json& win = second["windows"][w];
        EXPECT_EQ(win["intervals"], 8) << w;
        EXPECT_EQ(win["pages"], 100 + 8 * 10) << w;  // the hot set and eight intervals' own pages
        EXPECT_DOUBLE_EQ(win["end_s"].get<double>(), double(w + 1)) << w;
        EXPECT_EQ(win["whole"], true) << w;
    }
    EXPECT_EQ(second["max_pages"], 180);
    EXPECT_DOUBLE_EQ(second["mean_pages"].get<double>(), 180);

    const auto text = run(binary("dtrack") + " report " + file);
    EXPECT_NE(text.output.find("86 intervals, mean 125 ms (100 ms asked), 10.8 s"), std::string::npos) << text.output;
    EXPECT_NE(text.output.find("1 s windows (10 of them)"), std::string::npos) << text.output;
    std::remove(file.c_str());
}

TEST(ReportWindows, ALastWindowCutShortIsMarkedAndLeftOutOfTheFigures) {
    // The jittered run's 1 s windows end with 0.75 s of 6 intervals: 160 pages.
    const std::string file = recording_with_lengths("cut-short.dtz", jittered(86));
    json j = report_json(file);
    json& last = j["working_set"][0]["windows"].back();
    EXPECT_EQ(last["whole"], false);
    EXPECT_EQ(last["intervals"], 6);
    EXPECT_EQ(last["pages"], 160);
    EXPECT_DOUBLE_EQ(j["working_set"][0]["mean_pages"].get<double>(), 180);  // not (10 x 180 + 160) / 11
    const auto text = run(binary("dtrack") + " report " + file);
    EXPECT_NE(text.output.find("(the last 750 ms, cut short by the run's end, left out)"), std::string::npos)
        << text.output;
    std::remove(file.c_str());
}

TEST(ReportWindows, AWindowLongerThanTheRunIsSkippedAndSaidSo) {
    const std::string file = recording_with_lengths("five-seconds.dtz", std::vector<uint64_t>(50, 100));
    json j = report_json(file);
    EXPECT_DOUBLE_EQ(j["duration_s"].get<double>(), 5.0);
    json& ws = j["working_set"];
    ASSERT_EQ(ws.size(), 2u) << ws.dump();  // 1 s windows and the whole run, no 10 s window
    EXPECT_DOUBLE_EQ(ws[0]["window_s"].get<double>(), 1.0);
    EXPECT_EQ(ws[0]["whole_windows"], 5);
    EXPECT_EQ(ws[1]["whole_run"], true);
    EXPECT_DOUBLE_EQ(ws[1]["window_s"].get<double>(), 5.0);
    EXPECT_EQ(ws[1]["max_pages"], 100 + 50 * 10);
    ASSERT_EQ(j["working_set_skipped"].size(), 1u);
    EXPECT_DOUBLE_EQ(j["working_set_skipped"][0]["window_s"].get<double>(), 10.0);
    const auto text = run(binary("dtrack") + " report " + file);
    EXPECT_NE(text.output.find("no 10 s windows: the run (5 s) is shorter"), std::string::npos) << text.output;
    EXPECT_EQ(text.output.find("10 s windows ("), std::string::npos) << text.output;
    std::remove(file.c_str());
}

}  // namespace
