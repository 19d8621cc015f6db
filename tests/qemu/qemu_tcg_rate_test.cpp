// `dtrack rate` against QEMU, a VMM dtrack did not write: QEMU under TCG runs
// tests/qemu/dirtying_guest.S, which rewrites the same 8192 guest pages many
// times a second. Page hashing sees QEMU's guest RAM from outside, so every
// interval must show those pages (plus the little QEMU itself writes).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "support/json_lines.hpp"
#include "support/qemu_guest.hpp"
#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::json_lines;
using dtrack_test::kQemuGuestDirtyPages;
using dtrack_test::kQemuOwnPages;
using dtrack_test::QemuGuest;
using dtrack_test::run;
using nlohmann::json;

namespace {

std::vector<json> rate_intervals(pid_t pid, const std::string& args) {
    const auto r = run(binary("dtrack") + " rate --pid " + std::to_string(pid) + " --json " + args + " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return json_lines(r.output);
}

TEST(QemuTcg, ExactHashingReportsEveryPageTheGuestWroteInEveryInterval) {
    DTRACK_REQUIRE_QEMU();
    QemuGuest qemu;
    const std::vector<json> intervals = rate_intervals(qemu.pid(), "--method sample --exact --interval 1s --count 3");
    ASSERT_EQ(intervals.size(), 3u);
    for (const json& j : intervals) {
        const std::string line = j.dump();
        EXPECT_TRUE(j["exact"].get<bool>()) << line;
        // No lost page: all of the guest's pages, never fewer.
        EXPECT_GE(j["distinct_pages"].get<double>(), kQemuGuestDirtyPages) << line;
        EXPECT_LE(j["distinct_pages"].get<double>(), kQemuGuestDirtyPages + kQemuOwnPages) << line;
    }
}

TEST(QemuTcg, SampledRateMatchesTheGuestsDirtySetWithinTheBound) {
    DTRACK_REQUIRE_QEMU();
    QemuGuest qemu;
    const std::vector<json> intervals = rate_intervals(qemu.pid(), "--method sample --interval 1s --count 3");
    ASSERT_EQ(intervals.size(), 3u);
    for (const json& j : intervals) {
        const std::string line = j.dump();
        EXPECT_FALSE(j["exact"].get<bool>()) << line;
        // The sample is fixed for the run, so its miss is the same in every
        // interval: one run in twenty falls outside the 95% bound in all of
        // them. Twice the bound, as RateAccuracy allows.
        const double bound = 2 * j["bound_pages"].get<double>();
        EXPECT_GT(bound, 0) << line;
        EXPECT_GE(j["distinct_pages"].get<double>(), kQemuGuestDirtyPages - bound) << line;
        EXPECT_LE(j["distinct_pages"].get<double>(), kQemuGuestDirtyPages + kQemuOwnPages + bound) << line;
        // The working set is the guest's 32 MiB, not QEMU's 128 MiB reservation.
        EXPECT_LT(j["working_set_pages"].get<double>(), 1.25 * kQemuGuestDirtyPages) << line;
    }
}

}  // namespace
