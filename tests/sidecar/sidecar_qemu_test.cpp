// The sidecar beside QEMU, a VMM dtrack did not write: QEMU under TCG runs
// tests/qemu/dirtying_guest.S, which rewrites the same 8192 guest pages many
// times a second, so every harvest interval dirties those pages (plus the few
// QEMU writes itself), and the 10 s working set is those 32 MiB.
#include <gtest/gtest.h>

#include "sidecar/sidecar_process.hpp"
#include "support/qemu_guest.hpp"

using dtrack_test::kQemuGuestDirtyPages;
using dtrack_test::kQemuOwnPages;
using dtrack_test::QemuGuest;
using dtrack_test::ScrapeResult;
using dtrack_test::SidecarProcess;

namespace {

TEST(SidecarQemu, SampleCountersMatchTheGuestsDirtySetEveryInterval) {
    DTRACK_REQUIRE_QEMU();
    QemuGuest qemu;
    SidecarProcess sidecar("--pid " + std::to_string(qemu.pid()) + " --method sample");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::string target = "qemu-system-x86-" + std::to_string(qemu.pid());
    const std::vector<std::pair<std::string, std::string>> t{{"target", target}};
    const ScrapeResult a = sidecar.scrape_after_harvests(target, 1);
    const ScrapeResult b = sidecar.scrape_after_harvests(target, a.value("dtrack_harvests_total", t).value_or(0) + 4);
    ASSERT_EQ(b.status, 200) << sidecar.log();
    EXPECT_TRUE(b.has("dtrack_target_info", {{"target", target}, {"method", "sample"}, {"exact", "false"}})) << b.body;

    const double intervals = b.value("dtrack_harvests_total", t).value_or(0) - a.value("dtrack_harvests_total", t).value_or(0);
    const double pages = b.value("dtrack_dirty_pages_total", t).value_or(0) - a.value("dtrack_dirty_pages_total", t).value_or(0);
    // The sample is fixed for the run, so its miss repeats every interval:
    // twice the 95% bound, as RateAccuracy allows.
    const double bound = 2 * b.value("dtrack_estimate_bound_pages", t).value_or(0);
    ASSERT_GE(intervals, 4) << b.body;
    EXPECT_GT(bound, 0) << b.body;
    // Each interval: the guest's pages, within the bound.
    EXPECT_GE(pages / intervals, kQemuGuestDirtyPages - bound) << b.body;
    EXPECT_LE(pages / intervals, kQemuGuestDirtyPages + kQemuOwnPages + bound) << b.body;
    // The working set is the guest's 32 MiB, not QEMU's 128 MiB of RAM.
    const double working_set = b.value("dtrack_working_set_bytes", {{"target", target}, {"window", "10s"}}).value_or(0);
    EXPECT_GT(working_set, 0.75 * kQemuGuestDirtyPages * 4096) << b.body;
    EXPECT_LT(working_set, 1.25 * kQemuGuestDirtyPages * 4096) << b.body;
}

}  // namespace
