// dtrack simulate on the command line: the side-by-side answer, JSON, and
// bad input (exit 2 with the cause and the fix).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::run;

namespace {

dtrack_test::CommandResult simulate(const std::string& args) {
    return run(binary("dtrack") + " simulate " + args + " 2>&1");
}

// dtvm's process backend run with `guest` options and --record FILE (in
// /tmp, named `name` and this process), as every 100 ms interval took it.
struct DtvmRecording {
    std::string file;
    dtrack_test::CommandResult run;
};
DtvmRecording record_dtvm(const std::string& name, const std::string& guest) {
    DtvmRecording r{"/tmp/dtrack-simulate-" + name + "-" + std::to_string(::getpid()) + ".dtz", {}};
    r.run = run(binary("dtvm") + " --backend process " + guest + " --interval 100ms --record " + r.file + " 2>&1");
    return r;
}

}  // namespace

TEST(SimulateCli, AnswersWithAndWithoutTheBackgroundSyncSideBySide) {
    const auto r = simulate("--model mem=1T,vcpus=128,wss=800G,rate=20G --bandwidth 10G --auto-converge");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("with background sync"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("without"), std::string::npos);
    EXPECT_NE(r.output.find("total migration time, s"), std::string::npos);
    EXPECT_NE(r.output.find("the background sync cut the total migration time by"), std::string::npos);
    EXPECT_NE(r.output.find("left out of the simulation:"), std::string::npos);
    EXPECT_NE(r.output.find("compression"), std::string::npos);
}

TEST(SimulateCli, JsonHasBothRunsAndWhatIsLeftOut) {
    const auto r = simulate("--model mem=64G,wss=16G,rate=4G,vcpus=8 --bandwidth 1G --auto-converge --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    ASSERT_EQ(j["runs"].size(), 2u);
    EXPECT_EQ(j["runs"][0]["background_sync_ms"], 5000);
    EXPECT_TRUE(j["runs"][1]["background_sync_ms"].is_null());
    EXPECT_TRUE(j["runs"][0]["converges"].get<bool>());
    EXPECT_GT(j["runs"][0]["throttle_steps"].get<int>(), 0);
    EXPECT_FALSE(j["left_out"].empty());
}

TEST(SimulateCli, WithoutAutoConvergeOneRunSaysItDoesNotConvergeAndWhy) {
    const auto r = simulate("--model mem=64G,wss=16G,rate=4G --bandwidth 1G --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    ASSERT_EQ(j["runs"].size(), 1u);
    EXPECT_FALSE(j["runs"][0]["converges"].get<bool>());
    EXPECT_NE(j["runs"][0]["why"].get<std::string>().find("auto-converge is off"), std::string::npos);
}

TEST(SimulateCli, MaxTimeEndsTheRunAtItAndCountsThePartialRoundsBytes) {
    const auto r = simulate("--model mem=200G,wss=1G,rate=1G --bandwidth 10G --max-time 10s --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto run = nlohmann::json::parse(r.output)["runs"][0];
    EXPECT_EQ(run["verdict"], "timed_out");
    EXPECT_NEAR(run["total_s"].get<double>(), 10, 1e-6);
    EXPECT_NEAR(run["bytes_on_wire"].get<double>(), 100.0 * (1ULL << 30), 1e3);  // 10 s of 10 GiB/s
    const auto text = simulate("--model mem=200G,wss=1G,rate=1G --bandwidth 10G --max-time 10s");
    EXPECT_NE(text.output.find("total migration time, s                          10.0"), std::string::npos)
        << text.output;
    EXPECT_NE(text.output.find("100.0 GiB"), std::string::npos) << text.output;
}

TEST(SimulateCli, BadInputNamesTheCauseAndTheFixWithExitCode2) {
    const std::pair<const char*, const char*> cases[] = {
        {"--model mem=1T,wss=200G,rate=3G", "--bandwidth is missing"},
        {"--model mem=1T,wss=2T,rate=3G --bandwidth 10G", "larger than mem"},
        {"--model mem=-1T,wss=200G,rate=3G --bandwidth 10G", "negative"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10Q", "is not a bandwidth"},
        {"--model mem=1T,wss=200G,rate=3G,speed=9 --bandwidth 10G", "unknown key 'speed'"},
        {"--model mem=1T,wss=200G --bandwidth 10G", "rate is missing"},
        {"--bandwidth 10G", "nothing to simulate"},
        {"--model mem=1T,wss=200G,rate=3G --trace x.dtz --bandwidth 10G", "exclude each other"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --downtime soon", "not a duration"},
        {"--trace /nonexistent/run.dtz --bandwidth 10G", "No such file"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --peak 1G", "describe a recorded guest"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --defer-hot --defer-hot-rounds 9", "from 1 to 8"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --defer-hot-rounds 3", "without --defer-hot"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --zero-pages 1G", "--zero-pages describes a recorded guest"},
        {"--trace x.dtz --bandwidth 10G --zero-pages lots", "--zero-pages lots is not a size"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --start-at 1s", "--start-at is a time in a recording"},
        {"--trace x.dtz --bandwidth 10G --zero-pages -1G", "--zero-pages -1G is not a size"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --harvest sometimes", "is not a way to harvest"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --sender-rate 0", "a sender that never sends"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --sender-rate fast", "--sender-rate"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --digest-rate 0", "a digest that never ends"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --digest-rate quick", "--digest-rate"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --dirty-limit 1k --dirty-limit-sleep nap",
         "use --dirty-limit-sleep slice or ring-full"},
        {"--trace x.dtz --bandwidth 10G --dirty-limit-sleep ring-full", "add --dirty-limit RATE"},
        {"--model mem=1T,wss=200G,rate=3G --bandwidth 10G --dirty-limit 1k --dirty-limit-sleep ring-full",
         "simulate a recording (--trace)"},
        {"--trace x.dtz --bandwidth 10G --dirty-limit 1k --dirty-limit-sleep ring-full --ring-size 1000",
         "not a power of two from 256 to 1M"},
    };
    for (const auto& [args, cause] : cases) {
        const auto r = simulate(args);
        EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
        EXPECT_NE(r.output.find(cause), std::string::npos) << args << "\n" << r.output;
        EXPECT_NE(r.output.find("fix:"), std::string::npos) << args << "\n" << r.output;
    }
}

TEST(SimulateCli, HelpGivesTheExitCodes) {
    const auto r = simulate("--help");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.output.find("Exit codes: 0"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--model"), std::string::npos);
}

// --trace replays a real recording: dtvm's process backend (every machine)
// records its guest, and the simulation of it runs; a damaged copy of the
// same file is refused, naming the byte where it breaks.
namespace {

TEST(SimulateCli, ATraceRecordedByDtvmIsSimulatedAndADamagedOneRefusedWithItsOffset) {
    const DtvmRecording rec = record_dtvm("trace", "--mem 64M --wss 32M --workload random --rate 20k --duration 2s");
    ASSERT_EQ(rec.run.exit_code, 0) << rec.run.output;
    const std::string& file = rec.file;
    const auto r = simulate("--trace " + file + " --bandwidth 64M --auto-converge --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    EXPECT_NE(j.dump().find("trace"), std::string::npos) << r.output;
    // userfaultfd marks pages as they are written: harvested continuously,
    // unless asked otherwise.
    EXPECT_EQ(j["harvest"], "continuous") << r.output;
    const auto at_syncs = simulate("--trace " + file + " --bandwidth 64M --auto-converge --harvest sync");
    EXPECT_EQ(at_syncs.exit_code, 0) << at_syncs.output;
    EXPECT_NE(at_syncs.output.find("harvest at syncs only, as --harvest sync asks"), std::string::npos)
        << at_syncs.output;
    // QEMU's ring-full actuator needs the pages: a recording has them.
    const auto ring_full = simulate(
        "--trace " + file + " --bandwidth 64M --dirty-limit 2500 --vcpus 2 --dirty-limit-sleep ring-full --json");
    ASSERT_EQ(ring_full.exit_code, 0) << ring_full.output;
    const auto rj = nlohmann::json::parse(ring_full.output);
    EXPECT_EQ(rj["dirty_limit_sleep"], "ring-full") << ring_full.output;
    EXPECT_NE(rj["guest"].get<std::string>().find("sleeping when their 4096-entry dirty rings fill"), std::string::npos)
        << ring_full.output;
    EXPECT_EQ(j["dirty_limit_sleep"], "slice") << r.output;
    // The process backend's tracking (uffd) has no vCPU view: a peak per vCPU needs the count.
    const auto no_vcpus = simulate("--trace " + file + " --bandwidth 64M --auto-converge --peak 200M");
    EXPECT_EQ(no_vcpus.exit_code, 2) << no_vcpus.output;
    EXPECT_NE(no_vcpus.output.find("give their number with --vcpus N"), std::string::npos) << no_vcpus.output;
    const auto peaked = simulate("--trace " + file + " --bandwidth 64M --auto-converge --peak 200M --vcpus 1");
    EXPECT_EQ(peaked.exit_code, 0) << peaked.output;
    EXPECT_NE(peaked.output.find("1 vCPU, each 200.0 MiB/s flat out"), std::string::npos) << peaked.output;

    // One byte flipped well inside the records: the checksum catches it.
    const auto size = run("stat -c %s " + file);
    const long at = std::stol(size.output) * 2 / 3;
    ASSERT_EQ(run("printf '\\377' | dd of=" + file + " bs=1 seek=" + std::to_string(at) + " conv=notrunc status=none")
                  .exit_code,
              0);
    const auto bad = simulate("--trace " + file + " --bandwidth 64M --auto-converge");
    EXPECT_EQ(bad.exit_code, 1) << bad.output;
    EXPECT_NE(bad.output.find("corrupt at byte"), std::string::npos) << bad.output;
    std::remove(file.c_str());
}

// --zero-pages and --defer-hot on a recording: round 1 sends the zero
// memory as flags, deferral keeps pages back; more zero memory than the
// recording holds is refused with the fix.
TEST(SimulateCli, ATraceTakesZeroPagesAndDeferralAndMoreZeroPagesThanItsMemoryAreRefused) {
    const DtvmRecording rec = record_dtvm("zero", "--mem 64M --wss 16M --workload hotcold --rate 20k --duration 1s");
    ASSERT_EQ(rec.run.exit_code, 0) << rec.run.output;
    const std::string& file = rec.file;
    const std::string trace = "--trace " + file + " --bandwidth 16M --auto-converge --background-sync off --json";
    const auto plain = simulate(trace);
    const auto zero = simulate(trace + " --zero-pages 48M --defer-hot");
    ASSERT_EQ(plain.exit_code, 0) << plain.output;
    ASSERT_EQ(zero.exit_code, 0) << zero.output;
    const auto p = nlohmann::json::parse(plain.output)["runs"][0], z = nlohmann::json::parse(zero.output)["runs"][0];
    EXPECT_EQ(p["round_log"][0]["zero_pages"], 0) << plain.output;
    EXPECT_NEAR(z["round_log"][0]["zero_pages"].get<double>(), 48.0 * 256, 1) << zero.output;
    EXPECT_LT(z["round_log"][0]["seconds"].get<double>(), p["round_log"][0]["seconds"].get<double>() / 2);
    const auto late = simulate(trace + " --start-at 1h");
    EXPECT_EQ(late.exit_code, 2) << late.output;
    EXPECT_NE(late.output.find("past the recording's end"), std::string::npos) << late.output;
    const auto over = simulate(trace + " --zero-pages 65M");
    EXPECT_EQ(over.exit_code, 2) << over.output;
    EXPECT_NE(over.output.find("--zero-pages 65.0 MiB is more than the recording's 64.0 MiB"), std::string::npos)
        << over.output;
    EXPECT_NE(over.output.find("fix:"), std::string::npos) << over.output;
    std::remove(file.c_str());
}

}  // namespace

// --compress, --compress-level, --xbzrle-cache and --write-bytes, as dtvm
// takes them: 8-byte writes sent as deltas and zstd cost far fewer bytes;
// bad values are refused with the fix.
TEST(SimulateCli, TheSendLessOptionsCutTheBytesOfSmallWritesAndBadValuesAreRefused) {
    const std::string guest = "--model mem=4G,wss=512M,rate=200M,vcpus=2 --bandwidth 100M --auto-converge --json";
    const auto plain = simulate(guest + " --write-bytes 8");
    const auto less = simulate(guest + " --write-bytes 8 --compress zstd --compress-level 3 --xbzrle-cache 1G");
    ASSERT_EQ(plain.exit_code, 0) << plain.output;
    ASSERT_EQ(less.exit_code, 0) << less.output;
    const auto p = nlohmann::json::parse(plain.output), l = nlohmann::json::parse(less.output);
    EXPECT_EQ(l["compression"], "zstd");
    EXPECT_EQ(l["write_bytes"], 8);
    EXPECT_LT(l["runs"][0]["bytes_on_wire"].get<double>(), p["runs"][0]["bytes_on_wire"].get<double>() / 4);
    EXPECT_GT(l["runs"][0]["delta_pages"].get<double>(), 0);

    const struct {
        std::string args, says;
    } bad[] = {{"--write-bytes 4", "--write-bytes 4 is outside 8..4096"},
               {"--write-bytes 5000", "--write-bytes 5000 is outside 8..4096"},
               {"--compress lz4", "use --compress zstd or --compress zlib"},
               {"--compress zlib --compress-level 10", "--compress-level 10 is outside zlib's levels 1..9"},
               {"--xbzrle-cache 17G", "is more than the limit of 16.0 GiB"}};
    for (const auto& b : bad) {
        const auto r = simulate(guest + " " + b.args);
        EXPECT_EQ(r.exit_code, 2) << b.args << ": " << r.output;
        EXPECT_NE(r.output.find(b.says), std::string::npos) << b.args << ": " << r.output;
    }
}

// --background-sync-every: QEMU 9.2's periodic sync runs as a column of its
// own beside the round-time trigger and none; its background syncs (each
// throttle step after one) fall on the timer's 5 s grid from the migration's
// start, where the round-time trigger's come 5 s after the last sync.
TEST(SimulateCli, BackgroundSyncEveryRunsThePeriodicSyncOnItsTimersGridAsAColumnOfItsOwn) {
    const auto r = simulate(
        "--model mem=1T,vcpus=128,wss=800G,rate=20G --bandwidth 10G --auto-converge --background-sync-every 5s --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    ASSERT_EQ(j["runs"].size(), 3u);
    EXPECT_EQ(j["runs"][0]["background_sync_trigger"], "round_time");
    const auto& periodic = j["runs"][1];
    EXPECT_EQ(periodic["background_sync_trigger"], "periodic");
    EXPECT_EQ(periodic["background_sync_ms"], 5000);
    EXPECT_TRUE(j["runs"][2]["background_sync_trigger"].is_null());
    EXPECT_GT(periodic["background_syncs"].get<uint64_t>(), 0u);
    auto off_grid = [](const nlohmann::json& run) {
        int n = 0;
        for (const auto& step : run["throttle"]) {
            if (step["sync"] != "background") continue;
            const double past_tick = std::fmod(step["at_s"].get<double>(), 5.0);
            n += past_tick > 1e-6 && past_tick < 5 - 1e-6;
        }
        return n;
    };
    EXPECT_EQ(off_grid(periodic), 0) << periodic["throttle"].dump();
    EXPECT_GT(off_grid(j["runs"][0]), 0) << "the round-time trigger should not keep a grid: " << j["runs"][0].dump();
    const auto text = simulate(
        "--model mem=1T,vcpus=128,wss=800G,rate=20G --bandwidth 10G --auto-converge "
        "--background-sync-every 5s");
    EXPECT_NE(text.output.find("periodic sync (QEMU 9.2's timer) every 5000 ms"), std::string::npos) << text.output;
}

// Bytes sent per byte of guest memory, in the table and the JSON: the wire's
// bytes over the guest's memory, above 1 (round 1 sends all of it, then the
// re-sent pages), and more without the background sync (more re-sent rounds).
TEST(SimulateCli, ReportsBytesSentPerByteOfGuestMemory) {
    const auto r = simulate("--model mem=64G,wss=16G,rate=4G,vcpus=8 --bandwidth 1G --auto-converge --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    for (const auto& run : j["runs"]) {
        EXPECT_EQ(run["guest_bytes"].get<double>(), 64.0 * (1ULL << 30));
        EXPECT_DOUBLE_EQ(run["bytes_per_guest_byte"].get<double>(),
                         run["bytes_on_wire"].get<double>() / run["guest_bytes"].get<double>());
        EXPECT_GT(run["bytes_per_guest_byte"].get<double>(), 1.0);
    }
    EXPECT_LT(j["runs"][0]["bytes_per_guest_byte"].get<double>(), j["runs"][1]["bytes_per_guest_byte"].get<double>());
    const auto text = simulate("--model mem=64G,wss=16G,rate=4G,vcpus=8 --bandwidth 1G --auto-converge");
    EXPECT_NE(text.output.find("sent per byte of guest memory"), std::string::npos) << text.output;
}

// --dirty-limit and --dirty-limit-period, as dtvm takes them: the limited run
// beside one without; bad values refused with the fix.
TEST(SimulateCli, DirtyLimitRunsBesideARunWithoutAndBadValuesAreRefusedNamingTheFix) {
    const std::string guest = "--model mem=4G,vcpus=4,wss=2G,rate=400M --bandwidth 100M";
    const auto r = simulate(guest + " --dirty-limit 2500 --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    ASSERT_EQ(j["runs"].size(), 2u) << r.output;
    EXPECT_TRUE(j["runs"][0]["converges"].get<bool>()) << r.output;
    EXPECT_FALSE(j["runs"][0]["dirty_limit"]["engaged_s"].is_null()) << r.output;
    EXPECT_FALSE(j["runs"][0]["dirty_limit"]["periods"].empty()) << r.output;
    EXPECT_FALSE(j["runs"][1]["converges"].get<bool>()) << r.output;
    const auto bytes = simulate(guest + " --dirty-limit 10M/s --dirty-limit-period 500ms");
    ASSERT_EQ(bytes.exit_code, 0) << bytes.output;
    EXPECT_NE(bytes.output.find("dirty limit 2560 pages/s (10.0 MiB/s) per vCPU, period 500 ms"), std::string::npos)
        << bytes.output;
    EXPECT_NE(bytes.output.find("dirty limit, dirty limit: engaged at"), std::string::npos) << bytes.output;

    const std::pair<const char*, const char*> cases[] = {
        {" --dirty-limit 0", "no dirty rate at all"},
        {" --dirty-limit 4096/s", "ambiguous"},
        {" --dirty-limit 2500 --dirty-limit-period 2s", "out of range"},
        {" --dirty-limit 2500 --auto-converge", "exclude each other"},
    };
    for (const auto& [args, cause] : cases) {
        const auto bad = simulate(guest + args);
        EXPECT_EQ(bad.exit_code, 2) << args << "\n" << bad.output;
        EXPECT_NE(bad.output.find(cause), std::string::npos) << args << "\n" << bad.output;
        EXPECT_NE(bad.output.find("fix:"), std::string::npos) << args << "\n" << bad.output;
    }
}

// dtvm's process backend records no per-vCPU counts (uffd): the dirty limit
// needs the vCPU count, over which the writes are then spread evenly.
TEST(SimulateCli, ADirtyLimitOnARecordingWithoutPerVcpuCountsNeedsTheVcpuCount) {
    const DtvmRecording rec =
        record_dtvm("limit", "--mem 64M --vcpus 2 --wss 32M --workload random --rate 20k --duration 1s");
    ASSERT_EQ(rec.run.exit_code, 0) << rec.run.output;
    const std::string& file = rec.file;
    const auto blind = simulate("--trace " + file + " --bandwidth 16M --dirty-limit 2500 --max-time 10s");
    EXPECT_EQ(blind.exit_code, 2) << blind.output;
    EXPECT_NE(blind.output.find("has no per-vCPU counts"), std::string::npos) << blind.output;
    EXPECT_NE(blind.output.find("fix: give the guest's vCPUs with --vcpus N"), std::string::npos) << blind.output;
    const auto even = simulate("--trace " + file + " --bandwidth 16M --dirty-limit 2500 --max-time 10s --vcpus 2");
    EXPECT_EQ(even.exit_code, 0) << even.output;
    EXPECT_NE(even.output.find("spread evenly over 2 vCPUs"), std::string::npos) << even.output;
    std::remove(file.c_str());
}
