// QEMU under KVM, a VMM dtrack did not write, in both of its dirty-tracking
// modes (the dirty bitmap, its default, and the dirty ring), idle and
// migrating to a second QEMU over loopback. The guest is
// tests/qemu/native_guest.S: it runs natively even on a PVM host (long mode,
// ring 3), so its 16384 pages are rewritten thousands of times a second and
// a dirty ring fills the way the kernel documents, which an emulated guest's
// does not (DESIGN.md, "Environment facts").
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "support/json_lines.hpp"
#include "support/qemu_vm.hpp"
#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::json_lines;
using dtrack_test::kNativeGuestDirtyPages;
using dtrack_test::MigrationInfo;
using dtrack_test::QemuVm;
using dtrack_test::QemuVmOptions;
using dtrack_test::run;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

// What QEMU itself writes in a 1 s interval beside its guest (timers, its
// heap, the migration thread's buffers): a margin for the checks, not a
// figure under test.
constexpr double kQemuKvmOwnPages = 0.08 * kNativeGuestDirtyPages;
// Slow enough that a 64 MiB working set rewritten all the time never
// converges: the migration stays active until it is cancelled.
constexpr uint64_t kMigrationBandwidth = 32ULL << 20;

std::vector<json> rate_intervals(pid_t pid, const std::string& args) {
    const auto r = run(binary("dtrack") + " rate --pid " + std::to_string(pid) + " --json " + args + " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return json_lines(r.output);
}

// Every 1 s interval of exact hashing sees all of the guest's pages and
// little else.
void expect_exact_intervals_show_the_guests_pages(pid_t pid, int count) {
    const std::vector<json> intervals =
        rate_intervals(pid, "--method sample --exact --interval 1s --count " + std::to_string(count));
    ASSERT_EQ(intervals.size(), static_cast<std::size_t>(count));
    for (const json& j : intervals) {
        const std::string line = j.dump();
        EXPECT_TRUE(j["exact"].get<bool>()) << line;
        EXPECT_GE(j["distinct_pages"].get<double>(), kNativeGuestDirtyPages) << line;
        EXPECT_LE(j["distinct_pages"].get<double>(), kNativeGuestDirtyPages + kQemuKvmOwnPages) << line;
    }
}

std::string mode_name(uint32_t ring) { return ring == 0 ? "Bitmap" : "Ring" + std::to_string(ring); }

class QemuKvm : public ::testing::TestWithParam<uint32_t> {};

TEST_P(QemuKvm, ExactHashingReportsEveryPageTheNativeGuestWroteInEveryInterval) {
    DTRACK_REQUIRE_QEMU_KVM();
    QemuVm qemu(QemuVmOptions{.dirty_ring_size = GetParam()});
    expect_exact_intervals_show_the_guests_pages(qemu.pid(), 3);
}

TEST_P(QemuKvm, CappedMigrationStaysActiveSyncsAndReportsARateThenCancelLeavesTheGuestWriting) {
    DTRACK_REQUIRE_QEMU_KVM();
    QemuVm source(QemuVmOptions{.dirty_ring_size = GetParam()});
    QemuVm destination(QemuVmOptions{.dirty_ring_size = GetParam(), .incoming = true});
    source.migrate_to(destination, kMigrationBandwidth);

    // A few dirty-log syncs, each with the rate of the period before it.
    MigrationInfo info;
    const auto deadline = Clock::now() + std::chrono::seconds(40);
    do {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        info = source.query_migrate();
        ASSERT_EQ(info.status, "active") << info.reply.dump() << source.log();
    } while ((info.dirty_sync_count < 4 || info.dirty_pages_rate == 0) && Clock::now() < deadline);
    EXPECT_GE(info.dirty_sync_count, 4u) << info.reply.dump();
    EXPECT_GT(info.dirty_pages_rate, 0u) << info.reply.dump();
    ::testing::Test::RecordProperty("dirty_pages_rate", std::to_string(info.dirty_pages_rate));
    std::printf("  [%s] query-migrate after %lu syncs: %s\n", mode_name(GetParam()).c_str(),
                static_cast<unsigned long>(info.dirty_sync_count), info.reply.dump().c_str());

    source.migrate_cancel();
    const auto cancel_deadline = Clock::now() + std::chrono::seconds(10);
    while ((info = source.query_migrate()).status != "cancelled" && Clock::now() < cancel_deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(info.status, "cancelled") << info.reply.dump();
    EXPECT_EQ(source.run_state(), "running");
    // The guest never stopped: it still rewrites its pages, all of them.
    expect_exact_intervals_show_the_guests_pages(source.pid(), 2);
}

INSTANTIATE_TEST_SUITE_P(, QemuKvm, ::testing::Values(0u, 4096u),
                         [](const ::testing::TestParamInfo<uint32_t>& p) { return mode_name(p.param); });

}  // namespace
