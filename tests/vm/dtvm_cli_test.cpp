// dtvm end to end, as an operator runs it: the guest's measured write rate
// and the pages dtrack harvested agree with the workload's ground truth on
// every backend, reader vCPUs (--readers) read without dirtying a page, bad
// input gets a clear message and exit code 2 before any device is opened,
// and a machine without KVM gets the process backend.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "support/backends.hpp"
#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::run;
using nlohmann::json;

namespace {

// Each vCPU writes 20k pages/s sequentially over a part larger than that, so
// every write of an interval lands on a distinct page.
void expect_rates_match_ground_truth(const std::string& backend_and_track) {
    const auto r = run(binary("dtvm") + " --mem 256M --vcpus 2 --workload sequential --wss 200M --rate 20k" +
                       " --duration 4s --json " + backend_and_track);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::istringstream lines(r.output);
    std::string line;
    int intervals = 0;
    double last_time = 0;
    while (std::getline(lines, line)) {
        const json j = json::parse(line);
        if (j.contains("summary")) {
            EXPECT_EQ(j["summary"]["lost"], 0);
            continue;
        }
        // An interval is 1 s of sleep plus the check's pause: its real length.
        const double secs = j["time_s"].get<double>() - last_time;
        last_time = j["time_s"].get<double>();
        if (++intervals == 1) continue;  // the first interval includes start-up
        EXPECT_EQ(j["lost"], 0) << line;
        // Harvested distinct pages = distinct pages the guest wrote (only a
        // store in flight at the pause may differ, one per vCPU).
        EXPECT_NEAR(j["harvested"].get<double>(), j["written"].get<double>(), 2) << line;
        for (const json& v : j["vcpus"]) {
            // The pacer holds each vCPU to its rate: never above it. Below it
            // only says the machine was busy (other work on 2 cores), which is
            // no fault of tracking, so it is not checked.
            EXPECT_LE(v["writes_per_s"].get<double>(), 20000 * 1.05) << "vCPU " << v["vcpu"] << ": " << line;
            EXPECT_GT(v["writes_per_s"].get<double>(), 0) << "vCPU " << v["vcpu"] << ": " << line;
            // Sequential over more pages than an interval writes: each write is a new page.
            EXPECT_NEAR(v["distinct"].get<double>(), v["writes_per_s"].get<double>() * secs, 0.05 * 20000) << line;
        }
    }
    EXPECT_GE(intervals, 3);
}

TEST(DtvmCli, RingRatesMatchGroundTruth) {
    DTRACK_REQUIRE_KVM();
    expect_rates_match_ground_truth("--backend kvm --track ring");
}

TEST(DtvmCli, LogRatesMatchGroundTruth) {
    DTRACK_REQUIRE_KVM();
    expect_rates_match_ground_truth("--backend kvm --track log");
}

TEST(DtvmCli, ProcessBackendRatesMatchGroundTruth) {
    DTRACK_REQUIRE_BACKEND(dtvm::Backend::process);
    expect_rates_match_ground_truth("--backend process --track uffd");
}

TEST(DtvmCli, BadInputGetsAClearMessageAndExitCode2) {
    const struct {
        std::string args, says;
    } cases[] = {
        {"--workload zigzag", "use one of: sequential, random, hotcold"},
        {"--mem 64M --wss 1G", "lower --wss or raise --mem"},
        {"--ring-size 1000", "not a power of two"},
        {"--mem lots", "'lots' is not a size"},
        {"--track mirror", "use --track ring, log, uffd or auto"},
        {"--backend vmware", "use --backend kvm, process or auto"},
        {"--backend process --track ring", "use --track uffd"},
        {"--backend kvm --track uffd", "--backend process"},
        {"--vcpus 0", "use 1 to 255"},
        {"--readers -1", "use --readers 0 to 253"},
        {"--vcpus 200 --readers 100", "use --readers 0 to 55, or fewer --vcpus"},
        {"--readers some", "--readers"},
        {"--mem 12345", "multiple of 4 KiB"},
        {"--no-such-option", "--no-such-option"},
        {"--reader-cpus 1", "add --readers N"},
        {"--readers 1 --reader-cpus one", "taskset -c"},
        {"--readers 1 --reader-cpus 1023", "is not one dtvm may run on"},
        {"--write-bytes 12", "give a multiple of 8 from 8 to 4096"},
        {"--write-bytes 0", "give a multiple of 8 from 8 to 4096"},
        {"--write-bytes 8192", "give a multiple of 8 from 8 to 4096"},
        {"--migrate-to tcp://127.0.0.1:1 --background-sync 3s --background-sync-every 5s", "give one of them"},
        {"--migrate-to tcp://127.0.0.1:1 --background-sync-every 1ms", "give a period of 4 ms or more"},
    };
    for (const auto& c : cases) {
        const auto r = run(binary("dtvm") + " " + c.args + " --duration 1s 2>&1");
        EXPECT_EQ(r.exit_code, 2) << c.args << ": " << r.output;
        EXPECT_NE(r.output.find(c.says), std::string::npos) << c.args << " printed: " << r.output;
    }
}

// --- readers: vCPUs 2 and 3 after the 2 writers, on each backend ----------------

// The JSON intervals of a run with 2 writers and 2 readers (the summary is
// checked here: exit 0, nothing lost). Writers: sequential at 2k pages/s
// each over parts of 8192 pages, so an interval writes a quarter of the
// working set at most; readers sweep all of it, as fast as they run.
std::vector<json> run_with_two_readers(const std::string& args) {
    const auto r = run(binary("dtvm") + " --mem 128M --vcpus 2 --readers 2 --workload sequential --wss 64M" +
                       " --rate 2k --duration 3s --json " + args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::vector<json> intervals;
    std::istringstream lines(r.output);
    std::string line;
    while (std::getline(lines, line)) {
        const json j = json::parse(line);
        if (j.contains("summary")) EXPECT_EQ(j["summary"]["lost"], 0) << line;
        else intervals.push_back(j);
    }
    EXPECT_GE(intervals.size(), 2u) << r.output;
    return intervals;
}

// Each interval: nothing lost; the writers write and read nothing; the
// readers report reads and no page holds a reader's stamp; the interval's
// reads_per_s is the readers' sum.
void expect_readers_read_and_stamp_nothing(const std::string& backend_and_track) {
    for (const json& j : run_with_two_readers(backend_and_track)) {
        EXPECT_EQ(j["lost"], 0) << j;
        ASSERT_EQ(j["vcpus"].size(), 4u) << j;
        double readers_sum = 0;
        for (const json& v : j["vcpus"]) {
            const bool reader = v["vcpu"].get<int>() >= 2;
            EXPECT_EQ(v["role"], reader ? "reader" : "writer") << v;
            if (reader) {
                EXPECT_GT(v["reads_per_s"].get<double>(), 0) << v;
                EXPECT_EQ(v["writes_per_s"], 0) << v;
                EXPECT_EQ(v["distinct"], 0) << "a page holds a reader's stamp: " << v;
                readers_sum += v["reads_per_s"].get<double>();
            } else {
                EXPECT_GT(v["writes_per_s"].get<double>(), 0) << v;
                EXPECT_GT(v["distinct"].get<double>(), 0) << v;
                EXPECT_EQ(v["reads_per_s"], 0) << v;
            }
        }
        EXPECT_DOUBLE_EQ(j["reads_per_s"].get<double>(), readers_sum) << j;
    }
}

TEST(DtvmCli, ReadersReportReadsAndNoWrittenPageIsLostOnKvm) {
    DTRACK_REQUIRE_KVM();
    expect_readers_read_and_stamp_nothing("--backend kvm --track ring");
}

TEST(DtvmCli, ReadersReportReadsAndNoWrittenPageIsLostOnTheProcessBackend) {
    DTRACK_REQUIRE_BACKEND(dtvm::Backend::process);
    expect_readers_read_and_stamp_nothing("--backend process --track uffd");
}

// Throttled or not, the tracker reports only the pages the writers wrote:
// readers that sweep the whole working set every interval add no page,
// also none they would rewrite with what it held. The first interval is
// left out (it includes start-up); in flight at a pause: one store per
// writer on KVM.
void expect_readers_dirty_no_page(const std::string& backend_and_track) {
    const std::vector<json> intervals = run_with_two_readers("--throttle 50 " + backend_and_track);
    for (size_t i = 1; i < intervals.size(); ++i) {
        const json& j = intervals[i];
        EXPECT_LE(j["harvested"].get<double>(), j["written"].get<double>() + 2) << j;
        EXPECT_LE(j["false_positives"].get<double>(), 2) << j;
        // Else the check proves less: each reader read at least as many
        // pages as the working set has (16384), in order, so all of them.
        const double secs = j["time_s"].get<double>() - intervals[i - 1]["time_s"].get<double>();
        for (const json& v : j["vcpus"]) {
            if (v["role"] != "reader") continue;
            EXPECT_GE(v["reads_per_s"].get<double>() * secs, 16384) << v;
        }
    }
}

TEST(DtvmCli, ThrottledReadersDirtyNoPageOnKvm) {
    DTRACK_REQUIRE_KVM();
    expect_readers_dirty_no_page("--backend kvm --track ring");
}

TEST(DtvmCli, ThrottledReadersDirtyNoPageOnKvmDirtyLog) {
    DTRACK_REQUIRE_KVM();
    expect_readers_dirty_no_page("--backend kvm --track log");
}

TEST(DtvmCli, ThrottledReadersDirtyNoPageOnTheProcessBackend) {
    DTRACK_REQUIRE_BACKEND(dtvm::Backend::process);
    expect_readers_dirty_no_page("--backend process --track uffd");
}

// Every size, count and duration option refuses a value its type cannot hold,
// naming the option: none wraps into a negative or zero value and runs.
TEST(DtvmCli, EveryNumberOptionRefusesValuesBeyondItsRangeNamingIt) {
    const char* migration = " --migrate-to tcp://127.0.0.1:1";
    const struct {
        std::string option, extra;
    } options[] = {{"--mem", ""},
                   {"--wss", ""},
                   {"--rate", ""},
                   {"--duration", ""},
                   {"--interval", ""},
                   {"--bandwidth", migration},
                   {"--downtime", migration},
                   {"--max-time", migration},
                   {"--warmup", migration},
                   {"--background-sync", migration},
                   {"--background-sync-every", migration},
                   {"--write-bytes", ""}};
    for (const auto& o : options) {
        // Beyond the type: the parser's own refusal.
        const auto r = run(binary("dtvm") + " " + o.option + " 1e99" + o.extra + " 2>&1");
        EXPECT_EQ(r.exit_code, 2) << o.option << ": " << r.output;
        EXPECT_NE(r.output.find(o.option + ": '1e99' is too large"), std::string::npos) << o.option << ": " << r.output;
        // Within the type, beyond what the option means: refused too, naming
        // it (a bandwidth of 10 EB/s just means no cap).
        if (o.option == "--bandwidth") continue;
        const auto big = run(binary("dtvm") + " " + o.option + " 1e19" + o.extra + " 2>&1");
        EXPECT_EQ(big.exit_code, 2) << o.option << " 1e19: " << big.output;
        EXPECT_NE(big.output.find(o.option), std::string::npos) << o.option << " 1e19: " << big.output;
    }
}

// A private mount namespace with an empty /dev, as on a machine without KVM.
dtrack_test::CommandResult run_without_dev(const std::string& args) {
    return run("unshare -m sh -c 'mount -t tmpfs none /dev && exec " + binary("dtvm") + " " + args + "' 2>&1");
}

bool no_mount_namespace(const dtrack_test::CommandResult& r) {
    return r.output.find("unshare failed") != std::string::npos || r.output.find("mount:") != std::string::npos;
}

TEST(DtvmCli, NoDevKvmIsNamedWhenKvmIsAskedFor) {
    const auto r = run_without_dev("--backend kvm --duration 1s");
    if (no_mount_namespace(r)) GTEST_SKIP() << "cannot make a mount namespace here: " << r.output;
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("no /dev/kvm"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--backend process"), std::string::npos) << "the fix must be named: " << r.output;
}

TEST(DtvmCli, WithoutKvmAutoRunsTheProcessBackendAndSaysWhy) {
    DTRACK_REQUIRE_BACKEND(dtvm::Backend::process);
    const auto r = run_without_dev("--duration 2s --rate 10k");
    if (no_mount_namespace(r)) GTEST_SKIP() << "cannot make a mount namespace here: " << r.output;
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("dtvm: backend process: KVM is not usable here (no /dev/kvm"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find(", 0 lost"), std::string::npos) << r.output;
}

}  // namespace
