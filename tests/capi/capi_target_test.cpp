// dt_target_*: what `dtrack rate` does, through the C ABI, on real processes:
// a process without KVM is measured by hashing its pages; a dtvm guest with
// the dirty ring gets the kernel's exact figure while it logs; bad input is
// refused with the cause and the fix, and attaches nothing.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "dtrack/dtrack.h"
#include "support/background_process.hpp"
#include "support/backends.hpp"
#include "support/bpf_objects.hpp"
#include "support/run_command.hpp"

namespace {

constexpr uint64_t kChildPages = 512;

// A child that rewrites the first word of each of kChildPages pages, over and over.
pid_t start_writing_child() {
    const pid_t child = ::fork();
    if (child == 0) {
        auto* p = static_cast<volatile uint64_t*>(
            ::mmap(nullptr, kChildPages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        for (uint64_t pass = 1;; ++pass) {
            for (uint64_t i = 0; i < kChildPages; ++i) p[i * 512] = pass;
            ::usleep(1000);
        }
    }
    return child;
}

struct Child {
    pid_t pid = start_writing_child();
    ~Child() {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
};

dt_target_interval sample_after(dt_target* t, std::chrono::milliseconds wait) {
    std::this_thread::sleep_for(wait);
    dt_target_interval in{.sz = sizeof in};
    EXPECT_EQ(dt_target_sample(t, &in), 0) << dt_last_error();
    return in;
}

TEST(CApiTarget, AProcessWithoutKvmIsMeasuredByHashingItsPagesExactlyWithExactSampling) {
    DTRACK_REQUIRE_BPF();
    Child child;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const dt_target_opts opts{.sz = sizeof opts, .method = DT_MEASURE_AUTO, .exact_sampling = true};
    dt_target* t = nullptr;
    ASSERT_EQ(dt_target_open(child.pid, &opts, &t), 0) << dt_last_error();
    ASSERT_EQ(dt_target_start(t), 0) << dt_last_error();
    for (int i = 0; i < 2; ++i) {
        const dt_target_interval in = sample_after(t, std::chrono::milliseconds(300));
        EXPECT_EQ(in.figure, DT_FIGURE_WRITTEN);
        EXPECT_TRUE(in.exact);
        EXPECT_TRUE(in.trusted);
        EXPECT_EQ(in.evidence, DT_EVIDENCE_NONE);
        EXPECT_FALSE(in.has_vmm_dirty);
        EXPECT_TRUE(in.has_written);
        // Every page it rewrote, and only a few of its own (stack, libc).
        EXPECT_GE(in.pages, double(kChildPages));
        EXPECT_LE(in.pages, double(kChildPages) + 16);
        EXPECT_NE(std::string(in.why).find("no KVM VM"), std::string::npos) << in.why;
    }
    dt_target_destroy(t);
}

TEST(CApiTarget, ADirtyRingVmThatLogsGetsTheKernelsExactFigureAndTheHashedOneBesideIt) {
    DTRACK_REQUIRE_KVM();
    DTRACK_REQUIRE_BPF();
    // Every write a newly dirtied page, 5k a second on each of 2 vCPUs.
    dtrack_test::BackgroundProcess dtvm(dtrack_test::binary("dtvm") +
                                        " --mem 512M --vcpus 2 --workload sequential --wss 480M --rate 5k"
                                        " --exit-every 64 --track ring --duration 30s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    dt_target* t = nullptr;
    ASSERT_EQ(dt_target_open(dtvm.pid(), nullptr, &t), 0) << dt_last_error();
    ASSERT_EQ(dt_target_start(t), 0) << dt_last_error();
    const dt_target_interval in = sample_after(t, std::chrono::seconds(2));
    EXPECT_EQ(in.figure, DT_FIGURE_VMM_DIRTY) << in.why;
    EXPECT_TRUE(in.exact);
    EXPECT_EQ(in.logging, DT_LOGGING_RING);
    EXPECT_EQ(in.evidence, DT_EVIDENCE_KERNEL);
    EXPECT_EQ(in.memslots_logging, 3u);
    EXPECT_TRUE(in.has_vmm_dirty);
    EXPECT_TRUE(in.has_written);
    EXPECT_EQ(in.pages, in.vmm_dirty_pages);
    EXPECT_NEAR(in.pages / in.seconds, 10000, 0.05 * 10000);
    // The hashed figure of the same interval, within its bound and the guest's pacing.
    EXPECT_NEAR(in.written_pages, in.vmm_dirty_pages, 2 * in.written_bound_pages + 0.05 * in.vmm_dirty_pages);
    dt_target_destroy(t);
}

TEST(CApiTarget, BadInputIsRefusedWithTheCauseAndTheFixAndAttachesNothing) {
    DTRACK_REQUIRE_BPF();
    Child child;
    const int before = dtrack_test::open_bpf_objects();
    dt_target* t = nullptr;
    const auto refused = [&](int rc, int err, const char* cause) {
        EXPECT_EQ(rc, -err) << dt_last_error();
        EXPECT_NE(std::string(dt_last_error()).find(cause), std::string::npos) << dt_last_error();
        EXPECT_STRNE(dt_last_error_fix(), "") << dt_last_error();
        EXPECT_EQ(t, nullptr);
    };
    refused(dt_target_open(child.pid, nullptr, nullptr), EINVAL, "`out` is NULL");
    dt_target_opts opts{.sz = sizeof opts, .method = 7};
    refused(dt_target_open(child.pid, &opts, &t), EINVAL, "method is 7");
    opts = {.sz = sizeof opts, .max_error = 2};
    refused(dt_target_open(child.pid, &opts, &t), EINVAL, "max_error");
    opts = {.sz = 0};
    refused(dt_target_open(child.pid, &opts, &t), EINVAL, "sz is 0");
    refused(dt_target_open(0, nullptr, &t), EINVAL, "not a process id");
    refused(dt_target_open(dtrack_test::gone_pid(), nullptr, &t), ESRCH, "no process");
    // A process without KVM has no kernel record to ask for.
    opts = {.sz = sizeof opts, .method = DT_MEASURE_KERNEL};
    refused(dt_target_open(child.pid, &opts, &t), EINVAL, "runs no KVM VM");
    EXPECT_EQ(dtrack_test::open_bpf_objects(), before);
    dt_target_interval in{.sz = 0};
    EXPECT_EQ(dt_target_sample(nullptr, &in), -EINVAL);
}

}  // namespace
