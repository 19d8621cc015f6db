// QEMU under KVM, a VMM dtrack did not write, in both of its dirty-tracking
// modes (the dirty bitmap, its default, and the dirty ring), idle and
// migrating to a second QEMU over loopback. The guest is
// tests/qemu/native_guest.S: it runs natively even on a PVM host (long mode,
// ring 3), so its 16384 pages are rewritten thousands of times a second and
// a dirty ring fills the way the kernel documents, which an emulated guest's
// does not (DESIGN.md, "Environment facts").
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "sources/tracefs_mount.hpp"
#include "support/json_lines.hpp"
#include "support/qemu_vm.hpp"
#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::json_lines;
using dtrack_test::kNativeGuestDirtyPages;
using dtrack_test::kNativeGuestPassesPerMark;
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

// kvm:kvm_emulate_insn events of `pid`'s threads over `window`, through a
// tracefs instance of our own (the global buffer and other users' events stay
// as they were). -1 and `why` set where tracefs cannot be used here.
long emulated_instructions(pid_t pid, std::chrono::milliseconds window, std::string& why) {
    // Mounted where it is mounted nowhere, as dtrack's tp/ programs do.
    const auto place = dtrack::ensure_tracefs();
    if (!place) {
        why = place.error().message();
        return -1;
    }
    const std::string tracefs = place->path;
    if (::access((tracefs + "/instances").c_str(), W_OK) != 0) {
        why = "tracefs is not writable at " + tracefs + " (remount it read-write)";
        return -1;
    }
    const std::string instance = tracefs + "/instances/dtrack-qemu-" + std::to_string(::getpid());
    if (::mkdir(instance.c_str(), 0755) != 0) {
        why = "cannot create " + instance;
        return -1;
    }
    const std::string enable = instance + "/events/kvm/kvm_emulate_insn/enable";
    std::set<std::string> tids;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task"))
        tids.insert(task.path().filename().string());
    const auto write_file = [](const std::string& path, const char* text) { std::ofstream{path} << text; };
    long count = 0;
    const int pipe = ::open((instance + "/trace_pipe").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    write_file(enable, "1");
    if (pipe >= 0) {
        // Lines read "  comm-TID  [cpu] flags  time: kvm_emulate_insn: ...".
        std::string pending;
        const auto until = Clock::now() + window;
        while (Clock::now() < until) {
            pollfd p{pipe, POLLIN, 0};
            ::poll(&p, 1, 50);
            char buf[65536];
            const ssize_t n = ::read(pipe, buf, sizeof buf);
            if (n > 0) pending.append(buf, static_cast<std::size_t>(n));
            for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos; pending.erase(0, eol + 1)) {
                const std::string line = pending.substr(0, eol);
                // The tid ends the "comm-TID" word before " [cpu]" (comm may hold dashes).
                const std::size_t cpu = line.find(" [");
                if (cpu == std::string::npos) continue;
                const std::size_t tid_end = line.find_last_not_of(' ', cpu) + 1;
                const std::size_t dash = line.rfind('-', tid_end);
                if (dash != std::string::npos && tids.count(line.substr(dash + 1, tid_end - dash - 1))) ++count;
            }
        }
        ::close(pipe);
    }
    write_file(enable, "0");
    ::rmdir(instance.c_str());
    return count;
}

std::string mode_name(uint32_t ring) { return ring == 0 ? "Bitmap" : "Ring" + std::to_string(ring); }

class QemuKvm : public ::testing::TestWithParam<uint32_t> {};

TEST_P(QemuKvm, ExactHashingReportsEveryPageTheNativeGuestWroteInEveryInterval) {
    DTRACK_REQUIRE_QEMU_KVM();
    QemuVm qemu(QemuVmOptions{.dirty_ring_size = GetParam()});
    expect_exact_intervals_show_the_guests_pages(qemu.pid(), 2);
}

// The proof that native_guest.S runs natively: once it loops, the only
// instructions KVM emulates for it are its '.' marks (an `out` each), where
// the emulated dirtying_guest.S costs hundreds of thousands a second.
TEST_P(QemuKvm, NativeGuestsLoopRunsWithoutTheInstructionEmulator) {
    DTRACK_REQUIRE_QEMU_KVM();
    QemuVm qemu(QemuVmOptions{.dirty_ring_size = GetParam()});
    const uint64_t marks_before = qemu.marks();
    std::string why;
    const long emulated = emulated_instructions(qemu.pid(), std::chrono::seconds(1), why);
    if (emulated < 0) GTEST_SKIP() << why;
    const uint64_t marks = qemu.marks() - marks_before;
    std::printf("  [%s] in 1 s: %ld emulated instructions, %lu marks (%.1f M page writes/s)\n",
                mode_name(GetParam()).c_str(), emulated, static_cast<unsigned long>(marks),
                marks * kNativeGuestPassesPerMark * kNativeGuestDirtyPages / 1e6);
    // Natively a pass takes well under a millisecond: many marks in 1 s.
    EXPECT_GE(marks, 4u);
    // One emulated `out` per mark, and a handful more for a mark in flight.
    EXPECT_LE(emulated, static_cast<long>(marks) + 5);
}

// The contrast, and the check that the count above can see anything: on a
// PVM host the 32-bit protected-mode guest runs under KVM's emulator (on a
// VMX/SVM host it runs natively, so there is nothing to contrast).
TEST(QemuKvmEmulated, ProtectedModeGuestRunsUnderTheInstructionEmulatorOnPvm) {
    DTRACK_REQUIRE_QEMU_KVM();
    if (::access("/sys/module/kvm_pvm", F_OK) != 0) GTEST_SKIP() << "KVM here is not PVM (no /sys/module/kvm_pvm)";
    QemuVm qemu(QemuVmOptions{.image = dtrack_test::QemuImage::emulated});
    std::string why;
    const long emulated = emulated_instructions(qemu.pid(), std::chrono::seconds(1), why);
    if (emulated < 0) GTEST_SKIP() << why;
    std::printf("  [emulated guest] in 1 s: %ld emulated instructions\n", emulated);
    EXPECT_GE(emulated, 100000);  // about 500k a second here
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
        // "setup" first (QEMU's first sync, its bitmaps), for longer on a cold machine.
        if (info.status == "setup") continue;
        ASSERT_EQ(info.status, "active") << info.reply.dump() << source.log();
    } while ((info.dirty_sync_count < 3 || info.dirty_pages_rate == 0) && Clock::now() < deadline);
    EXPECT_GE(info.dirty_sync_count, 3u) << info.reply.dump();
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
