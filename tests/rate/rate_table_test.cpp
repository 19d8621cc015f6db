// What `dtrack rate` prints: every column with its unit, one binary
// convention (MiB/s beside WSS MiB, not decimal MB/s), an estimate's bound in
// pages/s as the figure is (not a share of it), and no empty per-vCPU table.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <chrono>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "support/background_process.hpp"
#include "support/bpf_objects.hpp"
#include "support/json_lines.hpp"
#include "support/paced_writer_child.hpp"
#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::json_lines;
using dtrack_test::run;
using nlohmann::json;

namespace {

std::string rate(pid_t pid, const std::string& args) {
    return binary("dtrack") + " rate -p " + std::to_string(pid) + " " + args + " 2>&1";
}

// The lines of a run's table: "   0.2s ...".
std::vector<std::string> interval_lines(const std::string& output) {
    static const std::regex interval_line(R"(^ *[0-9]+\.[0-9]s +[0-9.]+[kM]? .*)");
    std::vector<std::string> lines;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);)
        if (std::regex_match(line, interval_line)) lines.push_back(line);
    return lines;
}

// --bound 2% is 2% of the pages present: as a share of a figure of 2000
// pages/s it printed "est +-7%" (or +-70% for a tenth of it). In pages/s it
// means the same whatever the figure.
TEST(RateTable, LabelsEveryColumnWithItsUnitAndGivesTheBoundInPagesPerSecond) {
    dtrack_test::PacedWriterChild child({{"writer", 2000}});
    if (!child.failure().empty()) GTEST_SKIP() << "the writing child cannot run here: " << child.failure();
    const auto text = run(rate(child.pid(), "--method sample 0.3 2"));
    ASSERT_EQ(text.exit_code, 0) << text.output;
    EXPECT_NE(text.output.find("   time   pages/s    MiB/s   WSS MiB figure"), std::string::npos) << text.output;
    EXPECT_EQ(text.output.find("MB/s"), std::string::npos) << "one convention, binary: " << text.output;
    EXPECT_NE(text.output.find("est +-N/s: an estimate's 95% bound, in pages/s as the figure; the sample is sized "
                               "for --bound, a share of the pages present"),
              std::string::npos)
        << text.output;
    const auto lines = interval_lines(text.output);
    ASSERT_EQ(lines.size(), 2u) << text.output;
    static const std::regex bound(R"( est \+-[0-9.]+[kM]?/s )");
    for (const std::string& line : lines) {
        EXPECT_TRUE(std::regex_search(line, bound)) << line;
        EXPECT_EQ(line.find('%'), std::string::npos) << line;
    }

    const auto j = run(rate(child.pid(), "--method sample -j 0.3 2"));
    ASSERT_EQ(j.exit_code, 0) << j.output;
    const auto intervals = json_lines(j.output);
    ASSERT_EQ(intervals.size(), 2u) << j.output;
    for (const json& in : intervals) {
        ASSERT_TRUE(in.contains("bound_pages_per_s")) << in.dump();
        EXPECT_DOUBLE_EQ(in["bound_pages_per_s"].get<double>(),
                         in["bound_pages"].get<double>() / in["interval_s"].get<double>())
            << in.dump();
        EXPECT_DOUBLE_EQ(in["written"]["bound_pages_per_s"].get<double>(), in["bound_pages_per_s"].get<double>())
            << in.dump();
    }
}

// A process whose threads dirty nothing printed a table head and "(1 more
// threads dirtied nothing)" under every interval: now one line, once.
TEST(RateTable, AQuotaOnAProcessWhoseThreadsDirtyNothingPrintsNoEmptyVcpuTable) {
    DTRACK_REQUIRE_BPF();
    dtrack_test::BackgroundProcess idle("sleep 60");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto r = run(rate(idle.pid(), "--method sample --quota 1000 0.2 3"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    ASSERT_EQ(interval_lines(r.output).size(), 3u) << r.output;
    EXPECT_EQ(r.output.find("quota\n"), std::string::npos) << "no table head: " << r.output;
    EXPECT_EQ(r.output.find("dirtied nothing"), std::string::npos) << r.output;
    const std::string none = "(no vCPU thread dirtied a page, so none is over the quota";
    const size_t at = r.output.find(none);
    ASSERT_NE(at, std::string::npos) << r.output;
    EXPECT_EQ(r.output.find(none, at + 1), std::string::npos) << "said more than once: " << r.output;
    EXPECT_NE(r.output.find("over the quota of 1.0k pages/s: no vCPU"), std::string::npos) << r.output;
}

}  // namespace
