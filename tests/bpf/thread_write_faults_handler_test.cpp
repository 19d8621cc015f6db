// The handler of bpf/thread_write_faults.bpf.c, run on made-up
// page_fault_user arguments through BPF_PROG_TEST_RUN: the program is loaded
// but never attached, so only the test's own input reaches it. A test run
// executes in the calling thread, so the handler sees the test's process and
// the calling thread's id.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "sources/thread_write_faults_program.hpp"
#include "support/bpf_objects.hpp"
#include "support/bpf_test_run.hpp"

namespace {

using dtrack::ThreadWriteFaultsProgram;

constexpr uint64_t x86_pf_user = 1 << 2, x86_pf_write = 1 << 1;
constexpr uint64_t address = 0x7f0000001000;

pid_t this_thread() { return pid_t(::syscall(SYS_gettid)); }

class ThreadWriteFaultsHandler : public testing::Test {
protected:
    void SetUp() override { DTRACK_REQUIRE_BPF(); }

    // Loads (without attaching) the raw_tp program, aimed at process `tgid`
    // and the faults in `ranges` (none: all).
    std::unique_ptr<ThreadWriteFaultsProgram> load(pid_t tgid, uint32_t max_threads = 64,
                                                   const std::vector<dtrack_fault_range>& ranges = {}) {
        return dtrack_test::load_for_test_runs(ThreadWriteFaultsProgram::open(), [&](ThreadWriteFaultsProgram& p) {
            return p.configure(tgid, max_threads, dtrack::HookFamily::raw_tracepoint, ranges);
        });
    }

    // One page_fault_user(at, regs, error_code) in the calling thread.
    // False when the kernel cannot test-run raw_tp programs.
    bool fault(ThreadWriteFaultsProgram& program, uint64_t error_code, uint64_t at = address) {
        return dtrack_test::test_run_raw_tp(program.program_fd(), {at, 0, error_code}, no_test_run_);
    }

    // Faults in a thread of its own; returns that thread's id.
    pid_t fault_in_another_thread(ThreadWriteFaultsProgram& program, uint64_t error_code, int times) {
        pid_t tid = 0;
        std::thread([&] {
            tid = this_thread();
            for (int i = 0; i < times; ++i) fault(program, error_code);
        }).join();
        return tid;
    }

    bool no_test_run_ = false;
};

#define FAULT_OR_SKIP(call) RAW_TP_RUN_OR_SKIP(call, no_test_run_)

using Counts = std::map<pid_t, uint64_t>;

TEST_F(ThreadWriteFaultsHandler, WriteFaultsCountUnderTheFaultingThreadReadFaultsNot) {
    auto program = load(::getpid());
    ASSERT_TRUE(program);
    FAULT_OR_SKIP(fault(*program, x86_pf_user | x86_pf_write));
    FAULT_OR_SKIP(fault(*program, x86_pf_user | x86_pf_write));
    FAULT_OR_SKIP(fault(*program, x86_pf_user));  // a read fault
    FAULT_OR_SKIP(fault(*program, 0));            // a read of a page not present
    const pid_t other = fault_in_another_thread(*program, x86_pf_user | x86_pf_write, 3);
    EXPECT_EQ(program->counts(), (Counts{{this_thread(), 2}, {other, 3}}));
    EXPECT_EQ(program->count(this_thread()), 2u);
    EXPECT_EQ(program->count(other), 3u);
    EXPECT_EQ(program->count(1), 0u) << "a thread with no write fault";
    EXPECT_EQ(program->totals().write_faults, 5u);
    EXPECT_EQ(program->totals().unattributed, 0u);
}

TEST_F(ThreadWriteFaultsHandler, AnotherProcesssFaultsAreNotCounted) {
    auto program = load(::getpid() + 1000000);
    ASSERT_TRUE(program);
    FAULT_OR_SKIP(fault(*program, x86_pf_user | x86_pf_write));
    EXPECT_TRUE(program->counts().empty());
    EXPECT_EQ(program->totals().write_faults, 0u);
}

TEST_F(ThreadWriteFaultsHandler, ThreadsAFullMapHasNoRoomForAreCountedAsUnattributed) {
    auto program = load(::getpid(), 1);
    ASSERT_TRUE(program);
    FAULT_OR_SKIP(fault(*program, x86_pf_user | x86_pf_write));
    fault_in_another_thread(*program, x86_pf_user | x86_pf_write, 2);
    FAULT_OR_SKIP(fault(*program, x86_pf_user | x86_pf_write));
    EXPECT_EQ(program->counts(), (Counts{{this_thread(), 2}})) << "the map holds one thread";
    EXPECT_EQ(program->totals().unattributed, 2u);
    EXPECT_EQ(program->totals().write_faults, 4u) << "every fault is counted, attributed or not";
}

// Given ranges, a write fault counts only at an address in one of them:
// their first byte in, the byte after their last out. The others are
// counted apart, so none goes uncounted.
TEST_F(ThreadWriteFaultsHandler, WithRangesOnlyWriteFaultsInsideThemCount) {
    const std::vector<dtrack_fault_range> ranges = {{0x10000, 0x20000}, {0x7f0000000000, 0x7f0000100000}};
    auto program = load(::getpid(), 64, ranges);
    ASSERT_TRUE(program);
    for (uint64_t at : {0x10000ul, 0x1ffffUL, 0x7f0000000000UL, 0x7f00000fffffUL})
        FAULT_OR_SKIP(fault(*program, x86_pf_user | x86_pf_write, at));
    for (uint64_t at : {0xffffUL, 0x20000UL, 0x7effffffffffUL, 0x7f0000100000UL, 0UL})
        FAULT_OR_SKIP(fault(*program, x86_pf_user | x86_pf_write, at));
    FAULT_OR_SKIP(fault(*program, x86_pf_user, 0x10000));  // a read fault inside
    EXPECT_EQ(program->counts(), (Counts{{this_thread(), 4}}));
    EXPECT_EQ(program->totals().write_faults, 9u);
    EXPECT_EQ(program->totals().outside_ranges, 5u);
}

// As many ranges as the program holds, each counted (the scan reaches the last).
TEST_F(ThreadWriteFaultsHandler, TheLastOfTheMostRangesTheProgramHoldsCounts) {
    std::vector<dtrack_fault_range> ranges;
    for (uint64_t i = 0; i < DTRACK_MAX_FAULT_RANGES; ++i) ranges.push_back({(i + 1) << 20, ((i + 1) << 20) + 4096});
    auto program = load(::getpid(), 64, ranges);
    ASSERT_TRUE(program);
    FAULT_OR_SKIP(fault(*program, x86_pf_user | x86_pf_write, ranges.back().begin));
    FAULT_OR_SKIP(fault(*program, x86_pf_user | x86_pf_write, ranges.back().end));
    EXPECT_EQ(program->count(this_thread()), 1u);
    EXPECT_EQ(program->totals().outside_ranges, 1u);
    ranges.push_back({1ULL << 40, (1ULL << 40) + 4096});
    auto opened = ThreadWriteFaultsProgram::open();
    ASSERT_TRUE(opened.ok());
    const dtrack::Status refused = (*opened)->configure(::getpid(), 64, dtrack::HookFamily::raw_tracepoint, ranges);
    ASSERT_FALSE(refused.ok()) << "one range more than the program holds";
    EXPECT_NE(refused.error().what.find("65 address ranges, more than the program's 64"), std::string::npos)
        << refused.error().what;
}

}  // namespace
