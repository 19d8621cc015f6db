// `dtrack rate`'s command line as vmstat, pidstat and ping users type it:
// -p for --pid, positional INTERVAL [COUNT], -i/-c/-j, extra words named in
// the order given, and a bandwidth in bits or bytes with no lowercase b.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "support/background_process.hpp"
#include "support/json_lines.hpp"
#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::json_lines;
using dtrack_test::run;

namespace {

// A target to measure: sampling an idle process takes a few milliseconds an interval.
class RateOptions : public ::testing::Test {
protected:
    void SetUp() override { std::this_thread::sleep_for(std::chrono::milliseconds(200)); }
    std::string rate(const std::string& args) { return binary("dtrack") + " rate " + args + " --method sample 2>&1"; }
    std::string pid() const { return std::to_string(idle_.pid()); }

    dtrack_test::BackgroundProcess idle_{"sleep 60"};
};

// `dtrack rate -p PID 0.2 2`: every 200 ms, twice, as `vmstat 0.2 2`.
TEST_F(RateOptions, TakeVmstatsPositionalIntervalAndCountAndShortOptions) {
    for (const std::string& args :
         {"-p " + pid() + " -j 0.2 2", "-p " + pid() + " -j 200ms 2", "-p " + pid() + " -j -i 200ms -c 2",
          "--pid " + pid() + " --json 0.2 --count 2", "--pid " + pid() + " --json --interval 200ms --count 2"}) {
        const auto r = run(rate(args));
        ASSERT_EQ(r.exit_code, 0) << args << ": " << r.output;
        const auto intervals = json_lines(r.output);
        ASSERT_EQ(intervals.size(), 2u) << args << ": " << r.output;
        EXPECT_NEAR(intervals[0]["interval_s"].get<double>(), 0.2, 0.15) << args << ": " << r.output;
    }
    const auto missing = run(binary("dtrack") + " rate -p 999999 1 1 2>&1");
    EXPECT_EQ(missing.exit_code, 2) << missing.output;
    EXPECT_NE(missing.output.find("no process 999999"), std::string::npos) << "-p is --pid: " << missing.output;
}

// Extra words are refused in the order given (CLI11 listed `1 3` as "3 1"),
// and an interval or a count given both ways is refused, naming both.
TEST_F(RateOptions, RefuseExtraPositionalsInTheOrderGivenAndAValueGivenTwice) {
    const struct {
        std::string args, says;
    } cases[] = {
        {"-p " + pid() + " 1 3 7 9",
         "dtrack rate: not expected after INTERVAL 1 and COUNT 3: 7 9; fix: give at most "
         "INTERVAL [COUNT]"},
        {"-p " + pid() + " 1 --interval 2s", "INTERVAL is given twice: INTERVAL 1 and --interval 2s"},
        {"-p " + pid() + " 1 3 -c 4", "COUNT is given twice: COUNT 3 and --count 4"},
        {"-p " + pid() + " 1 1.5", "COUNT: '1.5' is not a whole number of intervals"},
        {"-p " + pid() + " -c -2", "--count: '-2' is not a whole number of intervals"},
        {"-p " + pid() + " soon", "INTERVAL: 'soon' is not a duration"},
        {"-p " + pid() + " 1ms", "INTERVAL 1ms is too short"},
        {"-p " + pid() + " -i 1ms", "--interval 1ms is too short"},
    };
    for (const auto& c : cases) {
        const auto r = run(rate(c.args));
        EXPECT_EQ(r.exit_code, 2) << c.args << ": " << r.output;
        EXPECT_NE(r.output.find(c.says), std::string::npos) << c.args << " printed: " << r.output;
    }
}

// "10Gb" was read as 10 GiB/s, 8.6 times a 10 Gbit/s link, and "10Gbit" refused.
TEST_F(RateOptions, BandwidthTakesBitsAndRefusesTheAmbiguousLowercaseB) {
    const auto bits = run(rate("-p " + pid() + " --bandwidth 10Gbit 0.2 1"));
    ASSERT_EQ(bits.exit_code, 0) << bits.output;
    EXPECT_NE(bits.output.find("precopy at 1.2 GiB/s"), std::string::npos) << "1.25e9 bytes/s: " << bits.output;
    const auto bytes = run(rate("-p " + pid() + " --bandwidth 10GB 0.2 1"));
    ASSERT_EQ(bytes.exit_code, 0) << bytes.output;
    EXPECT_NE(bytes.output.find("precopy at 10.0 GiB/s"), std::string::npos) << bytes.output;
    for (const char* ambiguous : {"10Gb", "10gb"}) {
        const auto r = run(rate("-p " + pid() + " --bandwidth " + ambiguous + " 0.2 1"));
        EXPECT_EQ(r.exit_code, 2) << r.output;
        EXPECT_NE(r.output.find(std::string("--bandwidth: '") + ambiguous +
                                "' is ambiguous: a lowercase b reads as bits or as bytes; fix: write 10Gbit for "
                                "gigabits per second or 10GB/10GiB for bytes per second"),
                  std::string::npos)
            << r.output;
        EXPECT_EQ(r.output.find("precopy"), std::string::npos) << "nothing measured: " << r.output;
    }
}

}  // namespace
