// `dtrack rate --pid $(pidof dtvm)` as an operator runs it: exact per-vCPU
// rates matching what dtvm's guest is set to write, each vCPU against a
// --quota (ring entries on KVM, threads' write faults for a process), and
// clear answers for every kind of bad target and option.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <vector>
#include <thread>

#include "support/background_process.hpp"
#include "support/bpf_objects.hpp"
#include "support/json_lines.hpp"
#include "support/backends.hpp"
#include "support/paced_writer_child.hpp"
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

// A dtvm (--json, its intervals 1 s) and `dtrack rate ARGS` on it, started
// 1.5 s into dtvm's run: dtrack's JSON lines, and dtvm's after "-- dtvm".
struct RateBesideDtvm {
    dtrack_test::CommandResult run;
    std::vector<json> rate, dtvm;
};
RateBesideDtvm rate_beside_dtvm(const std::string& dtvm_args, const std::string& rate_args) {
    RateBesideDtvm r;
    r.run = run("d=$(mktemp -d); " + binary("dtvm") + " " + dtvm_args + " --json > $d/vm 2>&1 & v=$!; sleep 1.5; " +
                binary("dtrack") + " rate --pid $v " + rate_args + " 2>&1; echo \"exit $?\"; wait $v; " +
                "echo '-- dtvm'; cat $d/vm; rm -rf $d");
    const auto split = r.run.output.find("-- dtvm\n");
    if (split == std::string::npos) return r;
    r.rate = json_lines(r.run.output.substr(0, split));
    r.dtvm = json_lines(r.run.output.substr(split));
    return r;
}

// The paced guest both bpf tests measure: every write a newly dirtied page,
// 5k a second on each of 2 vCPUs, sequentially over a part larger than an
// interval covers, paced every 64 writes (the pacer works in bursts of
// exit-every writes); dtvm tracks it with `track`. dtrack rate --method bpf
// beside it, 3 intervals of 2 s.
RateBesideDtvm bpf_rate_beside_paced_guest(const std::string& track) {
    return rate_beside_dtvm("--mem 512M --vcpus 2 --workload sequential --wss 480M --rate 5k --exit-every 64 --track " +
                                track + " --duration 9s",
                            "--method bpf --json --interval 2s --count 3");
}

// What dtvm counted its guest writing, pages a second, in each of its
// intervals after the first (which holds the guest's start): in all, or
// vCPU `vcpu`'s. The truth for dtrack's figures: on a busy machine the paced
// vCPUs fall behind their rate, and dtrack must see that too. An interval
// of dtrack's averages the guest over seconds dtvm measured, so it lies
// between their least and greatest (2% for the pacer's bursts of writes).
struct GuestRates {
    double least = 0, greatest = 0;
    size_t intervals = 0;
};
GuestRates guest_rates(const std::vector<json>& dtvm_intervals, std::optional<size_t> vcpu = std::nullopt) {
    std::vector<double> rates;
    double previous = -1;
    for (const json& j : dtvm_intervals) {
        if (!j.contains("time_s")) continue;
        const double t = j["time_s"].get<double>();
        const double written = vcpu ? j["vcpus"][*vcpu]["distinct"].get<double>() : j["written"].get<double>();
        if (previous >= 0) rates.push_back(written / (t - previous));
        previous = t;
    }
    if (rates.empty()) return {};
    return {*std::min_element(rates.begin(), rates.end()), *std::max_element(rates.begin(), rates.end()), rates.size()};
}
void expect_within(double measured, const GuestRates& truth, const std::string& what) {
    EXPECT_GE(measured, 0.98 * truth.least) << what;
    EXPECT_LE(measured, 1.02 * truth.greatest) << what;
}
// Whether both ran whole: dtrack exited 0 with its 3 intervals, dtvm measured 6 seconds or more.
testing::AssertionResult ran_whole(const RateBesideDtvm& r) {
    if (r.run.output.find("exit 0\n") == std::string::npos || r.rate.size() != 3 || guest_rates(r.dtvm).intervals < 6)
        return testing::AssertionFailure() << "dtrack did not give 3 intervals or dtvm not 6:\n" << r.run.output;
    return testing::AssertionSuccess();
}

TEST(RateCli, DtvmPerVcpuRatesMatchItsWorkload) {
    DTRACK_REQUIRE_KVM();
    // The ring's figures alone: auto would hash pages beside them, and on 2
    // cores that thread takes time from the paced vCPUs.
    const RateBesideDtvm r = bpf_rate_beside_paced_guest("ring");
    ASSERT_TRUE(ran_whole(r));
    const GuestRates all = guest_rates(r.dtvm);
    for (const json& j : r.rate) {
        const std::string line = j.dump();
        EXPECT_EQ(j["method"], "bpf");
        EXPECT_EQ(j["figure"], "vmm-dirty") << line;
        EXPECT_TRUE(j["exact"].get<bool>());
        ASSERT_EQ(j["vcpu_pages_per_s"].size(), 2u) << line;
        EXPECT_EQ(j["lost"], 0);
        if (dtrack_test::kSanitized) continue;
        expect_within(j["pages_per_s"].get<double>(), all, line + "\n" + r.run.output);
        for (size_t v = 0; v < 2; ++v)
            expect_within(j["vcpu_pages_per_s"][v].get<double>(), guest_rates(r.dtvm, v),
                          "vCPU " + std::to_string(v) + ": " + line + "\n" + r.run.output);
    }
    if (dtrack_test::kSanitized) GTEST_SKIP() << dtrack_test::kRatesNotCheckedWhenSanitized;
}

TEST(RateCli, SamplingAProcessBackendDtvmMatchesItsWorkloadWithinTheBound) {
    DTRACK_REQUIRE_BACKEND(dtvm::Backend::process);
    if (dtrack_test::kSanitized)
        GTEST_SKIP() << "a sanitized dtvm maps terabytes of sanitizer shadow and writes it: sampling it would "
                        "measure the sanitizer, not the guest";
    // No KVM in the target: page hashing is the method that works on it.
    Background dtvm(binary("dtvm") +
                    " --backend process --mem 512M --vcpus 2 --workload sequential --wss 480M"
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
        {rate(idle.pid(), "--interval 0x10s"),
         "--interval: '0x10s' is not a duration; fix: write it like 10s, 500ms or "
         "2m: a decimal number and ns, us, ms, s, m or h"},
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

// The first kernel thread in /proc (kthreadd, pid 2, where this test sees
// the host's processes), or 0: its flags in /proc/PID/stat hold PF_KTHREAD.
pid_t a_kernel_thread() {
    for (pid_t pid = 2; pid < 200; ++pid) {
        std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
        const std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        const size_t name_end = stat.rfind(')');
        if (name_end == std::string::npos) continue;
        std::istringstream fields(stat.substr(name_end + 1));
        std::string skip;
        unsigned long long flags = 0;
        for (int i = 0; i < 6; ++i) fields >> skip;
        if (fields >> flags && (flags & 0x00200000)) return pid;
    }
    return 0;
}

// A kernel thread and a zombie pass kill(pid, 0) and have a /proc entry, but
// no user memory: each is refused saying what it is, not "no pages to track".
TEST(RateCli, AKernelThreadOrAZombieIsRefusedSayingWhatItIs) {
    const pid_t kthread = a_kernel_thread();
    const pid_t zombie = ::fork();
    if (zombie == 0) ::_exit(0);
    ASSERT_GT(zombie, 0);
    siginfo_t exited{};
    ASSERT_EQ(::waitid(P_PID, zombie, &exited, WEXITED | WNOWAIT), 0);  // exited, and left unreaped
    for (const char* method : {"auto", "sample"}) {
        const auto z = run(rate(zombie, std::string("--method ") + method + " --count 1 --interval 100ms"));
        EXPECT_EQ(z.exit_code, 2) << method << ": " << z.output;
        EXPECT_NE(z.output.find("pid " + std::to_string(zombie) +
                                " (dtrack_tests) is a zombie: it has exited and its "
                                "parent (pid " +
                                std::to_string(::getpid()) + ") has not reaped it"),
                  std::string::npos)
            << method << ": " << z.output;
        if (kthread == 0) continue;
        const auto k = run(rate(kthread, std::string("--method ") + method + " --count 1 --interval 100ms"));
        EXPECT_EQ(k.exit_code, 2) << method << ": " << k.output;
        EXPECT_NE(k.output.find("pid " + std::to_string(kthread) + " ("), std::string::npos) << k.output;
        EXPECT_NE(k.output.find(") is a kernel thread: it has no user memory to dirty"), std::string::npos)
            << method << ": " << k.output;
    }
    ::waitpid(zombie, nullptr, 0);
    if (kthread == 0) GTEST_SKIP() << "no kernel thread is visible in this PID namespace (the zombie was checked)";
}

// Inside a PID namespace of its own, dtrack's PIDs are not the ones the
// kernel's tracepoints carry: BPF is refused with the reason, sampling works.
TEST(RateCli, InAPidNamespaceBpfIsRefusedAndSamplingWorks) {
    // dtrack starts once the child runs sleep: before its execve it is a copy
    // of sh, whose memory the execve replaces.
    const std::string in_ns =
        "unshare -p -f --mount-proc sh -c 'sleep 30 & "
        "while [ \"$(cat /proc/$!/comm)\" != sleep ]; do :; done; ";
    const auto bpf = run(in_ns + "exec " + binary("dtrack") + " rate --pid $! --method bpf --count 1' 2>&1");
    if (bpf.output.find("unshare:") != std::string::npos) GTEST_SKIP() << "cannot make a PID namespace: " << bpf.output;
    EXPECT_EQ(bpf.exit_code, 2) << bpf.output;
    EXPECT_NE(bpf.output.find("PID namespace of its own"), std::string::npos) << bpf.output;
    const auto sample =
        run(in_ns + "exec " + binary("dtrack") + " rate --pid $! --method sample --count 1 --interval 200ms' 2>&1");
    EXPECT_EQ(sample.exit_code, 0) << sample.output;
}

// A process that runs a new program after dtrack opened it has not exited:
// its old memory is gone, and dtrack says which of the two happened. The
// target execs only once dtrack has printed its first interval.
TEST(RateCli, ATargetThatRunsANewProgramIsReportedAsReplacedNotExited) {
    const auto r =
        run("d=$(mktemp -d); "
            "sh -c \"while [ ! -e $d/go ]; do sleep 0.05; done; exec sleep 30\" & t=$!; "
            "timeout 60 " +
            binary("dtrack") +
            " rate --pid $t --method sample --exact --json --interval 200ms "
            "--count 50 > $d/out 2> $d/err & r=$!; "
            "while [ ! -s $d/out ] && kill -0 $r 2>/dev/null; do sleep 0.05; done; touch $d/go; "
            "wait $r; echo \"exit $?\"; cat $d/out $d/err; kill $t; rm -rf $d");
    EXPECT_EQ(r.output.find("exit 0\n"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("ran a new program (execve)"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("exited"), std::string::npos) << r.output;
}

TEST(RateCli, BpfOnADirtyBitmapVmCountsThePagesItsGuestDirtiesFromTheKernelsBitmaps) {
    DTRACK_REQUIRE_KVM();
    DTRACK_REQUIRE_BPF();
    // As DtvmPerVcpuRatesMatchItsWorkload, with the dirty log, which dtvm
    // harvests (KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG) every second.
    const RateBesideDtvm r = bpf_rate_beside_paced_guest("log");
    ASSERT_TRUE(ran_whole(r));
    const GuestRates all = guest_rates(r.dtvm);
    for (const json& j : r.rate) {
        const std::string line = j.dump();
        EXPECT_EQ(j["figure"], "vmm-dirty") << line;
        EXPECT_EQ(j["logging"], "bitmap") << line;
        EXPECT_TRUE(j["exact"].get<bool>()) << line;
        EXPECT_EQ(j["lost"], 0) << line;
        EXPECT_TRUE(j["vcpu_pages_per_s"].empty()) << "the bitmap has no per-vCPU view: " << line;
        if (dtrack_test::kSanitized) continue;
        expect_within(j["pages_per_s"].get<double>(), all, line + "\n" + r.run.output);
    }
}

// The lines of the per-vCPU tables that name `label`, one per interval.
std::vector<std::string> vcpu_lines(const std::string& output, const std::string& label) {
    std::vector<std::string> found;
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);)
        if (line.find(label) != std::string::npos && line.find("quota") == std::string::npos) found.push_back(line);
    return found;
}

// Whether every line (and at least one) says `says`, or at least one does.
bool every_line_says(const std::vector<std::string>& lines, const std::string& says) {
    return !lines.empty() &&
           std::all_of(lines.begin(), lines.end(), [&](const auto& l) { return l.find(says) != std::string::npos; });
}
bool a_line_says(const std::vector<std::string>& lines, const std::string& says) {
    return std::any_of(lines.begin(), lines.end(), [&](const auto& l) { return l.find(says) != std::string::npos; });
}

// A process like dtvm's process backend: a thread writing 8k new pages/s
// and one writing 500, over memory it write-protects again every 50 ms. With
// a quota of 2000 pages/s (8M/s in bytes), the first is over and the second
// under, whatever the intervals' exact length (no thread writes faster than
// its pace; a starved one falls below it).
TEST(RateCli, QuotaShowsEachThreadsRateAndMarksTheOnesALimitWouldSlow) {
    DTRACK_REQUIRE_BPF();
    dtrack_test::PacedWriterChild child({{"vcpu-fast", 8000}, {"vcpu-slow", 500}});
    if (!child.failure().empty()) GTEST_SKIP() << "the writing child cannot run here: " << child.failure();
    const std::string fast = "tid " + std::to_string(child.tids()[0]) + " (vcpu-fast)";
    const std::string slow = "tid " + std::to_string(child.tids()[1]) + " (vcpu-slow)";

    const auto table = run(rate(child.pid(), "--quota 2000 --interval 500ms --count 3"));
    ASSERT_EQ(table.exit_code, 0) << table.output;
    EXPECT_NE(table.output.find("quota: 2.0k pages/s (7.8 MiB/s) per vCPU"), std::string::npos) << table.output;
    EXPECT_NE(table.output.find("write faults per thread"), std::string::npos) << table.output;
    EXPECT_TRUE(every_line_says(vcpu_lines(table.output, fast), "OVER: a limit would slow it")) << table.output;
    EXPECT_TRUE(every_line_says(vcpu_lines(table.output, slow), "under")) << table.output;
    EXPECT_NE(table.output.find("over the quota of 2.0k pages/s: " + fast + " in "), std::string::npos) << table.output;
    EXPECT_EQ(table.output.find(slow + " in "), std::string::npos) << "the slow thread is not over: " << table.output;

    const auto r = run(rate(child.pid(), "--quota 8M/s --json --interval 500ms --count 3"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::vector<json> intervals = json_lines(r.output);
    ASSERT_EQ(intervals.size(), 3u) << r.output;
    for (const json& j : intervals) {
        const std::string line = j.dump();
        EXPECT_EQ(j["quota_pages_per_s"], 2048.0) << line;
        EXPECT_EQ(j["vcpu_figure"], "write faults per thread") << line;
        std::map<pid_t, json> by_tid;
        for (const json& v : j["vcpus"]) {
            ASSERT_TRUE(v.contains("tid")) << "a thread's vCPU names its thread: " << line;
            by_tid[v["tid"].get<pid_t>()] = v;
        }
        ASSERT_TRUE(by_tid.count(child.tids()[0]) && by_tid.count(child.tids()[1])) << line;
        const json& f = by_tid[child.tids()[0]];
        const json& s = by_tid[child.tids()[1]];
        EXPECT_EQ(f["thread"], "vcpu-fast") << line;
        EXPECT_TRUE(f["over_quota"].get<bool>()) << line;
        EXPECT_FALSE(s["over_quota"].get<bool>()) << line;
        EXPECT_GT(s["pages_per_s"].get<double>(), 0) << "the slow thread dirties pages too: " << line;
        EXPECT_EQ(j["vcpus_over_quota"], json::array({f["vcpu"]})) << line;
    }
}

// A thread that writes 500 pages/s of the memory its process write-protects
// again and faults 8000 times a second on a scratch buffer nobody tracks (as
// a runtime's own pages or a sanitizer's shadow do): only the first are
// pages it dirtied, so it is under a quota of 2000. Counting every write
// fault, it was OVER.
TEST(RateCli, QuotaCountsOnlyTheWriteFaultsInTheMemoryTheProcessWriteProtects) {
    DTRACK_REQUIRE_BPF();
    dtrack_test::PacedWriterChild child({{.name = "vcpu-busy", .pages_per_s = 500, .untracked_pages_per_s = 8000}});
    if (!child.failure().empty()) GTEST_SKIP() << "the writing child cannot run here: " << child.failure();
    const auto r = run(rate(child.pid(), "--quota 2000 --json --interval 500ms --count 3"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::vector<json> intervals = json_lines(r.output);
    ASSERT_EQ(intervals.size(), 3u) << r.output;
    for (const json& j : intervals) {
        const std::string line = j.dump();
        const auto busy = std::find_if(j["vcpus"].begin(), j["vcpus"].end(),
                                       [&](const json& v) { return v.value("tid", 0) == child.tids()[0]; });
        ASSERT_NE(busy, j["vcpus"].end()) << line;
        EXPECT_GT((*busy)["pages_per_s"].get<double>(), 0) << line;
        EXPECT_LT((*busy)["pages_per_s"].get<double>(), 2000) << "its scratch faults counted: " << line;
        EXPECT_FALSE((*busy)["over_quota"].get<bool>()) << line;
    }
}

// A VMM starts vCPU threads after the measurement began: each interval lists
// the process's threads again, and a new one gets a row of its own.
TEST(RateCli, QuotaCountsAThreadTheProcessStartsLater) {
    DTRACK_REQUIRE_BPF();
    dtrack_test::PacedWriterChild child({{"vcpu-early", 500}, {"vcpu-late", 8000, true}});
    if (!child.failure().empty()) GTEST_SKIP() << "the writing child cannot run here: " << child.failure();
    std::thread late([&] {
        // Most likely while dtrack rate runs; if it starts later, the thread is there from the beginning.
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));
        ::kill(child.pid(), SIGUSR1);
    });
    const auto r = run(rate(child.pid(), "--quota 2000 --interval 500ms --count 6"));
    late.join();
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // Its first interval may hold only a part of its writes: over in one at least.
    EXPECT_TRUE(a_line_says(vcpu_lines(r.output, "(vcpu-late)"), "OVER")) << r.output;
    EXPECT_TRUE(every_line_says(vcpu_lines(r.output, "(vcpu-early)"), "under")) << r.output;
}

TEST(RateCli, BadQuotasExitWith2NamingTheFix) {
    Background idle("sleep 60");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (const char* quota : {"fast", "-3", "4X/s", "1000/s", "0", "1e30"}) {
        const auto r = run(rate(idle.pid(), std::string("--quota ") + quota + " --count 1"));
        EXPECT_EQ(r.exit_code, 2) << quota << ": " << r.output;
        EXPECT_NE(r.output.find(std::string("--quota: '") + quota + "'"), std::string::npos) << r.output;
        EXPECT_NE(r.output.find("fix: "), std::string::npos) << r.output;
    }
    const auto r = run(rate(idle.pid(), "--quota 1000/s --count 1"));
    EXPECT_NE(r.output.find("write pages/s as a number (1000, 50k) or bytes/s as a size per second (4M/s, 4MB/s)"),
              std::string::npos)
        << r.output;
}

// A KVM VMM with the dirty ring: each vCPU's ring entries against the quota.
TEST(RateCli, QuotaOnADirtyRingVmComparesEachVcpusRingEntries) {
    DTRACK_REQUIRE_KVM();
    DTRACK_REQUIRE_BPF();
    Background dtvm(binary("dtvm") +
                    " --mem 256M --vcpus 2 --workload sequential --wss 200M --rate 5k --exit-every 64"
                    " --track ring --duration 30s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const auto over = run(rate(dtvm.pid(), "--quota 1000 --interval 500ms --count 2"));
    ASSERT_EQ(over.exit_code, 0) << over.output;
    EXPECT_NE(over.output.find("ring entries per vCPU"), std::string::npos) << over.output;
    for (const char* vcpu : {"vCPU 0 ", "vCPU 1 "})
        EXPECT_TRUE(every_line_says(vcpu_lines(over.output, vcpu), "OVER")) << over.output;
    const auto under = run(rate(dtvm.pid(), "--quota 1G/s --json --interval 500ms --count 2"));
    ASSERT_EQ(under.exit_code, 0) << under.output;
    for (const json& j : json_lines(under.output)) {
        ASSERT_EQ(j["vcpus"].size(), 2u) << j.dump();
        EXPECT_EQ(j["vcpus_over_quota"], json::array()) << j.dump();
        EXPECT_FALSE(j["vcpus"][0].contains("tid")) << "a ring vCPU is not a thread: " << j.dump();
    }
}

// KVM without the dirty ring: the guest's writes take no host page fault, so
// there is no per-vCPU figure; said once, and the total is measured as ever.
TEST(RateCli, QuotaWithoutAPerVcpuViewSaysOnceWhyAndMeasuresTheTotal) {
    DTRACK_REQUIRE_KVM();
    Background dtvm(binary("dtvm") + " --mem 64M --wss 16M --track log --duration 30s");
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    const auto r = run(rate(dtvm.pid(), "--quota 1000 --interval 200ms --count 3"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string why = "per-vCPU rates need the KVM dirty ring";
    const size_t at = r.output.find(why);
    ASSERT_NE(at, std::string::npos) << r.output;
    EXPECT_EQ(r.output.find(why, at + 1), std::string::npos) << "said more than once: " << r.output;
    EXPECT_NE(r.output.find("fix: start the VMM with the dirty ring"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("pages/s    MiB/s  quota"), std::string::npos) << "no per-vCPU table: " << r.output;
    const auto j = run(rate(dtvm.pid(), "--quota 1000 --json --interval 200ms --count 1"));
    ASSERT_EQ(j.exit_code, 0) << j.output;
    for (const json& line : json_lines(j.output)) EXPECT_FALSE(line.contains("vcpus")) << line.dump();
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
