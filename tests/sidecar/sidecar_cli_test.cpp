// `dtrack sidecar` as a platform team runs it: the real binary next to real
// dtvm guests and processes, scraped over loopback. Its counters against the
// guest's configured write rate (as the `dtrack rate` tests check), per-vCPU
// rates against a --quota, the lifecycle (targets that exit, pid files,
// signals) and clear refusals.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "dtrack/unique_fd.hpp"
#include "support/as_nobody.hpp"
#include "support/backends.hpp"
#include "support/background_process.hpp"
#include "support/bpf_objects.hpp"
#include "support/paced_writer_child.hpp"
#include "support/run_command.hpp"
#include "support/sanitizers.hpp"
#include "support/sidecar_process.hpp"

using dtrack_test::BackgroundProcess;
using dtrack_test::binary;
using dtrack_test::ScrapeResult;
using dtrack_test::SidecarProcess;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string pid_text(pid_t pid) { return std::to_string(pid); }

// A dtvm in the background, given the time to map its memory and start its
// guest (as the `dtrack rate` tests do): attached earlier, `auto` would see
// a process without a VM yet.
struct Dtvm : BackgroundProcess {
    explicit Dtvm(const std::string& args) : BackgroundProcess(binary("dtvm") + " " + args) {
        std::this_thread::sleep_for(1500ms);
    }
};

// The counters of one target that only grow.
const char* const counters[] = {"dtrack_dirty_pages_total", "dtrack_measured_seconds_total", "dtrack_harvests_total"};

double delta(const ScrapeResult& a, const ScrapeResult& b, const std::string& name,
             const std::vector<std::pair<std::string, std::string>>& labels) {
    return b.value(name, labels).value_or(-1) - a.value(name, labels).value_or(0);
}

// Between two scrapes, the target's dirty pages over the seconds measured
// against `truth_per_s`: within 2% when exact, else within the estimate's
// bound for each interval plus 2%, as the `dtrack rate` tests allow.
void expect_rate(const ScrapeResult& a, const ScrapeResult& b, const std::string& target, double truth_per_s) {
    const std::vector<std::pair<std::string, std::string>> t{{"target", target}};
    for (const char* c : counters) EXPECT_GE(delta(a, b, c, t), 0) << c << " went down";
    const double seconds = delta(a, b, "dtrack_measured_seconds_total", t);
    const double intervals = delta(a, b, "dtrack_harvests_total", t);
    const double pages = delta(a, b, "dtrack_dirty_pages_total", t);
    ASSERT_GT(intervals, 0) << b.body;
    const double truth = truth_per_s * seconds;
    const double bound = std::max(a.value("dtrack_estimate_bound_pages", t).value_or(0),
                                  b.value("dtrack_estimate_bound_pages", t).value_or(0));
    if (dtrack_test::kSanitized) return;
    EXPECT_NEAR(pages, truth, intervals * bound + 0.02 * truth)
        << target << ": " << pages << " pages in " << seconds << " s over " << intervals << " intervals";
}

// The label the sidecar gives a --pid: COMM-PID.
std::string target_label(pid_t pid) {
    std::string comm;
    std::ifstream("/proc/" + pid_text(pid) + "/comm") >> comm;
    return comm + "-" + pid_text(pid);
}

// A fresh directory for pid files (0700), removed at the end.
struct TempDir {
    TempDir() {
        char path[] = "/tmp/dtrack-pidfiles-XXXXXX";
        dir = ::mkdtemp(path);
    }
    ~TempDir() { fs::remove_all(dir); }
    void write(const std::string& name, const std::string& text) const {
        const std::string tmp = dir + "/." + name + ".tmp";
        std::ofstream(tmp) << text;
        fs::rename(tmp, dir + "/" + name);  // as a VMM replaces its pid file: whole
    }
    std::string dir;
};

// The target labels of dtrack_target_info in a scrape.
std::set<std::string> targets_in(const ScrapeResult& r) {
    std::set<std::string> out;
    std::istringstream lines(r.body);
    const std::string prefix = "dtrack_target_info{target=\"";
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(prefix, 0) == 0)
            out.insert(line.substr(prefix.size(), line.find('"', prefix.size()) - prefix.size()));
    return out;
}

// Scrapes until the sidecar serves exactly `expected` (30 s: a guard
// against hanging); the targets it served last.
std::set<std::string> wait_for_targets(const SidecarProcess& sidecar, const std::set<std::string>& expected) {
    const auto give_up = std::chrono::steady_clock::now() + 30s;
    for (;;) {
        const std::set<std::string> served = targets_in(sidecar.get());
        if (served == expected || std::chrono::steady_clock::now() > give_up) return served;
        std::this_thread::sleep_for(50ms);
    }
}

// Waits until process `pid` runs `comm` (after its exec; 10 s guard).
void wait_for_exec(pid_t pid, const std::string& comm) {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    for (std::string now; std::chrono::steady_clock::now() < give_up; std::this_thread::sleep_for(10ms)) {
        std::ifstream("/proc/" + pid_text(pid) + "/comm") >> now;
        if (now == comm) return;
    }
}

TEST(SidecarCli, SampleCountersOnAProcessBackendDtvmMatchItsWorkloadWithinTheBound) {
    DTRACK_REQUIRE_BACKEND(dtvm::Backend::process);
    if (dtrack_test::kSanitized)
        GTEST_SKIP() << "a sanitized dtvm maps terabytes of sanitizer shadow: sampling it would measure the sanitizer";
    // 2 x 20k new pages/s, as the RateCli sampling test.
    Dtvm dtvm("--backend process --mem 512M --vcpus 2 --workload sequential --wss 480M --rate 20k --duration 30s");
    SidecarProcess sidecar("--pid " + pid_text(dtvm.pid()) + " --method sample");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::string target = "dtvm-" + pid_text(dtvm.pid());
    const ScrapeResult a = sidecar.scrape_after_harvests(target, 2);  // past the guest's start
    const ScrapeResult b = sidecar.scrape_after_harvests(target, a.value("dtrack_harvests_total").value_or(0) + 3);
    ASSERT_EQ(b.status, 200) << sidecar.log();
    EXPECT_TRUE(b.has("dtrack_target_info", {{"target", target},
                                             {"pid", pid_text(dtvm.pid())},
                                             {"comm", "dtvm"},
                                             {"method", "sample"},
                                             {"exact", "false"}}))
        << b.body;
    expect_rate(a, b, target, 40000);
    EXPECT_GT(b.value("dtrack_estimate_bound_pages", {{"target", target}}).value_or(0), 0);
    EXPECT_GT(b.value("dtrack_working_set_bytes", {{"target", target}, {"window", "10s"}}).value_or(0), 0);
    EXPECT_GT(b.value("dtrack_memory_bytes", {{"target", target}}).value_or(0), 0);
    // The working set is at most the guest's 480 MiB (within the bound): the
    // sample shrinks as memory becomes present, and pages marked while it was
    // larger must not count as more than they stand for.
    const double bound_bytes = 4096 * b.value("dtrack_estimate_bound_pages", {{"target", target}}).value_or(0);
    for (const char* window : {"10s", "60s"})
        EXPECT_LE(b.value("dtrack_working_set_bytes", {{"target", target}, {"window", window}}).value_or(0),
                  480.0 * 1024 * 1024 + bound_bytes)
            << window << "\n"
            << b.body;
    // What sampling cannot see is absent, not 0.
    for (const char* absent :
         {"dtrack_vcpu_dirty_pages_total", "dtrack_lost_pages_total", "dtrack_ring_full_exits_total",
          "dtrack_ring_resets_total", "dtrack_vcpu_ring_full_exits_total", "dtrack_stuck_vcpus"})
        EXPECT_FALSE(b.has(absent)) << absent;
}

// --forecast-bandwidth: a calm guest (2 x 2k pages/s over 64 MiB) on a 1 GiB/s
// link converges, sending a little more than one pass over its memory.
TEST(SidecarCli, ForecastBandwidthServesEachTargetsPrecopyForecastWithBytesPerGuestByte) {
    DTRACK_REQUIRE_BACKEND(dtvm::Backend::process);
    if (dtrack_test::kSanitized) GTEST_SKIP() << "a sanitized dtvm maps terabytes of sanitizer shadow";
    Dtvm dtvm("--backend process --mem 256M --vcpus 2 --workload random --wss 64M --rate 2k --duration 30s");
    SidecarProcess sidecar("--pid " + pid_text(dtvm.pid()) + " --method sample --forecast-bandwidth 1G");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::string target = "dtvm-" + pid_text(dtvm.pid());
    const ScrapeResult b = sidecar.scrape_after_harvests(target, 3);
    ASSERT_EQ(b.status, 200) << sidecar.log();
    EXPECT_EQ(b.value("dtrack_forecast_converges", {{"target", target}}).value_or(-1), 1) << b.body;
    EXPECT_GT(b.value("dtrack_forecast_seconds", {{"target", target}}).value_or(0), 0) << b.body;
    const double per_byte = b.value("dtrack_forecast_bytes_per_guest_byte", {{"target", target}}).value_or(0);
    EXPECT_GE(per_byte, 1.0) << b.body;
    EXPECT_LT(per_byte, 2.0) << b.body;
}

TEST(SidecarCli, BpfCountersOnAKvmDtvmMatchItsWorkloadPerVcpu) {
    DTRACK_REQUIRE_KVM();
    // Each vCPU writes 5k new pages/s (as the RateCli bpf test).
    Dtvm dtvm(
        "--mem 512M --vcpus 2 --workload sequential --wss 480M --rate 5k --exit-every 64 --track ring"
        " --duration 30s");
    SidecarProcess sidecar("--pid " + pid_text(dtvm.pid()) + " --method bpf");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::string target = "dtvm-" + pid_text(dtvm.pid());
    const ScrapeResult a = sidecar.scrape_after_harvests(target, 2);
    const ScrapeResult b = sidecar.scrape_after_harvests(target, a.value("dtrack_harvests_total").value_or(0) + 3);
    ASSERT_EQ(b.status, 200) << sidecar.log();
    EXPECT_TRUE(b.has("dtrack_target_info",
                      {{"target", target}, {"method", "bpf"}, {"source", "pid_option"}, {"exact", "true"}}))
        << b.body;
    expect_rate(a, b, target, 10000);
    const double seconds = delta(a, b, "dtrack_measured_seconds_total", {{"target", target}});
    for (const char* vcpu : {"0", "1"}) {
        const double pages = delta(a, b, "dtrack_vcpu_dirty_pages_total", {{"target", target}, {"vcpu", vcpu}});
        if (!dtrack_test::kSanitized) {
            EXPECT_NEAR(pages / seconds, 5000, 0.02 * 5000) << "vCPU " << vcpu;
        }
    }
    // The memslots' pages add up to the target's, interval by interval.
    double slots = 0;
    for (int slot = 0; slot < 32; ++slot) {
        const std::vector<std::pair<std::string, std::string>> labels{{"target", target},
                                                                      {"slot", std::to_string(slot)}};
        if (b.has("dtrack_slot_dirty_pages_total", labels))
            slots += delta(a, b, "dtrack_slot_dirty_pages_total", labels);
    }
    EXPECT_EQ(slots, delta(a, b, "dtrack_dirty_pages_total", {{"target", target}}));
    EXPECT_EQ(b.value("dtrack_lost_pages_total", {{"target", target}}), 0);
    EXPECT_EQ(b.value("dtrack_overapproximated_pages_total", {{"target", target}}), 0);
    EXPECT_GT(b.value("dtrack_ring_resets_total", {{"target", target}}).value_or(0), 0);  // dtvm's reaper resets
    EXPECT_TRUE(b.has("dtrack_ring_full_exits_total", {{"target", target}}));
    // dtvm harvests its rings: per-vCPU full exits add up, and no vCPU is stuck.
    double vcpu_full_exits = 0;
    for (const char* vcpu : {"0", "1"}) {
        EXPECT_TRUE(b.has("dtrack_vcpu_ring_full_exits_total", {{"target", target}, {"vcpu", vcpu}})) << vcpu;
        vcpu_full_exits +=
            b.value("dtrack_vcpu_ring_full_exits_total", {{"target", target}, {"vcpu", vcpu}}).value_or(0);
    }
    EXPECT_EQ(vcpu_full_exits, b.value("dtrack_ring_full_exits_total", {{"target", target}}).value_or(-1));
    EXPECT_EQ(b.value("dtrack_stuck_vcpus", {{"target", target}}), 0);
    EXPECT_FALSE(b.has("dtrack_estimate_bound_pages")) << "an exact method has no bound";
}

// A process like dtvm's process backend (a thread writing 8k new pages/s, one
// 500, over memory it re-protects every 50 ms) against a quota of 2000
// pages/s: each thread's series, labelled with its id and name, and which
// one is over.
TEST(SidecarCli, QuotaServesEachThreadsRateAndWhetherItIsOver) {
    DTRACK_REQUIRE_BPF();
    dtrack_test::PacedWriterChild child({{"vcpu-fast", 8000}, {"vcpu-slow", 500}});
    if (!child.failure().empty()) GTEST_SKIP() << "the writing child cannot run here: " << child.failure();
    SidecarProcess sidecar("--pid " + pid_text(child.pid()) + " --quota 2000 --interval 500ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::string target = target_label(child.pid());
    const std::vector<std::pair<std::string, std::string>> fast{
        {"target", target}, {"tid", pid_text(child.tids()[0])}, {"thread", "vcpu-fast"}};
    const std::vector<std::pair<std::string, std::string>> slow{
        {"target", target}, {"tid", pid_text(child.tids()[1])}, {"thread", "vcpu-slow"}};

    const ScrapeResult a = sidecar.scrape_after_harvests(target, 2);
    const ScrapeResult b = sidecar.scrape_after_harvests(target, a.value("dtrack_harvests_total").value_or(0) + 2);
    ASSERT_EQ(b.status, 200) << sidecar.log();
    EXPECT_EQ(b.value("dtrack_vcpu_quota_pages_per_second", {{"target", target}}), 2000) << b.body;
    for (const ScrapeResult* r : {&a, &b}) {
        EXPECT_EQ(r->value("dtrack_vcpu_over_quota", fast), 1) << r->body;
        EXPECT_EQ(r->value("dtrack_vcpu_over_quota", slow), 0) << r->body;
        EXPECT_GT(r->value("dtrack_vcpu_dirty_pages_per_second", fast).value_or(0), 2000) << r->body;
        EXPECT_GT(r->value("dtrack_vcpu_dirty_pages_per_second", slow).value_or(0), 0) << r->body;
    }
    for (const auto* labels : {&fast, &slow}) {
        const double grew = delta(a, b, "dtrack_vcpu_dirty_pages_total", *labels);
        EXPECT_GT(grew, 0) << "a counter that only grows, and grew: " << b.body;
    }
}

// A VMM starts a vCPU thread after the sidecar attached: the next harvests
// list the process's threads again, and the new one gets its series.
TEST(SidecarCli, QuotaServesAThreadTheProcessStartsAfterTheAttach) {
    DTRACK_REQUIRE_BPF();
    dtrack_test::PacedWriterChild child({{"vcpu-early", 500}, {"vcpu-late", 8000, true}});
    if (!child.failure().empty()) GTEST_SKIP() << "the writing child cannot run here: " << child.failure();
    SidecarProcess sidecar("--pid " + pid_text(child.pid()) + " --quota 2000 --interval 200ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::string target = target_label(child.pid());
    const ScrapeResult before = sidecar.scrape_after_harvests(target, 2);
    ASSERT_EQ(before.status, 200) << sidecar.log();
    EXPECT_FALSE(before.has("dtrack_vcpu_over_quota", {{"target", target}, {"thread", "vcpu-late"}})) << before.body;

    ASSERT_EQ(::kill(child.pid(), SIGUSR1), 0);
    // Its first interval may hold a part of its writes only; by the third it runs at its pace.
    const ScrapeResult after =
        sidecar.scrape_after_harvests(target, before.value("dtrack_harvests_total").value_or(0) + 4);
    ASSERT_EQ(after.status, 200) << sidecar.log();
    EXPECT_EQ(after.value("dtrack_vcpu_over_quota", {{"target", target}, {"thread", "vcpu-late"}}), 1) << after.body;
    EXPECT_EQ(after.value("dtrack_vcpu_over_quota", {{"target", target}, {"thread", "vcpu-early"}}), 0) << after.body;
}

// KVM without the dirty ring: no per-vCPU view. Logged once, with the fix,
// and no dtrack_vcpu_* series, while the target is measured as ever.
TEST(SidecarCli, QuotaOnATargetWithoutPerVcpuRatesLogsWhyAndServesNoVcpuSeries) {
    DTRACK_REQUIRE_KVM();
    Dtvm dtvm("--mem 64M --wss 16M --track log --duration 30s");
    SidecarProcess sidecar("--pid " + pid_text(dtvm.pid()) + " --quota 1000 --interval 200ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::string target = "dtvm-" + pid_text(dtvm.pid());
    const ScrapeResult r = sidecar.scrape_after_harvests(target, 3);
    ASSERT_EQ(r.status, 200) << sidecar.log();
    const std::string why = "no dtrack_vcpu_* series: per-vCPU rates need the KVM dirty ring";
    const std::string log = sidecar.log();
    ASSERT_NE(log.find(why), std::string::npos) << log;
    EXPECT_EQ(log.find(why, log.find(why) + 1), std::string::npos) << "logged more than once: " << log;
    EXPECT_NE(log.find("fix: start the VMM with the dirty ring"), std::string::npos) << log;
    for (const char* absent : {"dtrack_vcpu_dirty_pages_total", "dtrack_vcpu_dirty_pages_per_second",
                               "dtrack_vcpu_over_quota", "dtrack_vcpu_quota_pages_per_second"})
        EXPECT_FALSE(r.has(absent)) << absent;
    EXPECT_GT(r.value("dtrack_harvests_total", {{"target", target}}).value_or(0), 0);
}

TEST(SidecarCli, TwoSidecarsOnOneTargetBothMeasureIt) {
    // The default backend and method: on KVM the eBPF method (two BPF
    // programs on one tracepoint), elsewhere sampling.
    Dtvm dtvm("--mem 512M --vcpus 2 --workload sequential --wss 480M --rate 5k --exit-every 64 --duration 30s");
    SidecarProcess first("--pid " + pid_text(dtvm.pid())), second("--pid " + pid_text(dtvm.pid()));
    ASSERT_GT(first.port(), 0) << first.log();
    ASSERT_GT(second.port(), 0) << second.log();
    EXPECT_NE(first.port(), second.port());
    const std::string target = "dtvm-" + pid_text(dtvm.pid());
    for (SidecarProcess* s : {&first, &second}) {
        const ScrapeResult a = s->scrape_after_harvests(target, 2);
        const ScrapeResult b = s->scrape_after_harvests(target, a.value("dtrack_harvests_total").value_or(0) + 2);
        ASSERT_EQ(b.status, 200) << s->log();
        expect_rate(a, b, target, 10000);
    }
}

// A target that runs a new program (execve) keeps its PID, but the memory
// the sidecar measured is gone: it says so and drops it, rather than
// failing every harvest from then on.
TEST(SidecarCli, ATargetThatRunsANewProgramIsSaidSoAndDropped) {
    const std::string go = "/tmp/dtrack-exec-go-" + pid_text(::getpid());
    std::remove(go.c_str());
    BackgroundProcess target("sh -c 'while [ ! -e " + go + " ]; do sleep 0.05; done; exec sleep 60'");
    SidecarProcess sidecar("--pid " + pid_text(target.pid()) + " --method sample --interval 100ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::string name = "sh-" + pid_text(target.pid());
    ASSERT_EQ(sidecar.scrape_after_harvests(name, 2).status, 200) << sidecar.log();
    std::ofstream{go} << "";
    ASSERT_TRUE(sidecar.wait_for_log("ran a new program (execve)")) << sidecar.log();
    ASSERT_TRUE(sidecar.wait_for_log(") exited; dropped")) << sidecar.log();
    EXPECT_EQ(sidecar.get().value("dtrack_targets", {{"state", "attached"}}), 0) << sidecar.log();
    std::remove(go.c_str());
}

TEST(SidecarCli, ATargetThatExitsIsReportedAndDroppedWhileAnotherGoesOn) {
    auto* leaving = new BackgroundProcess("sleep 60");
    BackgroundProcess staying("sleep 60");
    std::this_thread::sleep_for(100ms);  // until exec: the comm is "sleep"
    const std::string gone = "sleep-" + pid_text(leaving->pid()), other = "sleep-" + pid_text(staying.pid());
    SidecarProcess sidecar("--pid " + pid_text(leaving->pid()) + " --pid " + pid_text(staying.pid()) +
                           " --method sample --interval 100ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    ASSERT_EQ(sidecar.get().value("dtrack_targets", {{"state", "attached"}}), 2);
    delete leaving;
    ASSERT_TRUE(sidecar.wait_for_log("target " + gone + " (pid")) << sidecar.log();
    ASSERT_TRUE(sidecar.wait_for_log(") exited; dropped")) << sidecar.log();
    const ScrapeResult a = sidecar.get();
    EXPECT_EQ(a.value("dtrack_targets", {{"state", "attached"}}), 1) << a.body;
    EXPECT_EQ(a.value("dtrack_target_exits_total"), 1);
    EXPECT_FALSE(a.has("dtrack_targets", {{"state", "exited"}})) << "exits are the counter's alone";
    EXPECT_TRUE(a.has("dtrack_target_info", {{"target", other}, {"source", "pid_option"}})) << a.body;
    EXPECT_FALSE(a.has("dtrack_target_info", {{"target", gone}})) << a.body;
    EXPECT_FALSE(a.has("dtrack_harvests_total", {{"target", gone}}));
    // The other one is still harvested.
    const ScrapeResult b = sidecar.scrape_after_harvests(other, a.value("dtrack_harvests_total").value_or(0) + 2);
    EXPECT_EQ(b.status, 200) << sidecar.log();
}

TEST(SidecarCli, PidFilesAttachOnWriteReattachOnANewPidAndDetachOnRemove) {
    BackgroundProcess first("sleep 60"), second("sleep 60"), already("sleep 60");
    TempDir dir;
    dir.write("vm0.pid", pid_text(already.pid()) + "\n");  // there before the sidecar starts
    SidecarProcess sidecar("--pid-file-dir " + dir.dir + " --method sample --interval 100ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    EXPECT_TRUE(sidecar.get().has("dtrack_target_info",
                                  {{"target", "vm0"}, {"pid", pid_text(already.pid())}, {"source", "pid_file"}}));

    dir.write("vm1.pid", pid_text(first.pid()) + "\n");
    ASSERT_TRUE(sidecar.wait_for_log("attached target vm1 (pid " + pid_text(first.pid()))) << sidecar.log();
    EXPECT_TRUE(sidecar.get().has("dtrack_target_info", {{"target", "vm1"}, {"pid", pid_text(first.pid())}}));

    dir.write("vm1.pid", pid_text(second.pid()));
    ASSERT_TRUE(sidecar.wait_for_log("replaced by pid " + pid_text(second.pid()))) << sidecar.log();
    const ScrapeResult replaced = sidecar.get();
    EXPECT_TRUE(replaced.has("dtrack_target_info", {{"target", "vm1"}, {"pid", pid_text(second.pid())}}));
    EXPECT_FALSE(replaced.has("dtrack_target_info", {{"target", "vm1"}, {"pid", pid_text(first.pid())}}));

    // A file that holds no PID is logged and skipped; other names are ignored.
    dir.write("broken.pid", "not a pid");
    dir.write("notes.txt", pid_text(first.pid()));
    ASSERT_TRUE(sidecar.wait_for_log("skipping " + dir.dir + "/broken.pid")) << sidecar.log();

    fs::remove(dir.dir + "/vm1.pid");
    ASSERT_TRUE(sidecar.wait_for_log("detached target vm1 (pid " + pid_text(second.pid()) + ")")) << sidecar.log();
    const ScrapeResult after = sidecar.get();
    EXPECT_FALSE(after.has("dtrack_target_info", {{"target", "vm1"}})) << after.body;
    EXPECT_FALSE(after.has("dtrack_target_info", {{"target", "broken"}}));
    EXPECT_FALSE(after.has("dtrack_target_info", {{"target", "notes"}}));
    EXPECT_TRUE(after.has("dtrack_target_info", {{"target", "vm0"}}));
    EXPECT_EQ(after.value("dtrack_target_exits_total"), 0) << "a detach is not an exit";
}

// A FIFO named NAME.pid, there at start or renamed in later, would block a
// plain open(): the sidecar skips it with the reason, keeps serving, reads
// later pid files, and stops on SIGTERM.
TEST(SidecarCli, AFifoInThePidFileDirectoryIsSkippedAndHangsNothing) {
    BackgroundProcess vm("sleep 60");
    TempDir dir;
    ASSERT_EQ(::mkfifo((dir.dir + "/early.pid").c_str(), 0600), 0);
    SidecarProcess sidecar("--pid-file-dir " + dir.dir + " --method sample --interval 100ms");
    ASSERT_GT(sidecar.port(), 0) << "it never served: " << sidecar.log();
    ASSERT_TRUE(sidecar.wait_for_log("early.pid is not a regular file")) << sidecar.log();

    ASSERT_EQ(::mkfifo((dir.dir + "/.x").c_str(), 0600), 0);
    fs::rename(dir.dir + "/.x", dir.dir + "/evil.pid");
    ASSERT_TRUE(sidecar.wait_for_log("evil.pid is not a regular file")) << sidecar.log();
    dir.write("vm1.pid", pid_text(vm.pid()) + "\n");
    ASSERT_TRUE(sidecar.wait_for_log("attached target vm1 (pid " + pid_text(vm.pid()))) << sidecar.log();
    EXPECT_EQ(sidecar.get().status, 200);
    EXPECT_EQ(sidecar.stop(SIGTERM), 0) << sidecar.log();
}

// The kernel drops inotify events once the sidecar's queue holds
// fs.inotify.max_queued_events, and says so (IN_Q_OVERFLOW). Stopped, the
// sidecar reads none, so that much churn fills its queue for sure: the pid
// files removed and written after it are then known only to a rescan.
TEST(SidecarCli, AfterItsInotifyQueueOverflowsItRescansAndServesThePidFilesPresent) {
    std::vector<std::unique_ptr<BackgroundProcess>> vms;  // outlive the guards below, to show what stays attached
    for (int i = 0; i < 6; ++i) vms.push_back(std::make_unique<BackgroundProcess>("sleep 600"));
    TempDir dir;
    for (int i = 0; i < 3; ++i) dir.write("vm" + std::to_string(i) + ".pid", pid_text(vms[i]->pid()));
    SidecarProcess sidecar("--pid-file-dir " + dir.dir + " --method sample --interval 100ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::set<std::string> first{"vm0", "vm1", "vm2"};
    ASSERT_EQ(wait_for_targets(sidecar, first), first) << sidecar.log();

    int queue = 0;
    std::ifstream("/proc/sys/fs/inotify/max_queued_events") >> queue;
    ASSERT_GT(queue, 0);
    ASSERT_EQ(::kill(sidecar.pid(), SIGSTOP), 0);
    for (int i = 0; i < queue; ++i) std::ofstream(dir.dir + "/churn-" + std::to_string(i));  // IN_CLOSE_WRITE each
    fs::remove(dir.dir + "/vm0.pid");
    fs::remove(dir.dir + "/vm1.pid");
    for (int i = 3; i < 6; ++i) dir.write("vm" + std::to_string(i) + ".pid", pid_text(vms[i]->pid()));
    ASSERT_EQ(::kill(sidecar.pid(), SIGCONT), 0);

    EXPECT_TRUE(sidecar.wait_for_log("overflowed (fs.inotify.max_queued_events): events were lost; rescanning it"))
        << sidecar.log();
    const std::set<std::string> present{"vm2", "vm3", "vm4", "vm5"};
    EXPECT_EQ(wait_for_targets(sidecar, present), present) << sidecar.log();
    EXPECT_EQ(sidecar.get().value("dtrack_targets", {{"state", "attached"}}), 4);
}

// Item 5 of issue 21: in a directory its group may write, user nobody's pid
// file names a root process. Refused with the reason (which file, which
// owner, what to do), counted, and the sidecar goes on: a file may name its
// own owner's process, and a file that becomes writable by others is
// dropped.
TEST(SidecarCli, APidFileAnotherUserWroteNamingRootsProcessIsRefusedWithTheReasonAndItGoesOn) {
    BackgroundProcess roots("sleep 60"), other_roots("sleep 60");
    BackgroundProcess nobodys("setpriv --reuid=65534 --regid=65534 --clear-groups sleep 60");
    wait_for_exec(nobodys.pid(), "sleep");
    TempDir dir;
    ASSERT_EQ(::chown(dir.dir.c_str(), 0, 65534), 0);
    ASSERT_EQ(::chmod(dir.dir.c_str(), 0770), 0);  // group nogroup may write
    SidecarProcess sidecar("--pid-file-dir " + dir.dir + " --method sample --interval 100ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();

    const auto wrote = dtrack_test::run_as_nobody([&] {
        ::umask(022);
        dir.write("evil.pid", pid_text(roots.pid()));
        dir.write("own.pid", pid_text(nobodys.pid()));
        return std::string("written");
    });
    ASSERT_EQ(wrote, "written");
    const std::string evil = dir.dir + "/evil.pid";
    ASSERT_TRUE(sidecar.wait_for_log("skipping " + evil + ": " + evil +
                                     " is owned by nobody (uid 65534) and names pid " + pid_text(roots.pid()) +
                                     ", a process of root (uid 0), in a directory others may "
                                     "write (mode 0770)"))
        << sidecar.log();
    EXPECT_NE(sidecar.log().find("fix: have root write the pid file"), std::string::npos) << sidecar.log();

    dir.write("rootvm.pid", pid_text(roots.pid()));  // root's file, root's process
    dir.write("shared.pid", pid_text(other_roots.pid()));
    ASSERT_TRUE(sidecar.wait_for_log("attached target shared (pid")) << sidecar.log();
    ASSERT_EQ(::chmod((dir.dir + "/shared.pid").c_str(), 0666), 0);
    ASSERT_TRUE(sidecar.wait_for_log("shared.pid may be written by others than its owner root (uid 0) (mode 0666)"))
        << sidecar.log();
    const std::set<std::string> trusted{"own", "rootvm"};
    EXPECT_EQ(wait_for_targets(sidecar, trusted), trusted) << sidecar.log();
    const ScrapeResult r = sidecar.get();
    EXPECT_TRUE(r.has("dtrack_target_info", {{"target", "own"}, {"pid", pid_text(nobodys.pid())}})) << r.body;
    EXPECT_EQ(r.value("dtrack_targets_refused_total", {{"reason", "untrusted"}}), 2) << r.body;
}

// 100 pid files naming one process and --max-targets 2: the process is
// measured once, under its first name, the 99 others are duplicates, and a
// third process waits for a place, which it gets when a target goes.
TEST(SidecarCli, PidFilesNamingOneProcessAttachItOnceAndFilesBeyondMaxTargetsWaitForAPlace) {
    BackgroundProcess a("sleep 60"), b("sleep 60"), c("sleep 60");
    TempDir dir;
    for (int i = 100; i < 200; ++i) dir.write("a-" + std::to_string(i) + ".pid", pid_text(a.pid()));
    dir.write("b.pid", pid_text(b.pid()));
    dir.write("c.pid", pid_text(c.pid()));
    SidecarProcess sidecar("--pid-file-dir " + dir.dir + " --max-targets 2 --method sample --interval 100ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const ScrapeResult r = sidecar.get();
    EXPECT_EQ(targets_in(r), (std::set<std::string>{"a-100", "b"})) << sidecar.log();
    EXPECT_EQ(r.value("dtrack_targets_refused_total", {{"reason", "duplicate"}}), 99) << r.body;
    EXPECT_EQ(r.value("dtrack_targets_refused_total", {{"reason", "max_targets"}}), 1) << r.body;
    EXPECT_NE(sidecar.log().find("a-101.pid: it names pid " + pid_text(a.pid()) +
                                 ", which target a-100 measures "
                                 "already"),
              std::string::npos)
        << sidecar.log();
    EXPECT_NE(sidecar.log().find("c.pid (pid " + pid_text(c.pid()) + "): --max-targets 2 targets are attached already"),
              std::string::npos)
        << sidecar.log();

    fs::remove(dir.dir + "/b.pid");
    const std::set<std::string> c_in{"a-100", "c"};
    EXPECT_EQ(wait_for_targets(sidecar, c_in), c_in) << sidecar.log();
    fs::remove(dir.dir + "/a-100.pid");
    const std::set<std::string> next_name{"a-101", "c"};
    EXPECT_EQ(wait_for_targets(sidecar, next_name), next_name) << sidecar.log();
    EXPECT_EQ(sidecar.get().value("dtrack_targets_refused_total", {{"reason", "duplicate"}}), 99)
        << "the other files did not change: not counted again";
}

TEST(SidecarCli, ServesOpenMetricsWhenAskedTheTextFormatOtherwiseAnIndexAndNotFound) {
    BackgroundProcess idle("sleep 60");
    SidecarProcess sidecar("--pid " + pid_text(idle.pid()) + " --method sample --interval 100ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const ScrapeResult text = sidecar.get("/metrics");
    EXPECT_EQ(text.status, 200);
    EXPECT_EQ(text.content_type, "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(text.body.find("# TYPE dtrack_dirty_pages_total counter\n"), std::string::npos) << text.body;
    EXPECT_NE(text.body.find("# TYPE dtrack_target_info gauge\n"), std::string::npos);
    EXPECT_TRUE(text.has("dtrack_build_info"));
    EXPECT_TRUE(text.has("process_cpu_seconds_total"));
    EXPECT_GT(text.value("process_start_time_seconds").value_or(0), 1.6e9);

    const ScrapeResult om = sidecar.get("/metrics",
                                        "application/openmetrics-text;version=1.0.0,text/plain;"
                                        "version=0.0.4;q=0.5,*/*;q=0.1");
    EXPECT_EQ(om.status, 200);
    EXPECT_EQ(om.content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    EXPECT_NE(om.body.find("# TYPE dtrack_dirty_pages counter\n"), std::string::npos) << om.body;
    EXPECT_NE(om.body.find("# TYPE dtrack_target info\n"), std::string::npos);
    EXPECT_TRUE(om.has("dtrack_dirty_pages_total", {{"target", "sleep-" + pid_text(idle.pid())}}));
    EXPECT_TRUE(om.body.size() >= 6 && om.body.compare(om.body.size() - 6, 6, "# EOF\n") == 0) << om.body;

    const ScrapeResult index = sidecar.get("/");
    EXPECT_EQ(index.status, 200);
    EXPECT_NE(index.body.find("href=\"/metrics\""), std::string::npos) << index.body;
    EXPECT_EQ(sidecar.get("/metrics/nope").status, 404);
    EXPECT_EQ(sidecar.get("/admin").status, 404);
}

TEST(SidecarCli, SigtermOrSigintStopsItWithExitCode0) {
    BackgroundProcess idle("sleep 60");
    for (int signal : {SIGTERM, SIGINT}) {
        SidecarProcess sidecar("--pid " + pid_text(idle.pid()) + " --method sample --interval 100ms");
        ASSERT_GT(sidecar.port(), 0) << sidecar.log();
        EXPECT_EQ(sidecar.stop(signal), 0) << sidecar.log();
        EXPECT_NE(sidecar.log().find(signal == SIGTERM ? "stopping on SIGTERM" : "stopping on SIGINT"),
                  std::string::npos)
            << sidecar.log();
    }
}

// The BPF programs a process holds, by id (from its fds' fdinfo).
std::set<std::string> bpf_programs_of(pid_t pid) {
    std::set<std::string> ids;
    const std::string proc = "/proc/" + pid_text(pid);
    for (const auto& fd : fs::directory_iterator(proc + "/fd")) {
        std::error_code ec;
        if (fs::read_symlink(fd.path(), ec).string() != "anon_inode:bpf-prog") continue;
        std::ifstream info(proc + "/fdinfo/" + fd.path().filename().string());
        for (std::string key, value; info >> key >> value;)
            if (key == "prog_id:") ids.insert(value);
    }
    return ids;
}

TEST(SidecarCli, OnSigtermEveryBpfProgramItLoadedIsGone) {
    DTRACK_REQUIRE_KVM();
    Dtvm dtvm("--mem 128M --vcpus 1 --wss 32M --rate 5k --track ring --duration 30s");
    SidecarProcess sidecar("--pid " + pid_text(dtvm.pid()) + " --method bpf --interval 100ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::set<std::string> loaded = bpf_programs_of(sidecar.pid());
    ASSERT_FALSE(loaded.empty()) << "the sidecar holds no BPF program: " << sidecar.log();
    EXPECT_EQ(sidecar.stop(SIGTERM), 0) << sidecar.log();
    // Nothing pinned or leaked: the kernel forgets the programs (it frees
    // them after a grace period, hence the wait; 10 s is a guard).
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    for (const std::string& id : loaded) {
        dtrack_test::CommandResult shown;
        while ((shown = dtrack_test::run("bpftool prog show id " + id + " 2>&1")).exit_code == 0 &&
               std::chrono::steady_clock::now() < give_up)
            std::this_thread::sleep_for(50ms);
        EXPECT_NE(shown.exit_code, 0) << "program " << id << " is still loaded: " << shown.output;
    }
}

TEST(SidecarCli, AProcessItMayNotMeasureIsRefusedWithTheReason) {
    BackgroundProcess roots("sleep 60");  // root's; the sidecar below runs as nobody
    std::this_thread::sleep_for(100ms);
    const auto result = dtrack_test::run_as_nobody([&] {
        const auto r = dtrack_test::run(binary("dtrack") + " sidecar --pid " + pid_text(roots.pid()) +
                                        " --listen 127.0.0.1:0 2>&1");
        return std::to_string(r.exit_code) + " " + r.output;
    });
    ASSERT_TRUE(result.has_value()) << "could not run as nobody";
    EXPECT_EQ(result->substr(0, 2), "2 ") << *result;
    EXPECT_NE(result->find("Permission denied"), std::string::npos) << *result;
    EXPECT_NE(result->find("fix: run as root or as the process's owner"), std::string::npos) << *result;
}

// A port some other program holds.
struct TakenPort {
    TakenPort() : fd(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in a{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
        socklen_t len = sizeof a;
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len) == 0 && ::listen(fd.get(), 1) == 0 &&
            ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0)
            port = ntohs(a.sin_port);
    }
    dtrack::UniqueFd fd;
    int port = 0;
};

// With SO_REUSEPORT (cpp-httplib's default, which the sidecar once used) two
// processes share a port: a second sidecar on a port a first one serves must
// be refused, not share it.
TEST(SidecarCli, ASecondSidecarOnThePortAFirstOneServesIsRefusedWithCode2) {
    BackgroundProcess idle("sleep 60");
    SidecarProcess first("--pid " + pid_text(idle.pid()) + " --method sample");
    ASSERT_GT(first.port(), 0) << first.log();
    // Bounded: a second sidecar that did start would serve until killed (124).
    const auto second =
        dtrack_test::run("timeout 10 " + binary("dtrack") + " sidecar --pid " + pid_text(idle.pid()) +
                         " --method sample --listen 127.0.0.1:" + std::to_string(first.port()) + " 2>&1");
    EXPECT_EQ(second.exit_code, 2) << "124: it started and served the port too\n" << second.output;
    EXPECT_NE(second.output.find("the port is in use"), std::string::npos) << second.output;
    EXPECT_EQ(first.get().status, 200) << "the first one serves on";
}

TEST(SidecarCli, BadOptionsExitWithCode2NamingTheCauseAndTheFix) {
    BackgroundProcess idle("sleep 60");
    const TakenPort taken;
    ASSERT_GT(taken.port, 0);
    TempDir open_to_all, nobodys;
    ::chmod(open_to_all.dir.c_str(), 0777);
    ASSERT_EQ(::chown(nobodys.dir.c_str(), 65534, 65534), 0);
    const std::string pid = " --pid " + pid_text(idle.pid());
    const struct {
        std::string args, says;
    } cases[] = {
        {"", "nothing to watch"},
        {pid + " --listen nowhere", "--listen nowhere is not an address and port"},
        {pid + " --listen 127.0.0.1:99999", "'99999' is not a port"},
        {pid + " --listen 127.0.0.1:" + std::to_string(taken.port), "the port is in use"},
        {pid + " --listen 192.0.2.1:9464", "no interface of this host has that address"},
        {pid + " --interval never", "'never' is not a duration"},
        {pid + " --interval 1ms", "--interval 1ms is too short"},
        {pid + " --method psychic", "use auto, bpf or sample"},
        {pid + " --method uffd", "there is no --method uffd"},
        {pid + " --bound 0", "--bound 0 is not a share"},
        {pid + " --quota fast", "--quota: 'fast' is not a dirty rate"},
        {pid + " --quota 1000/s", "a number per second is ambiguous"},
        {pid + " --quota 0", "--quota: '0' is no dirty rate at all"},
        {pid + pid, "is given twice"},
        {" --pid 999999", "no process 999999"},
        {pid + " --method bpf", "runs no KVM VM"},
        {" --pid-file-dir /nonexistent/dir", "--pid-file-dir /nonexistent/dir failed"},
        {" --pid-file-dir " + open_to_all.dir, "is writable by every user"},
        {" --pid-file-dir " + nobodys.dir, "is owned by nobody (uid 65534), not root or the sidecar's user"},
        {pid + " --max-targets 0", "--max-targets 0 allows no target"},
        {pid + " --web-idle-timeout 500ms", "--web-idle-timeout 500ms is outside 1s to 1h"},
        {pid + " --web-idle-timeout 2h", "--web-idle-timeout 2h is outside 1s to 1h"},
        {pid + " --pid " + pid_text(::getpid()) + " --max-targets 1", "2 --pid targets are more than --max-targets 1"},
    };
    for (const auto& c : cases) {
        // Bounded: a sidecar that did start would serve until killed (124).
        const std::string command = "timeout 10 " + binary("dtrack") + " sidecar" + c.args + " 2>&1";
        const auto r = dtrack_test::run(command);
        EXPECT_EQ(r.exit_code, 2) << command << ": " << r.output;
        EXPECT_NE(r.output.find(c.says), std::string::npos) << command << " printed: " << r.output;
        EXPECT_NE(r.output.find("fix: "), std::string::npos) << command << " printed: " << r.output;
    }
}

}  // namespace
