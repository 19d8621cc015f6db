// Two dtvm processes, as an operator runs them: `dtvm --incoming` and
// `dtvm --migrate-to` over 127.0.0.1.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <thread>

#include "kvm_test_support.hpp"
#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::run;

namespace {

// A `dtvm --incoming` in the background: its pid and port, its output at the end.
class Incoming {
public:
    explicit Incoming(const std::string& args) {
        pipe_ = ::popen(("sh -c 'echo $$; exec " + binary("dtvm") + " --incoming tcp://127.0.0.1:0 " + args +
                         "' 2>&1")
                            .c_str(),
                        "r");
        char line[512];
        if (pipe_ && std::fgets(line, sizeof line, pipe_)) pid_ = std::atoi(line);
        if (pipe_ && std::fgets(line, sizeof line, pipe_)) {
            output_ = line;
            if (const char* p = std::strstr(line, "127.0.0.1:")) port_ = std::atoi(p + 10);
        }
    }
    ~Incoming() {
        if (pipe_) finish();
    }
    int pid() const { return pid_; }
    int port() const { return port_; }
    // Waits for the process; returns its exit status (-1 if killed) and all it printed.
    int finish() {
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, pipe_)) > 0) output_.append(buf, n);
        const int status = ::pclose(pipe_);
        pipe_ = nullptr;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    const std::string& output() const { return output_; }

private:
    FILE* pipe_ = nullptr;
    int pid_ = 0, port_ = 0;
    std::string output_;
};

const std::string guest = "--mem 128M --vcpus 2 --workload hotcold --wss 64M --rate 50k";

TEST(DtvmMigrationCli, MigratesAndTheDigestsMatch) {
    DTRACK_REQUIRE_KVM();
    Incoming in("--mem 128M");
    ASSERT_GT(in.port(), 0) << in.output();
    const auto src = run(binary("dtvm") + " " + guest + " --migrate-to tcp://127.0.0.1:" + std::to_string(in.port()) +
                         " --bandwidth 200M --auto-converge --warmup 500ms 2>&1");
    EXPECT_EQ(src.exit_code, 0) << src.output;
    EXPECT_NE(src.output.find("digest matches"), std::string::npos) << src.output;
    EXPECT_EQ(in.finish(), 0) << in.output();
    EXPECT_NE(in.output().find("matches the source's"), std::string::npos) << in.output();
}

TEST(DtvmMigrationCli, ReceiverKilledMidMigration) {
    DTRACK_REQUIRE_KVM();
    Incoming in("--mem 128M");
    ASSERT_GT(in.port(), 0) << in.output();
    // A slow link so the migration is still running when the receiver dies.
    std::thread killer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        ::kill(in.pid(), SIGKILL);
    });
    const auto src = run(binary("dtvm") + " " + guest + " --migrate-to tcp://127.0.0.1:" + std::to_string(in.port()) +
                         " --bandwidth 20M --warmup 500ms --max-time 60s 2>&1");
    killer.join();
    EXPECT_NE(in.finish(), 0) << "the receiver was killed";
    EXPECT_EQ(src.exit_code, 4) << src.output;
    EXPECT_NE(src.output.find("migration failed"), std::string::npos) << src.output;
    EXPECT_NE(src.output.find("the guest runs on here"), std::string::npos) << src.output;
}

TEST(DtvmMigrationCli, NoReceiverIsAClearError) {
    DTRACK_REQUIRE_KVM();
    // Port 1 on loopback: nothing listens there.
    const auto src = run(binary("dtvm") + " --mem 64M --wss 16M --migrate-to tcp://127.0.0.1:1 --warmup 0 2>&1");
    EXPECT_EQ(src.exit_code, 4) << src.output;
    EXPECT_NE(src.output.find("dtvm --incoming"), std::string::npos) << src.output;
    const auto bad = run(binary("dtvm") + " --migrate-to udp://x 2>&1");
    EXPECT_EQ(bad.exit_code, 2) << bad.output;
    EXPECT_NE(bad.output.find("tcp://127.0.0.1:4444"), std::string::npos) << bad.output;
}

}  // namespace
