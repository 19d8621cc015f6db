// --reader-cpus: dtvm's reader vCPUs on host CPUs of their own, the rest of
// dtvm on the CPUs left, as a real process shows it in /proc; and the CPU
// lists it takes and refuses.
#include <gtest/gtest.h>
#include <sched.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "dtvm/vm/reader_cpus.hpp"
#include "support/backends.hpp"
#include "support/background_process.hpp"
#include "support/run_command.hpp"

using dtrack_test::binary;

namespace {

TEST(ReaderCpuList, TakesTasksetListsAndRefusesTheRestNamingTheItem) {
    auto one = dtvm::parse_cpu_list("1", "--reader-cpus");
    ASSERT_TRUE(one) << one.error().message();
    EXPECT_EQ(*one, (std::vector<uint32_t>{1}));
    auto ranges = dtvm::parse_cpu_list("2-3,6", "--reader-cpus");
    ASSERT_TRUE(ranges) << ranges.error().message();
    EXPECT_EQ(*ranges, (std::vector<uint32_t>{2, 3, 6}));
    for (const std::string bad : {"", "x", "1,", "3-2", "1-", "-1", "1,1", "0-1,1", "1024", "99999"}) {
        auto r = dtvm::parse_cpu_list(bad, "--reader-cpus");
        ASSERT_FALSE(r) << "'" << bad << "' was taken";
        EXPECT_NE(r.error().message().find("--reader-cpus '" + bad + "'"), std::string::npos) << r.error().message();
        EXPECT_NE(r.error().fix.find("taskset -c"), std::string::npos) << r.error().fix;
    }
}

TEST(ReaderCpuList, RefusesCpusTheProcessMayNotUseAndLeavesOneForTheRest) {
    cpu_set_t allowed;
    ASSERT_EQ(::sched_getaffinity(0, sizeof allowed, &allowed), 0);
    std::vector<uint32_t> all;
    for (uint32_t c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &allowed)) all.push_back(c);
    auto everything = dtvm::plan_reader_cpus(all);
    ASSERT_FALSE(everything);
    EXPECT_NE(everything.error().message().find("leaves no CPU for the writers"), std::string::npos)
        << everything.error().message();
    auto outside = dtvm::plan_reader_cpus({CPU_SETSIZE - 1});
    if (CPU_ISSET(CPU_SETSIZE - 1, &allowed)) GTEST_SKIP() << "this host runs on CPU " << CPU_SETSIZE - 1;
    ASSERT_FALSE(outside);
    EXPECT_NE(outside.error().message().find("is not one dtvm may run on"), std::string::npos)
        << outside.error().message();
}

// Each thread of `pid` by name (comm), with the CPUs it may run on.
std::map<std::string, std::string> threads_and_cpus(pid_t pid) {
    std::map<std::string, std::string> found;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::string name, line;
        std::getline(std::ifstream(task.path() / "comm"), name);
        std::ifstream status(task.path() / "status");
        while (std::getline(status, line))
            if (line.rfind("Cpus_allowed_list:", 0) == 0) found[name] = line.substr(line.find_first_not_of(" \t", 18));
    }
    return found;
}

TEST(DtvmReaderCpus, ReadersRunOnTheirOwnCpusAndEveryOtherThreadOnTheRest) {
    cpu_set_t allowed;
    ASSERT_EQ(::sched_getaffinity(0, sizeof allowed, &allowed), 0);
    if (CPU_COUNT(&allowed) < 2) GTEST_SKIP() << "one CPU: nothing to keep the reader apart on";
    int last = CPU_SETSIZE - 1;
    while (!CPU_ISSET(last, &allowed)) --last;
    dtrack_test::BackgroundProcess dtvm(binary("dtvm") + " --backend process --mem 64M --vcpus 1 --readers 1" +
                                        " --wss 16M --rate 1k --duration 20s --reader-cpus " + std::to_string(last));
    // The threads appear as the guest starts; a deadline, not a timing.
    std::map<std::string, std::string> threads;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        threads = threads_and_cpus(dtvm.pid());
        if (threads.count("reader 1") && threads.count("vcpu 0")) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(threads.count("reader 1")) << "no thread named 'reader 1' in dtvm";
    EXPECT_EQ(threads["reader 1"], std::to_string(last));
    for (const auto& [name, cpus] : threads) {
        if (name == "reader 1") continue;
        EXPECT_EQ(cpus.find(std::to_string(last)), std::string::npos)
            << "thread '" << name << "' may run on the reader's CPU " << last << ": " << cpus;
    }
}

}  // namespace
