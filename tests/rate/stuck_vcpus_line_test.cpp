// What dtrack rate prints about stuck vCPUs (user/rate/stuck_vcpus_line.hpp).
#include <gtest/gtest.h>

#include "rate/stuck_vcpus_line.hpp"

namespace {

using namespace std::chrono_literals;
using dtrack::StuckVcpu;

TEST(StuckVcpusLine, SaysHowLongHowManyExitsAndWhatItMeans) {
    const std::vector<std::string> lines =
        dtrack::cli::stuck_vcpu_lines({{.vcpu = 0, .stuck_for = 12340ms, .full_exits_since = 150000}});
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0],
              "vCPU 0: stuck for 12.3 s: 150,000 ring-full exits and no ring reset (the VMM does not harvest its "
              "dirty ring; a jammed ring)");
}

TEST(StuckVcpusLine, OneLinePerStuckVcpuAndNoneWhenNoneIs) {
    EXPECT_TRUE(dtrack::cli::stuck_vcpu_lines({}).empty());
    const std::vector<std::string> lines =
        dtrack::cli::stuck_vcpu_lines({{.vcpu = 2, .stuck_for = 5s, .full_exits_since = 1},
                                       {.vcpu = 7, .stuck_for = 6s, .full_exits_since = 1234567}});
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("vCPU 2: stuck for 5.0 s: 1 ring-full exit and no ring reset"), std::string::npos)
        << lines[0];
    EXPECT_NE(lines[1].find("vCPU 7: stuck for 6.0 s: 1,234,567 ring-full exits"), std::string::npos) << lines[1];
}

TEST(StuckVcpusLine, JsonIsAnArrayOfVcpuSecondsAndExits) {
    EXPECT_EQ(dtrack::cli::stuck_vcpus_json({}).dump(), "[]");
    EXPECT_EQ(dtrack::cli::stuck_vcpus_json({{.vcpu = 1, .stuck_for = 12340ms, .full_exits_since = 150000}}).dump(),
              R"([{"ring_full_exits":150000,"stuck_s":12.3,"vcpu":1}])");
}

}  // namespace
