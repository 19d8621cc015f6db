// KVM_RESET_DIRTY_RINGS under signals. Newer kernels (this machine's 6.18)
// stop the reset walk when the calling thread has a signal pending, return
// success with the entries reset so far, and leave up to 64 of the pages
// just reset writable: their next writes would push nothing, lost. A VMM's
// harvesting threads get signals all the time (vCPU kicks, timers).
// KvmRingSource holds catchable signals back during the reset; a reset cut
// short all the same (SIGSTOP) is finished and handled as a jam.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <thread>

#include "support/backends.hpp"
#include "dtvm/tracking/oracle.hpp"

namespace {

// Interrupts `target` with a catchable signal every few microseconds.
class SignalRain {
public:
    explicit SignalRain(pthread_t target) : target_(target) {
        struct sigaction action {};
        action.sa_handler = [](int) {};  // no SA_RESTART: a syscall sees EINTR
        ::sigaction(SIGUSR2, &action, &previous_);
        thread_ = std::thread([this] {
            while (!stop_.load(std::memory_order_relaxed)) {
                ::pthread_kill(target_, SIGUSR2);
                sent_.fetch_add(1, std::memory_order_relaxed);
                std::this_thread::sleep_for(std::chrono::microseconds(20));
            }
        });
    }
    ~SignalRain() {
        stop_ = true;
        thread_.join();
        ::sigaction(SIGUSR2, &previous_, nullptr);
    }
    uint64_t sent() const { return sent_.load(); }

private:
    pthread_t target_;
    struct sigaction previous_ {};
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> sent_{0};
    std::thread thread_;
};

// What a run of check_epoch reports, summed over the epochs.
struct RunTotals {
    uint64_t epochs = 0, lost = 0, resets = 0, short_resets = 0, jams = 0, rearms = 0, signals = 0;
    char failure[200] = {};
};

// A guest with big rings and no reaper, so that each final sync resets tens
// of thousands of entries: a walk long enough for a signal to land in it.
// With `signal_rain`, catchable signals rain on this thread (the one that
// harvests) while the guest runs.
RunTotals run_epochs(int epochs, bool signal_rain) {
    RunTotals t;
    auto fail = [&](const std::string& why) {
        std::snprintf(t.failure, sizeof t.failure, "%s", why.c_str());
        return t;
    };
    auto tracking = dtvm::Tracking::create({.mem_bytes = 512ULL << 20, .slots = 2, .vcpus = 2},
                                           {.mode = dtvm::TrackMode::ring, .ring_entries = 65536, .reaper = false});
    if (!tracking) return fail("dtvm: " + tracking.error().message());
    dtvm::Vm& v = tracking.value()->vm();
    const uint64_t wss = v.workload_max_pages();
    if (auto s = v.start({.pattern = dtvm::Pattern::random, .wss_pages = wss, .exit_every = 4096}); !s)
        return fail("start: " + s.error().message());
    std::optional<SignalRain> rain;
    if (signal_rain) rain.emplace(::pthread_self());
    for (; t.epochs < uint64_t(epochs); ++t.epochs) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (!v.failure().empty()) return fail("the guest failed: " + v.failure());
        auto r = dtvm::check_epoch(*tracking.value(), wss);
        if (!r) return fail("check_epoch: " + r.error().message());
        t.lost += r->lost;
    }
    if (rain) t.signals = rain->sent();
    rain.reset();
    v.stop();
    const dtrack::KvmRingCounters rc = tracking.value()->ring()->ring_counters();
    t.resets = rc.resets;
    t.short_resets = rc.short_resets;
    t.jams = rc.jams;
    t.rearms = rc.rearms;
    return t;
}

void print(const RunTotals& t) {
    std::printf("  %llu epochs: %llu resets, %llu cut short, %llu jams, %llu re-arms, %llu pages lost\n",
                (unsigned long long)t.epochs, (unsigned long long)t.resets, (unsigned long long)t.short_resets,
                (unsigned long long)t.jams, (unsigned long long)t.rearms, (unsigned long long)t.lost);
}

TEST(RingReset, CatchableSignalsDoNotCutAResetShort) {
    DTRACK_REQUIRE_KVM();
    const RunTotals t = run_epochs(4, true);
    ASSERT_STREQ(t.failure, "");
    print(t);
    std::printf("  %llu signals sent to the harvesting thread\n", (unsigned long long)t.signals);
    EXPECT_GT(t.signals, 1000u);
    EXPECT_EQ(t.lost, 0u);
    EXPECT_EQ(t.short_resets, 0u) << "a signal reached the thread inside KVM_RESET_DIRTY_RINGS";
    EXPECT_EQ(t.jams, 0u);
}

// SIGSTOP cannot be held back. The run goes on in a child that the test
// stops and continues over and over; it must lose nothing, and each reset
// cut short must have re-protected all memory (a re-arm).
TEST(RingReset, AResetCutShortBySigstopLosesNothing) {
    DTRACK_REQUIRE_KVM();
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    RunTotals total;
    for (int attempt = 0; attempt < 5 && total.short_resets == 0; ++attempt) {
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            const RunTotals t = run_epochs(6, false);
            (void)!::write(pipe_fds[1], &t, sizeof t);
            ::_exit(0);
        }
        // Stop it for 200 us every 2 ms until it is done.
        int status = 0;
        while (::waitpid(child, &status, WNOHANG) == 0) {
            ::kill(child, SIGSTOP);
            std::this_thread::sleep_for(std::chrono::microseconds(200));
            ::kill(child, SIGCONT);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child died, status " << status;
        RunTotals t;
        ASSERT_EQ(::read(pipe_fds[0], &t, sizeof t), ssize_t(sizeof t));
        ASSERT_STREQ(t.failure, "");
        print(t);
        EXPECT_EQ(t.lost, 0u);
        EXPECT_GE(t.rearms, t.jams);
        EXPECT_GE(t.jams, t.short_resets ? 1u : 0u) << "a reset cut short must be handled as a jam";
        total.short_resets += t.short_resets;
    }
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    if (total.short_resets == 0)
        GTEST_SKIP() << "no reset was cut short: this kernel predates KVM's 2025 bail-out on pending signals";
}

// The signals a VMM's threads get must not fail its setup either: dtvm
// retries KVM_CREATE_VM when a signal interrupts it.
TEST(RingReset, VmCreationSurvivesSignals) {
    DTRACK_REQUIRE_KVM();
    SignalRain rain(::pthread_self());
    for (int i = 0; i < 200; ++i) {
        auto vm = dtvm::Vm::create({.mem_bytes = 16ULL << 20, .slots = 1, .vcpus = 1});
        ASSERT_TRUE(vm.ok()) << "VM " << i << ": " << vm.error().message();
    }
}

}  // namespace
