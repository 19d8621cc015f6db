// Two dtvm processes, as an operator runs them: `dtvm --incoming` and
// `dtvm --migrate-to` over 127.0.0.1, on each backend, and from a KVM guest
// into a process-backend destination (the wire carries memory, not CPU
// state) where KVM exists.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <cstdio>
#include <cmath>
#include <cstring>
#include <memory>
#include <regex>
#include <thread>

#include "support/backends.hpp"
#include "support/run_command.hpp"
#include "support/sanitizers.hpp"
#include "support/tls_files.hpp"

using dtrack_test::binary;
using dtrack_test::run;

namespace {

// A `dtvm --incoming` in the background: its pid and port, its output at the end.
class Incoming {
public:
    explicit Incoming(const std::string& args, const std::string& host = "127.0.0.1") {
        pipe_ = ::popen(
            ("sh -c 'echo $$; exec " + binary("dtvm") + " --incoming tcp://" + host + ":0 " + args + "' 2>&1").c_str(),
            "r");
        char line[512];
        if (pipe_ && std::fgets(line, sizeof line, pipe_)) pid_ = std::atoi(line);
        // Up to the "listening on HOST:PORT" line (a backend line may come first).
        const std::string listening = "listening on " + host + ":";
        while (pipe_ && port_ == 0 && std::fgets(line, sizeof line, pipe_)) {
            output_ += line;
            if (const char* p = std::strstr(line, listening.c_str())) port_ = std::atoi(p + listening.size());
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

// Under a sanitizer the sender (TLS above all) runs many times slower while
// a process-backend guest keeps its pace (ThreadSanitizer: x509 at ~35 MiB/s
// against 2 x 50k writes/s never converged in 60 s), so the guest writes 25
// times slower there; its writes still race the copies.
const std::string guest =
    std::string("--mem 128M --vcpus 2 --workload hotcold --wss 64M --rate ") + (dtrack_test::kSanitized ? "2k" : "50k");

std::string with_backend(dtvm::Backend b) { return " --backend " + dtvm::backend_name(b) + " "; }

struct Pair {
    dtvm::Backend source, destination;
};

class DtvmMigrationCli : public testing::TestWithParam<Pair> {};

TEST_P(DtvmMigrationCli, MigratesAndTheDigestsMatch) {
    const Pair p = GetParam();
    DTRACK_REQUIRE_BACKEND(p.source);
    Incoming in("--mem 128M" + with_backend(p.destination));
    ASSERT_GT(in.port(), 0) << in.output();
    const auto src = run(binary("dtvm") + " " + guest + with_backend(p.source) + " --migrate-to tcp://127.0.0.1:" +
                         std::to_string(in.port()) + " --bandwidth 200M --auto-converge --warmup 500ms 2>&1");
    EXPECT_EQ(src.exit_code, 0) << src.output;
    EXPECT_NE(src.output.find("digest matches"), std::string::npos) << src.output;
    EXPECT_EQ(in.finish(), 0) << in.output();
    EXPECT_NE(in.output().find("matches the source's"), std::string::npos) << in.output();
}

INSTANTIATE_TEST_SUITE_P(Backends, DtvmMigrationCli,
                         testing::Values(Pair{dtvm::Backend::kvm, dtvm::Backend::kvm},
                                         Pair{dtvm::Backend::process, dtvm::Backend::process},
                                         Pair{dtvm::Backend::kvm, dtvm::Backend::process}),
                         [](const auto& info) {
                             return dtvm::backend_name(info.param.source) + "_to_" +
                                    dtvm::backend_name(info.param.destination);
                         });

// A count as dtrack::format_count prints it: "950", "12.5k", "1.23M".
double parse_count(const std::string& text, const std::string& suffix) {
    return std::stod(text) * (suffix == "M" ? 1e6 : suffix == "k" ? 1e3 : 1);
}

class DtvmMigrationCliReaders : public testing::TestWithParam<dtvm::Backend> {};

// With --readers 2 the source prints, for vCPUs 2 and 3 (and no writer),
// the reads/s over the migration and over the warm-up before it; both are
// above 0, and the migration completes as without readers.
TEST_P(DtvmMigrationCliReaders, EachReaderReportsItsReadsOverTheMigrationAndTheWarmUp) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    Incoming in("--mem 128M" + with_backend(GetParam()));
    ASSERT_GT(in.port(), 0) << in.output();
    const auto src = run(binary("dtvm") + " " + guest + " --readers 2" + with_backend(GetParam()) +
                         " --migrate-to tcp://127.0.0.1:" + std::to_string(in.port()) +
                         " --bandwidth 200M --auto-converge --warmup 500ms 2>&1");
    EXPECT_EQ(src.exit_code, 0) << src.output;
    EXPECT_NE(src.output.find("(2 vCPUs + 2 readers,"), std::string::npos) << src.output;
    EXPECT_NE(src.output.find("digest matches"), std::string::npos) << src.output;
    EXPECT_EQ(in.finish(), 0) << in.output();

    const std::regex line(R"(reader vCPU (\d+): ([0-9.]+)([kM]?) reads/s over the migration, ([0-9.]+)([kM]?) reads/s )"
                          R"(over the warm-up before it)");
    std::vector<int> readers;
    for (std::sregex_iterator m(src.output.begin(), src.output.end(), line), end; m != end; ++m) {
        readers.push_back(std::stoi((*m)[1]));
        EXPECT_GT(parse_count((*m)[2], (*m)[3]), 0) << m->str();
        EXPECT_GT(parse_count((*m)[4], (*m)[5]), 0) << m->str();
    }
    EXPECT_EQ(readers, (std::vector<int>{2, 3})) << src.output;
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, DtvmMigrationCliReaders,
                         testing::Values(dtvm::Backend::kvm, dtvm::Backend::process),
                         [](const auto& info) { return dtvm::backend_name(info.param); });

class DtvmMigrationCliDirtyLimit : public testing::TestWithParam<dtvm::Backend> {};

// Writers far faster than the link: the migration does not converge, the
// trigger engages the limit, the writers are held (each sleeps most of its
// time) while the reader never sleeps, and the migration completes with
// the digests matching. The report gives every vCPU's steady rate, quota
// and sleep share.
TEST_P(DtvmMigrationCliDirtyLimit, EngagesWhenTheGuestOutrunsTheLinkAndSlowsOnlyTheWriters) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    Incoming in("--mem 64M" + with_backend(GetParam()));
    ASSERT_GT(in.port(), 0) << in.output();
    const auto src =
        run(binary("dtvm") + " --mem 64M --vcpus 2 --readers 1 --workload random --wss 48M --rate " +
            (dtrack_test::kSanitized ? "5k" : "15k") + " --exit-every 64" + with_backend(GetParam()) +
            " --migrate-to tcp://127.0.0.1:" + std::to_string(in.port()) +
            " --bandwidth 32M --dirty-limit 2500 --dirty-limit-sleep slice --warmup 1s --max-time 120s 2>&1");
    EXPECT_EQ(src.exit_code, 0) << src.output;
    EXPECT_NE(src.output.find("digest matches"), std::string::npos) << src.output;
    EXPECT_EQ(in.finish(), 0) << in.output();
    EXPECT_NE(src.output.find("dirty limit: engaged at"), std::string::npos) << src.output;

    const std::regex steady(
        R"(dirty limit: vCPU (\d+)( \(reader\))? steady rate \d+ pages/s = \d+% of its quota 2500, )"
        R"(sleep share ([0-9.]+)%)");
    std::vector<int> vcpus;
    for (std::sregex_iterator m(src.output.begin(), src.output.end(), steady), end; m != end; ++m) {
        const int v = std::stoi((*m)[1]);
        vcpus.push_back(v);
        const double share = std::stod((*m)[3]);
        if (v == 2) {
            EXPECT_TRUE((*m)[2].matched) << m->str();
            EXPECT_EQ(share, 0.0) << "the reader slept: " << m->str();
        } else {
            EXPECT_GT(share, 50.0) << "a writer ran on unheld: " << m->str();
        }
    }
    EXPECT_EQ(vcpus, (std::vector<int>{0, 1, 2})) << src.output;
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, DtvmMigrationCliDirtyLimit,
                         testing::Values(dtvm::Backend::kvm, dtvm::Backend::process),
                         [](const auto& info) { return dtvm::backend_name(info.param); });

class DtvmMigrationCliFaults : public testing::TestWithParam<dtvm::Backend> {};

TEST_P(DtvmMigrationCliFaults, ReceiverKilledMidMigration) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    Incoming in("--mem 128M" + with_backend(GetParam()));
    ASSERT_GT(in.port(), 0) << in.output();
    // A slow link so the migration is still running when the receiver dies.
    std::thread killer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        ::kill(in.pid(), SIGKILL);
    });
    const auto src = run(binary("dtvm") + " " + guest + with_backend(GetParam()) + " --migrate-to tcp://127.0.0.1:" +
                         std::to_string(in.port()) + " --bandwidth 4M --warmup 500ms --max-time 60s 2>&1");
    killer.join();
    EXPECT_NE(in.finish(), 0) << "the receiver was killed";
    EXPECT_EQ(src.exit_code, 4) << src.output;
    EXPECT_NE(src.output.find("migration failed"), std::string::npos) << src.output;
    EXPECT_NE(src.output.find("the guest runs on here"), std::string::npos) << src.output;
}

TEST_P(DtvmMigrationCliFaults, NoReceiverIsAClearError) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    // Port 1 on loopback: nothing listens there.
    const auto src = run(binary("dtvm") + " --mem 64M --wss 16M" + with_backend(GetParam()) +
                         " --migrate-to tcp://127.0.0.1:1 --warmup 0 2>&1");
    EXPECT_EQ(src.exit_code, 4) << src.output;
    EXPECT_NE(src.output.find("dtvm --incoming"), std::string::npos) << src.output;
    const auto bad = run(binary("dtvm") + " --migrate-to udp://x 2>&1");
    EXPECT_EQ(bad.exit_code, 2) << bad.output;
    EXPECT_NE(bad.output.find("tcp://127.0.0.1:4444"), std::string::npos) << bad.output;
}

// A cap under the receiver's floor (64 KiB/s over 10 s) would be cut off
// after 10 s with a fix only the receiver's library options can apply: it
// is refused before the source connects; the floor itself is a valid cap.
TEST(DtvmMigrationCliBandwidth, ACapUnderTheReceiversFloorIsRefusedBeforeConnecting) {
    DTRACK_REQUIRE_BACKEND(dtvm::Backend::process);
    Incoming in("--mem 64M --backend process");
    ASSERT_GT(in.port(), 0) << in.output();
    const std::string source = "timeout 8 " + binary("dtvm") + " --backend process --mem 64M --wss 16M --warmup 0" +
                               " --migrate-to tcp://127.0.0.1:";
    const auto under = run(source + std::to_string(in.port()) + " --bandwidth 32K 2>&1");
    EXPECT_EQ(under.exit_code, 2) << under.output;
    EXPECT_NE(under.output.find("--bandwidth 32.0 KiB/s is under the 64.0 KiB/s a dtvm --incoming receiver requires"),
              std::string::npos)
        << under.output;
    EXPECT_NE(under.output.find("use --bandwidth 64K or more, or 0 for no cap"), std::string::npos) << under.output;
    // Nothing connected: the receiver still waits for its one migration.
    EXPECT_EQ(::kill(in.pid(), 0), 0) << in.output();
    ::kill(in.pid(), SIGTERM);
    in.finish();
    EXPECT_EQ(in.output().find("migration refused"), std::string::npos) << in.output();

    // The floor is accepted: it gets as far as connecting (nothing listens on port 1).
    const auto at_floor = run(source + "1 --bandwidth 64K 2>&1");
    EXPECT_EQ(at_floor.exit_code, 4) << at_floor.output;
    EXPECT_NE(at_floor.output.find("dtvm --incoming"), std::string::npos) << at_floor.output;
}

// --defer-hot: K outside 1..8, or K alone, is refused before connecting; a
// migration with it says so in its plan and reports the pages it deferred.
TEST(DtvmMigrationCliDeferral, BadRoundsAreRefusedAndTheReportSaysWhatWasDeferred) {
    DTRACK_REQUIRE_BACKEND(dtvm::Backend::process);
    const std::string source =
        binary("dtvm") + " --backend process --mem 64M --wss 16M --warmup 0 --migrate-to tcp://127.0.0.1:1";
    for (const char* bad : {" --defer-hot --defer-hot-rounds 0", " --defer-hot --defer-hot-rounds 9",
                            " --defer-hot --defer-hot-rounds two", " --defer-hot-rounds 2"}) {
        const auto r = run(source + bad + " 2>&1");
        EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.output;
        EXPECT_NE(r.output.find("--defer-hot"), std::string::npos) << r.output;
        EXPECT_NE(r.output.find("fix:"), std::string::npos) << r.output;
    }
    Incoming in("--mem 64M --backend process");
    ASSERT_GT(in.port(), 0) << in.output();
    const auto ok =
        run("timeout 60 " + binary("dtvm") +
            " --backend process --mem 64M --vcpus 1 --wss 32M --workload hotcold --hot-fraction 0.02 --rate 50k "
            "--warmup 500ms"
            " --bandwidth 50M --downtime 30ms --defer-hot --defer-hot-rounds 3 --migrate-to tcp://127.0.0.1:" +
            std::to_string(in.port()) + " 2>&1");
    in.finish();
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_NE(ok.output.find("hot-page deferral pages dirty 3 rounds running"), std::string::npos) << ok.output;
    EXPECT_NE(ok.output.find("pages deferred (page-rounds"), std::string::npos) << ok.output;
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, DtvmMigrationCliFaults,
                         testing::Values(dtvm::Backend::kvm, dtvm::Backend::process),
                         [](const auto& info) { return dtvm::backend_name(info.param); });

// --- migration security: TLS on both backends, loopback-only without it ---------------------

class DtvmMigrationCliTls : public testing::TestWithParam<dtvm::Backend> {
protected:
    struct Both {
        std::unique_ptr<Incoming> in;
        dtrack_test::CommandResult src;
        int in_exit = -1;
    };
    // A migration where the source has `source_tls` and the destination `destination_tls`.
    Both migrate(const std::string& source_tls, const std::string& destination_tls) {
        Both b;
        b.in = std::make_unique<Incoming>("--mem 128M" + with_backend(GetParam()) + destination_tls);
        EXPECT_GT(b.in->port(), 0) << b.in->output();
        b.src = run(binary("dtvm") + " " + guest + with_backend(GetParam()) + source_tls +
                    " --migrate-to tcp://127.0.0.1:" + std::to_string(b.in->port()) +
                    " --bandwidth 200M --warmup 500ms --max-time 60s 2>&1");
        b.in_exit = b.in->finish();
        return b;
    }
};

TEST_P(DtvmMigrationCliTls, MigratesWithX509CredentialsAndTheDigestsMatch) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    const std::string creds = " --tls-creds " + dtrack_test::x509_dir("dtvm", "ca-a");
    auto [in, src, in_exit] = migrate(creds, creds);
    EXPECT_EQ(src.exit_code, 0) << src.output;
    EXPECT_NE(src.output.find("TLS x509 credentials from"), std::string::npos) << src.output;
    EXPECT_NE(src.output.find("digest matches"), std::string::npos) << src.output;
    EXPECT_EQ(in_exit, 0) << in->output();
    EXPECT_NE(in->output().find("matches the source's"), std::string::npos) << in->output();
}

TEST_P(DtvmMigrationCliTls, MigratesWithAPreSharedKeyAndTheDigestsMatch) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    const std::string keys = " --tls-psk " + dtrack_test::psk_file("dtvm", "dtvm:" + dtrack_test::psk_key(9) + "\n");
    auto [in, src, in_exit] = migrate(keys + " --tls-psk-identity dtvm", keys);
    EXPECT_EQ(src.exit_code, 0) << src.output;
    EXPECT_NE(src.output.find("digest matches"), std::string::npos) << src.output;
    EXPECT_EQ(in_exit, 0) << in->output();
    EXPECT_NE(in->output().find("matches the source's"), std::string::npos) << in->output();
}

TEST_P(DtvmMigrationCliTls, AWrongCaEndsWithAClearErrorOnBothSides) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    auto [in, src, in_exit] = migrate(" --tls-creds " + dtrack_test::x509_dir("dtvm", "ca-b"),
                                      " --tls-creds " + dtrack_test::x509_dir("dtvm", "ca-a"));
    EXPECT_EQ(src.exit_code, 4) << src.output;
    EXPECT_NE(src.output.find("TLS handshake with the receiver failed"), std::string::npos) << src.output;
    EXPECT_NE(src.output.find("the guest runs on here"), std::string::npos) << src.output;
    EXPECT_EQ(in_exit, 4) << in->output();
    EXPECT_NE(in->output().find("TLS handshake with the sender failed"), std::string::npos) << in->output();
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, DtvmMigrationCliTls, testing::Values(dtvm::Backend::kvm, dtvm::Backend::process),
                         [](const auto& info) { return dtvm::backend_name(info.param); });

TEST(DtvmMigrationCliSecurity, IncomingBeyondLoopbackNeedsTlsOrInsecure) {
    DTRACK_REQUIRE_BACKEND(dtvm::Backend::process);
    const auto refused = run(binary("dtvm") + " --backend process --mem 64M --incoming tcp://0.0.0.0:0 2>&1");
    EXPECT_EQ(refused.exit_code, 2) << refused.output;
    EXPECT_NE(refused.output.find("without TLS"), std::string::npos) << refused.output;
    EXPECT_NE(refused.output.find("--insecure"), std::string::npos) << refused.output;
    EXPECT_NE(refused.output.find("--tls-creds"), std::string::npos) << refused.output;

    Incoming insecure("--backend process --mem 64M --insecure", "0.0.0.0");
    EXPECT_GT(insecure.port(), 0) << insecure.output();
    EXPECT_NE(insecure.output().find("warning: --insecure"), std::string::npos) << insecure.output();
    ::kill(insecure.pid(), SIGTERM);
    insecure.finish();

    const auto contradiction =
        run(binary("dtvm") + " --mem 64M --incoming tcp://127.0.0.1:0 --insecure --tls-psk x 2>&1");
    EXPECT_EQ(contradiction.exit_code, 2) << contradiction.output;
}

class DtvmMigrationCliJson : public testing::TestWithParam<dtvm::Backend> {};

// The last line of a line-oriented report, and the first match of `re` in it.
std::string last_line(const std::string& output) {
    const size_t end = output.find_last_not_of('\n');
    const size_t start = output.rfind('\n', end);
    return output.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start + 1));
}

std::smatch first_match(const std::string& text, const std::string& re) {
    std::smatch m;
    std::regex_search(text, m, std::regex(re));
    return m;
}

// --json: the report for people, then one JSON object as the last line of
// stdout, whose figures are the report's (to the report's precision), with
// the guest's memory and bytes sent per byte of it, the throttle's last
// step and each reader's reads/s over the migration against the warm-up.
TEST_P(DtvmMigrationCliJson, EndsWithOneJsonSummaryThatAgreesWithTheReport) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    Incoming in("--mem 128M" + with_backend(GetParam()));
    ASSERT_GT(in.port(), 0) << in.output();
    const auto src = run(binary("dtvm") + " " + guest + " --readers 1 --write-bytes 512" + with_backend(GetParam()) +
                         " --migrate-to tcp://127.0.0.1:" + std::to_string(in.port()) +
                         " --bandwidth 200M --auto-converge --warmup 500ms --json");
    ASSERT_EQ(src.exit_code, 0) << src.output;
    EXPECT_EQ(in.finish(), 0) << in.output();
    const nlohmann::json j = nlohmann::json::parse(last_line(src.output), nullptr, false);
    ASSERT_TRUE(j.is_object()) << "the last line is not a JSON object: " << src.output;

    const std::smatch m = first_match(
        src.output, R"(migration: (\w+) after ([0-9.]+) s: (\d+) rounds, (\d+) round syncs, (\d+) background syncs, )"
                    R"((\d+) pages sent \((\d+) zero\), .* on the wire, ([0-9.]+) bytes per byte of guest memory)");
    ASSERT_FALSE(m.empty()) << src.output;
    EXPECT_EQ(j["status"], m[1].str());
    EXPECT_NEAR(j["total_s"].get<double>(), std::stod(m[2]), 0.006);
    EXPECT_EQ(j["rounds"], std::stoull(m[3]));
    // Round 1 is part of the whole, and takes time: every page goes.
    EXPECT_GT(j["first_round_s"].get<double>(), 0);
    EXPECT_LT(j["first_round_s"].get<double>(), j["total_s"].get<double>());
    EXPECT_EQ(j["round_syncs"], std::stoull(m[4]));
    EXPECT_EQ(j["background_syncs"], std::stoull(m[5]));
    EXPECT_EQ(j["pages_sent"], std::stoull(m[6]));
    EXPECT_EQ(j["zero_pages"], std::stoull(m[7]));
    EXPECT_EQ(j["guest_bytes"], 128u << 20);
    const double per_byte = j["bytes_per_guest_byte"].get<double>();
    EXPECT_DOUBLE_EQ(per_byte, j["bytes_sent"].get<double>() / j["guest_bytes"].get<double>());
    EXPECT_NEAR(per_byte, std::stod(m[8]), 0.006);
    EXPECT_GT(per_byte, 0.0);

    const std::smatch d = first_match(src.output, R"(downtime: ([0-9.]+) ms real \(estimated ([0-9.]+) ms\))");
    ASSERT_FALSE(d.empty()) << src.output;
    EXPECT_NEAR(j["downtime_ms"].get<double>(), std::stod(d[1]), 0.06);
    EXPECT_NEAR(j["estimated_downtime_ms"].get<double>(), std::stod(d[2]), 0.06);
    // Where the downtime went: its parts, in order, add up to it.
    const auto& parts = j["downtime_parts_ms"];
    double summed = 0;
    for (const char* part : {"sync", "final_round", "digest", "acknowledgement"}) {
        ASSERT_TRUE(parts.contains(part)) << parts.dump();
        EXPECT_GE(parts[part].get<double>(), 0) << part;
        summed += parts[part].get<double>();
    }
    EXPECT_NEAR(summed, j["downtime_ms"].get<double>(), 0.01) << parts.dump();
    EXPECT_GT(parts["digest"].get<double>(), 0) << "hashing 128 MiB takes time";
    const std::smatch p = first_match(src.output, R"(final round ([0-9.]+) \(([0-9]+) pages\))");
    ASSERT_FALSE(p.empty()) << src.output;
    EXPECT_NEAR(parts["final_round"].get<double>(), std::stod(p[1]), 0.06);
    EXPECT_EQ(parts["final_round_pages"], std::stoull(p[2]));

    // The throttle line's last step ("... 30% at 1.2 s (round sync)"), or 0 when it never engaged.
    const std::string throttle = first_match(src.output, "throttle:[^\n]*").str();
    const std::smatch step = first_match(throttle, R"((\d+)% at [^%]*$)");
    EXPECT_EQ(j["throttle_last_pct"], step.empty() ? 0 : std::stoi(step[1])) << throttle;

    ASSERT_EQ(j["readers"].size(), 1u) << j.dump();
    const auto& reader = j["readers"][0];
    EXPECT_EQ(reader["vcpu"], 2);
    EXPECT_GT(reader["warmup_reads_per_s"].get<double>(), 0);
    EXPECT_NEAR(reader["share_of_warmup"].get<double>(),
                reader["migration_reads_per_s"].get<double>() / reader["warmup_reads_per_s"].get<double>(), 1e-9);
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, DtvmMigrationCliJson,
                         testing::Values(dtvm::Backend::kvm, dtvm::Backend::process),
                         [](const auto& info) { return dtvm::backend_name(info.param); });

}  // namespace

// --- sending less: --compress, --compress-level, --xbzrle-cache ---------------------------------

TEST(DtvmMigrationCliSendLess, ABadMethodLevelOrCacheSizeIsRefusedNamingTheFix) {
    const std::string source =
        binary("dtvm") + " --backend process --mem 64M --wss 16M --migrate-to tcp://127.0.0.1:1 ";
    const struct {
        std::string args, says, fix;
    } cases[] = {
        {"--compress lz4", "--compress lz4 is not a compression method", "use --compress zstd or --compress zlib"},
        {"--compress", "--compress takes the method now (it was a flag for zlib)",
         "use --compress zstd or --compress zlib"},
        {"--compress zlib --compress-level 12", "--compress-level 12 is outside zlib's levels 1..9",
         "use a level from 1 to 9, or 0 for the default (1)"},
        {"--compress zstd --compress-level 20", "--compress-level 20 is outside zstd's levels 1..19", "from 1 to 19"},
        {"--compress-level 3", "--compress-level 3 without --compress", "add --compress zstd or --compress zlib"},
        {"--xbzrle-cache 1G", "--xbzrle-cache 1.0 GiB is more than the guest's memory (64.0 MiB)",
         "use at most 64.0 MiB"},
        {"--xbzrle-cache 100", "--xbzrle-cache 100 holds no page", "use 4K or more"},
        {"--xbzrle-cache 64Mb", "--xbzrle-cache", ""},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.args);
        const auto r = run(source + c.args + " 2>&1");
        EXPECT_EQ(r.exit_code, 2) << r.output;
        EXPECT_NE(r.output.find(c.says), std::string::npos) << r.output;
        EXPECT_NE(r.output.find(c.fix), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("migrating"), std::string::npos) << "started anyway: " << r.output;
    }
}

// zstd and a 64 MiB cache on the process backend (it runs everywhere): the
// digests match and the report counts the deltas and the cache's work.
TEST(DtvmMigrationCliSendLess, ZstdAndTheCacheMigrateAndTheReportCountsDeltas) {
    DTRACK_REQUIRE_BACKEND(dtvm::Backend::process);
    Incoming in("--mem 64M --backend process");
    ASSERT_GT(in.port(), 0) << in.output();
    const auto src = run(binary("dtvm") + " --backend process --mem 64M --wss 16M --rate 20k --warmup 300ms" +
                         " --migrate-to tcp://127.0.0.1:" + std::to_string(in.port()) +
                         " --compress zstd --compress-level 3 --xbzrle-cache 64M 2>&1");
    EXPECT_EQ(src.exit_code, 0) << src.output;
    EXPECT_NE(src.output.find("digest matches"), std::string::npos) << src.output;
    const std::regex line(R"(xbzrle cache: (\d+) delta pages; (\d+) hits, (\d+) misses, (\d+) overflows)");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(src.output, m, line)) << src.output;
    EXPECT_GT(std::stoull(m[1]), 0u) << src.output;
    EXPECT_GT(std::stoull(m[2]), 0u) << src.output;
    EXPECT_EQ(in.finish(), 0) << in.output();
}
