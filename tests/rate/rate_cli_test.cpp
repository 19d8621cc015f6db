// `dtrack rate --pid $(pidof dtvm)` as an operator runs it: exact per-vCPU
// rates matching what dtvm's guest is set to write, and clear answers for
// every kind of bad target.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <atomic>
#include <sstream>
#include <vector>
#include <thread>

#include "support/background_process.hpp"
#include "support/json_lines.hpp"
#include "support/backends.hpp"
#include "support/run_command.hpp"
#include "support/sanitizers.hpp"

using Background = dtrack_test::BackgroundProcess;
using dtrack_test::binary;
using dtrack_test::json_lines;
using dtrack_test::run;
using nlohmann::json;

namespace {

std::string rate(pid_t pid, const std::string& args) {
    return binary("dtrack") + " rate --pid " + std::to_string(pid) + " " + args + " 2>&1";
}

TEST(RateCli, DtvmPerVcpuRatesMatchItsWorkload) {
    DTRACK_REQUIRE_KVM();
    // Each vCPU writes 5k pages/s sequentially over a part larger than an
    // interval covers: every write is a newly dirtied page. A modest rate,
    // which a vCPU keeps up also when other work loads both cores, paced
    // every 64 writes (the pacer works in bursts of exit-every writes).
    Background dtvm(binary("dtvm") + " --mem 512M --vcpus 2 --workload sequential --wss 480M --rate 5k --exit-every 64"
                                     " --track ring --duration 30s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const auto r = run(rate(dtvm.pid(), "--json --interval 2s --count 4"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::vector<json> intervals = json_lines(r.output);
    for (const json& j : intervals) {
        const std::string line = j.dump();
        EXPECT_EQ(j["method"], "bpf");
        EXPECT_TRUE(j["exact"].get<bool>());
        ASSERT_EQ(j["vcpu_pages_per_s"].size(), 2u) << line;
        EXPECT_EQ(j["lost"], 0);
        if (dtrack_test::kSanitized) continue;
        EXPECT_NEAR(j["pages_per_s"].get<double>(), 10000, 0.02 * 10000) << line;
        for (const json& v : j["vcpu_pages_per_s"]) EXPECT_NEAR(v.get<double>(), 5000, 0.02 * 5000) << line;
    }
    EXPECT_EQ(intervals.size(), 4u);
    if (dtrack_test::kSanitized) GTEST_SKIP() << dtrack_test::kRatesNotCheckedWhenSanitized;
}

TEST(RateCli, SamplingAProcessBackendDtvmMatchesItsWorkloadWithinTheBound) {
    DTRACK_REQUIRE_BACKEND(dtvm::Backend::process);
    if (dtrack_test::kSanitized)
        GTEST_SKIP() << "a sanitized dtvm maps terabytes of sanitizer shadow and writes it: sampling it would "
                        "measure the sanitizer, not the guest";
    // No KVM in the target: page hashing is the method that works on it.
    Background dtvm(binary("dtvm") + " --backend process --mem 512M --vcpus 2 --workload sequential --wss 480M"
                                     " --rate 20k --duration 30s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const auto r = run(rate(dtvm.pid(), "--method sample --json --interval 2s --count 3"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::vector<json> intervals = json_lines(r.output);
    for (const json& j : intervals) {
        const std::string line = j.dump();
        EXPECT_FALSE(j["exact"].get<bool>());
        EXPECT_GT(j["present_pages"].get<double>(), 0) << line;
        // Distinct pages over the interval against 2 x 20k new pages/s, inside the
        // stated 95% bound (plus 2% for the interval's edges).
        const double truth = 40000 * j["interval_s"].get<double>();
        EXPECT_NEAR(j["distinct_pages"].get<double>(), truth, j["bound_pages"].get<double>() + 0.02 * truth) << line;
    }
    EXPECT_EQ(intervals.size(), 3u);
}

TEST(RateCli, SampleWorksOnAnyProcess) {
    Background idle("sleep 60");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto r = run(rate(idle.pid(), "--method sample --interval 200ms --count 2"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("method sample"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("est"), std::string::npos) << "sampling must be labelled an estimate: " << r.output;
}

TEST(RateCli, AutoExplainsItsChoice) {
    Background idle("sleep 60");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto r = run(rate(idle.pid(), "--interval 200ms --count 1"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("auto: pid"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("runs no KVM VM"), std::string::npos) << r.output;
}

TEST(RateCli, BadTargetsGetAClearMessageAndExitCode2) {
    Background idle("sleep 60");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const struct {
        std::string command, says;
    } cases[] = {
        {rate(999999, ""), "no process 999999"},
        {rate(idle.pid(), "--method bpf"), "runs no KVM VM"},
        {rate(idle.pid(), "--method uffd"), "there is no --method uffd"},
        {rate(idle.pid(), "--method psychic"), "use auto, bpf or sample"},
        {rate(idle.pid(), "--interval never"), "'never' is not a duration"},
        {rate(idle.pid(), "--interval 1e10"), "--interval: '1e10' is too large: at most 292 years"},
        {rate(idle.pid(), "--downtime 1e99"), "--downtime: '1e99' is too large"},
        {rate(idle.pid(), "--bandwidth 1e30"), "--bandwidth: '1e30' is too large: at most 16 EiB"},
        {rate(idle.pid(), "--memory 1e30"), "--memory: '1e30' is too large"},
        {rate(idle.pid(), "--method sample --bound 0"), "--bound 0 is not a share"},
        {binary("dtrack") + " rate 2>&1", "--pid"},
    };
    for (const auto& c : cases) {
        const auto r = run(c.command);
        EXPECT_EQ(r.exit_code, 2) << c.command << ": " << r.output;
        EXPECT_NE(r.output.find(c.says), std::string::npos) << c.command << " printed: " << r.output;
    }
}

// A thread id (a vCPU thread from `top -H`) passes kill(tid, 0) and has a
// /proc entry, but measuring it would watch nothing: refused, naming the process.
TEST(RateCli, AThreadIdIsRefusedNamingItsProcess) {
    std::atomic<pid_t> tid{0};
    std::atomic<bool> done{false};
    std::thread t([&] {
        tid = pid_t(::syscall(SYS_gettid));
        while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
    while (tid == 0) std::this_thread::yield();
    for (const char* method : {"sample", "bpf", "auto"}) {
        const auto r = run(rate(tid, std::string("--method ") + method + " --count 1 --interval 100ms"));
        EXPECT_EQ(r.exit_code, 2) << method << ": " << r.output;
        EXPECT_NE(r.output.find("is a thread of process " + std::to_string(::getpid())), std::string::npos)
            << method << ": " << r.output;
    }
    done = true;
    t.join();
}

// Inside a PID namespace of its own, dtrack's PIDs are not the ones the
// kernel's tracepoints carry: BPF is refused with the reason, sampling works.
TEST(RateCli, InAPidNamespaceBpfIsRefusedAndSamplingWorks) {
    const std::string in_ns = "unshare -p -f --mount-proc sh -c 'sleep 30 & ";
    const auto bpf = run(in_ns + "exec " + binary("dtrack") + " rate --pid $! --method bpf --count 1' 2>&1");
    if (bpf.output.find("unshare:") != std::string::npos) GTEST_SKIP() << "cannot make a PID namespace: " << bpf.output;
    EXPECT_EQ(bpf.exit_code, 2) << bpf.output;
    EXPECT_NE(bpf.output.find("PID namespace of its own"), std::string::npos) << bpf.output;
    const auto sample = run(in_ns + "exec " + binary("dtrack") +
                            " rate --pid $! --method sample --count 1 --interval 200ms' 2>&1");
    EXPECT_EQ(sample.exit_code, 0) << sample.output;
}

TEST(RateCli, VmWithoutDirtyRingIsNamed) {
    DTRACK_REQUIRE_KVM();
    Background dtvm(binary("dtvm") + " --mem 64M --wss 16M --track log --duration 30s");
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    const auto r = run(rate(dtvm.pid(), "--method bpf --count 1"));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("without the dirty ring"), std::string::npos) << r.output;
}

TEST(RateCli, TargetGoneMidRunEndsCleanly) {
    auto* idle = new Background("sleep 60");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    // The pid is read before the killer starts: once it runs, idle may be gone.
    const pid_t pid = idle->pid();
    std::thread killer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(700));
        delete idle;
    });
    const auto r = run(rate(pid, "--method sample --interval 200ms --count 50"));
    killer.join();
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("exited; run ended"), std::string::npos) << r.output;
}

}  // namespace
