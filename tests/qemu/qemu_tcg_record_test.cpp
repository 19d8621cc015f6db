// record -> report -> simulate on QEMU under TCG, a VMM dtrack did not write,
// by page hashing: its guest (tests/qemu/dirtying_guest.S) rewrites the same
// 8192 pages (32 MiB) in every interval, so the recording's rate and working
// set have a known answer, and the simulation of it must run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "support/qemu_guest.hpp"
#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::kQemuGuestDirtyPages;
using dtrack_test::kQemuOwnPages;
using dtrack_test::QemuGuest;
using dtrack_test::run;

namespace {

TEST(QemuTcg, RecordReportAndSimulateItsGuestBySampling) {
    DTRACK_REQUIRE_QEMU();
    const std::string file = "/tmp/dtrack-qemu-" + std::to_string(::getpid()) + ".dtz";
    {
        QemuGuest qemu;
        const auto rec = run(binary("dtrack") + " record --pid " + std::to_string(qemu.pid()) +
                             " --method sample --interval 250ms --duration 2s -o " + file + " 2>&1");
        ASSERT_EQ(rec.exit_code, 0) << rec.output;
    }
    const auto rep = run(binary("dtrack") + " report --json " + file);
    ASSERT_EQ(rep.exit_code, 0) << rep.output;
    const auto j = nlohmann::json::parse(rep.output);
    EXPECT_TRUE(j["estimated"].get<bool>());
    EXPECT_EQ(j["dropped_intervals"], 0);
    ASSERT_GE(j["rate"].size(), 6u) << rep.output;
    // QEMU's own writes and the fixed sample's miss (it repeats every
    // interval: twice the 95% bound, as RateAccuracy allows) aside, every
    // interval is the guest's 8192 pages, and so is the whole run's set.
    for (const auto& point : j["rate"]) {
        const double bound = 2 * point.value("bound_pages", 0.0);
        EXPECT_GE(point["pages"].get<double>(), kQemuGuestDirtyPages - bound) << point.dump();
        EXPECT_LE(point["pages"].get<double>(), kQemuGuestDirtyPages + kQemuOwnPages + bound) << point.dump();
    }
    const auto& run_window = j["working_set"].back();
    EXPECT_GT(run_window["max_pages"].get<double>(), 0.75 * kQemuGuestDirtyPages) << run_window.dump();
    EXPECT_LT(run_window["max_pages"].get<double>(), 1.25 * kQemuGuestDirtyPages) << run_window.dump();

    const auto sim = run(binary("dtrack") + " simulate --trace " + file + " --bandwidth 100M --auto-converge 2>&1");
    EXPECT_EQ(sim.exit_code, 0) << sim.output;
    EXPECT_NE(sim.output.find("converges"), std::string::npos) << sim.output;
    std::remove(file.c_str());
}

}  // namespace
