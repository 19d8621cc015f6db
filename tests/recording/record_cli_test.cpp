// dtvm --record and dtrack record write recordings that hold what the
// tracker took, interval by interval; dtrack report reads them (and cut,
// corrupt or foreign files) as an operator would.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <thread>

#include "dtrack/recording.hpp"
#include "support/background_process.hpp"
#include "support/json_lines.hpp"
#include "support/backends.hpp"
#include "support/recordings.hpp"
#include "support/run_command.hpp"

using namespace dtrack::recording;
using Background = dtrack_test::BackgroundProcess;
using dtrack_test::binary;
using dtrack_test::json_lines;
using dtrack_test::run;
using nlohmann::json;

namespace {

std::string temp(const std::string& name) { return ::testing::TempDir() + "/" + name; }

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

uint64_t pages_in(const Interval& in, dtrack::RegionId region) {
    uint64_t n = 0;
    for (const PageRun& r : in.dirty) n += r.region == region ? r.count : 0;
    return n;
}

class DtvmRecord : public testing::TestWithParam<dtvm::Backend> {};

// dtvm's check loop takes every dirty page each interval and checks them
// against the guest's write stamps; the recording must hold exactly what was
// taken, per slot, and no interval may be missing.
TEST_P(DtvmRecord, TheRecordingHoldsWhatTheCheckLoopTookEachInterval) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    const std::string file = temp("dtvm-" + dtvm::backend_name(GetParam()) + ".dtz");
    const auto r = run(binary("dtvm") + " --backend " + dtvm::backend_name(GetParam()) +
                       " --mem 256M --vcpus 2 --workload hotcold --wss 64M --rate 20k --interval 200ms"
                       " --duration 2s --json --record " +
                       file);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::vector<json> lines = json_lines(r.output);
    ASSERT_FALSE(lines.empty());
    const json summary = lines.back()["summary"];
    lines.pop_back();

    auto rec = read_recording(file);
    ASSERT_TRUE(rec.ok()) << rec.error().message();
    EXPECT_EQ(rec->end.kind, ReadEnd::Kind::complete) << rec->end.describe();
    EXPECT_EQ(rec->header.method, GetParam() == dtvm::Backend::kvm ? "kvm-ring" : "uffd");
    EXPECT_TRUE(rec->header.exact);
    EXPECT_EQ(rec->header.regions.size(), 3u);
    EXPECT_EQ(summary["recording"]["dropped"], 0);
    ASSERT_EQ(rec->intervals.size(), lines.size());
    uint64_t written = 0, recorded = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
        const Interval& in = rec->intervals[i];
        EXPECT_EQ(in.index, i);
        EXPECT_FALSE(in.dropped);
        EXPECT_EQ(lines[i]["recorded"], "queued");
        for (dtrack::RegionId slot = 0; slot < 3; ++slot)
            EXPECT_EQ(pages_in(in, slot), lines[i]["per_slot"][slot].get<uint64_t>()) << "interval " << i;
        EXPECT_GE(in.dirty_pages(), lines[i]["written"].get<uint64_t>());  // the guest's own count of pages written
        EXPECT_EQ(lines[i]["lost"], 0);
        if (GetParam() == dtvm::Backend::kvm) {
            ASSERT_EQ(in.vcpu_pages.size(), 2u);
            for (size_t v = 0; v < 2; ++v)
                EXPECT_EQ(in.vcpu_pages[v], lines[i]["vcpus"][v]["ring_entries"].get<uint64_t>());
        }
        written += lines[i]["written"].get<uint64_t>();
        recorded += in.dirty_pages();
    }
    EXPECT_GT(written, 0u);
    EXPECT_EQ(recorded, summary["reported"].get<uint64_t>());
    std::remove(file.c_str());
}

INSTANTIATE_TEST_SUITE_P(Backends, DtvmRecord, testing::Values(dtvm::Backend::kvm, dtvm::Backend::process),
                         [](const auto& info) { return dtvm::backend_name(info.param); });

// 2 vCPUs at 60k random page writes/s each over a working set larger than a run
// covers: about 100k distinct dirty pages a second (some writes hit a page
// twice in an interval), in 100 ms intervals.
TEST(DtvmRecordLoad, TheWriterKeepsUpWith100kDirtyPagesASecond) {
    dtrack_test::note_backend_ran(dtvm::Backend::process);
    const std::string file = temp("load.dtz");
    const auto r = run(binary("dtvm") +
                       " --backend process --mem 512M --vcpus 2 --workload random --wss 400M --rate 60k"
                       " --interval 100ms --duration 3s --json --record " +
                       file);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::vector<json> lines = json_lines(r.output);
    const json summary = lines.back()["summary"];
    lines.pop_back();
    auto rec = read_recording(file);
    ASSERT_TRUE(rec.ok()) << rec.error().message();
    EXPECT_EQ(summary["recording"]["dropped"], 0);
    ASSERT_EQ(rec->intervals.size(), lines.size());
    uint64_t pages = 0;
    for (const Interval& in : rec->intervals) {
        EXPECT_FALSE(in.dropped) << in.index;
        pages += in.dirty_pages();
    }
    EXPECT_EQ(pages, summary["reported"].get<uint64_t>());
    const double seconds = double(rec->intervals.back().end_ns) / 1e9;
    std::printf("recorded %llu pages in %.2f s (%.0f pages/s), %zu intervals, %llu bytes (%.0f bytes/interval)\n",
                (unsigned long long)pages, seconds, double(pages) / seconds, rec->intervals.size(),
                (unsigned long long)summary["recording"]["bytes"].get<uint64_t>(),
                double(summary["recording"]["bytes"].get<uint64_t>()) / double(rec->intervals.size()));
    std::remove(file.c_str());
}

TEST(DtrackRecord, SampleMethodRecordsAProcessWithItsEstimate) {
    dtrack_test::note_backend_ran(dtvm::Backend::process);
    Background dtvm(binary("dtvm") +
                    " --backend process --mem 256M --vcpus 1 --workload random --wss 64M"
                    " --rate 10k --duration 60s");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const std::string file = temp("sample.dtz");
    const auto r = run(binary("dtrack") + " record --pid " + std::to_string(dtvm.pid()) +
                       " --method sample --interval 200ms --duration 2s -o " + file + " 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("recorded 10 intervals (0 dropped"), std::string::npos) << r.output;
    auto rec = read_recording(file);
    ASSERT_TRUE(rec.ok()) << rec.error().message();
    EXPECT_EQ(rec->header.method, "sample");
    EXPECT_FALSE(rec->header.exact);
    EXPECT_NE(rec->header.target.find("pid " + std::to_string(dtvm.pid())), std::string::npos);
    EXPECT_EQ(rec->header.interval_ns, 200'000'000u);
    ASSERT_EQ(rec->intervals.size(), 10u);
    double estimated = 0;
    for (const Interval& in : rec->intervals) estimated += in.estimated_pages;
    EXPECT_GT(estimated, 0);  // 10k pages/s: every interval's estimate is well above zero
    std::remove(file.c_str());
}

TEST(DtrackRecord, BpfMethodAgainstDtvmHasPerVcpuCounts) {
    DTRACK_REQUIRE_KVM();
    Background dtvm(binary("dtvm") +
                    " --mem 256M --vcpus 2 --workload sequential --wss 200M --rate 5k"
                    " --exit-every 64 --track ring --duration 60s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    const std::string file = temp("bpf.dtz");
    const auto r = run(binary("dtrack") + " record --pid " + std::to_string(dtvm.pid()) +
                       " --method bpf --interval 250ms --duration 2s -o " + file + " 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto rec = read_recording(file);
    ASSERT_TRUE(rec.ok()) << rec.error().message();
    EXPECT_EQ(rec->header.method, "bpf");
    EXPECT_EQ(rec->header.vcpus, 2u);
    ASSERT_EQ(rec->intervals.size(), 8u);
    uint64_t pages = 0, entries = 0;
    for (const Interval& in : rec->intervals) {
        ASSERT_EQ(in.vcpu_pages.size(), 2u);
        pages += in.dirty_pages();
        entries += in.vcpu_pages[0] + in.vcpu_pages[1];
        // Each record says the VM logged into its rings all along: the page set is the whole truth.
        ASSERT_TRUE(in.logging.has_value()) << "interval " << in.index;
        EXPECT_EQ(in.logging->at_start, dtrack::DirtyLogging::ring) << "interval " << in.index;
        EXPECT_EQ(in.logging->at_end, dtrack::DirtyLogging::ring) << "interval " << in.index;
        EXPECT_EQ(in.logging->evidence, dtrack::LoggingEvidence::kernel);
        EXPECT_FALSE(in.logging->reads_low) << "interval " << in.index;
    }
    EXPECT_GT(pages, 0u);
    // Each distinct page came from at least one ring entry; the per-vCPU
    // counters and the bitmaps are read a moment apart at each harvest, so
    // the recording's edges may shift a few entries (46 of 20k seen).
    EXPECT_GE(double(entries), 0.99 * double(pages));
    std::remove(file.c_str());
}

TEST(DtrackRecord, AProcessWithoutAVmHasNoLoggingLabelAndTheReportSaysNothingOfIt) {
    Background sleeper("sleep 30");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const std::string file = temp("nolabel.dtz");
    const auto r = run(binary("dtrack") + " record --pid " + std::to_string(sleeper.pid()) +
                       " --method sample --interval 100ms --duration 300ms -o " + file + " 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto rec = read_recording(file);
    ASSERT_TRUE(rec.ok()) << rec.error().message();
    ASSERT_FALSE(rec->intervals.empty());
    for (const Interval& in : rec->intervals) EXPECT_FALSE(in.logging.has_value()) << "interval " << in.index;
    const auto report = run(binary("dtrack") + " report " + file);
    EXPECT_EQ(report.output.find("logged dirty pages"), std::string::npos) << report.output;
    std::remove(file.c_str());
}

TEST(DtrackRecord, BadInputExitsWithTwoAndSaysWhy) {
    const auto no_pid = run(binary("dtrack") + " record --pid 999999999 -o " + temp("x.dtz") + " 2>&1");
    EXPECT_EQ(no_pid.exit_code, 2) << no_pid.output;
    const auto bad_dir = run(binary("dtrack") + " record --pid " + std::to_string(::getpid()) +
                             " --method sample -o /nonexistent/dir/x.dtz 2>&1");
    EXPECT_EQ(bad_dir.exit_code, 2) << bad_dir.output;
    EXPECT_NE(bad_dir.output.find("/nonexistent/dir/x.dtz"), std::string::npos) << bad_dir.output;
    const auto interval = run(binary("dtrack") + " record --pid 1 --interval 1ms -o " + temp("x.dtz") + " 2>&1");
    EXPECT_EQ(interval.exit_code, 2);
    EXPECT_NE(interval.output.find("too short"), std::string::npos) << interval.output;
}

// --- dtrack report on a recording with known answers ----------------------------

// 30 intervals of 100 ms on two regions (1 GiB at 0, 256 MiB at 4 GiB):
//   a hot set, region 0 pages 1000..1099, dirtied in every interval;
//   a moving set, region 0 pages 10000 + 50 i .. +49 in interval i, each once;
//   region 1 page 5000, dirtied in intervals 0, 2 and 6.
// With `sampled_one_in` > 0, as a sampling method records them: those pages
// are the sample, each standing for `sampled_one_in` pages of the estimate.
std::string known_recording(int sampled_one_in = 0) {
    Header h = dtrack_test::sample_header();
    h.regions = {{.name = "low", .slot = 0, .base = 0, .page_size = 4096, .page_count = 262144},
                 {.name = "high", .slot = 1, .base = 4ULL << 30, .page_size = 4096, .page_count = 65536}};
    std::vector<Interval> all;
    for (uint64_t i = 0; i < 30; ++i) {
        Interval in;
        in.index = i;
        in.start_ns = i * 100'000'000;
        in.end_ns = (i + 1) * 100'000'000;
        in.dirty = {{0, 1000, 100}, {0, 10000 + 50 * i, 50}};
        if (i == 0 || i == 2 || i == 6) in.dirty.push_back({1, 5000, 1});
        in.vcpu_pages = {100, in.dirty_pages() - 100};
        if (sampled_one_in > 0) {
            in.vcpu_pages.clear();
            in.estimated_pages = double(in.dirty_pages() * sampled_one_in);
            in.bound_pages = 0.1 * in.estimated_pages;
        }
        all.push_back(in);
    }
    if (sampled_one_in > 0) {
        h.method = "sample";
        h.exact = false;
    }
    const std::string path = temp(sampled_one_in > 0 ? "known-sampled.dtz" : "known.dtz");
    dtrack_test::write_bytes(path, dtrack_test::bytes_of(h, all));
    return path;
}

TEST(DtrackReport, FiguresOfARecordingWithKnownAnswers) {
    const std::string file = known_recording();
    const auto r = run(binary("dtrack") + " report --json " + file);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const json j = json::parse(r.output);
    EXPECT_EQ(j["intervals"], 30);
    EXPECT_EQ(j["file"]["end"]["kind"], "complete");
    // Working sets: 1 s = 10 intervals: 100 hot + 500 moving (+ the high page in
    // the first); no 10 s window in a 3 s run.
    const json& ws = j["working_set"];
    ASSERT_EQ(ws.size(), 2u);
    EXPECT_EQ(ws[0]["window_s"], 1.0);
    ASSERT_EQ(ws[0]["windows"].size(), 3u);
    EXPECT_EQ(ws[0]["windows"][0]["pages"], 601);
    EXPECT_EQ(ws[0]["windows"][1]["pages"], 600);
    EXPECT_EQ(ws[0]["windows"][2]["pages"], 600);
    EXPECT_EQ(ws[0]["max_pages"], 601);
    EXPECT_EQ(ws[1]["whole_run"], true);
    EXPECT_DOUBLE_EQ(ws[1]["window_s"].get<double>(), 3.0);
    EXPECT_EQ(ws[1]["max_pages"], 100 + 50 * 30 + 1);
    // Re-dirtied: the hot pages after 1 interval (bucket 0), 100 x 29 times;
    // the high page after 2 (bucket 1) and then 4 intervals (bucket 2).
    const json& hist = j["redirty_log2_intervals"];
    ASSERT_EQ(hist.size(), 3u);
    EXPECT_EQ(hist[0]["pages"], 2900);
    EXPECT_EQ(hist[1]["pages"], 1);
    EXPECT_EQ(hist[2]["pages"], 1);
    EXPECT_EQ(hist[2]["min_intervals"], 4);
    // The hottest 2 MiB range: region 0 from 4 MiB (pages 1024..1535 hold 76 hot pages).
    const json& hot = j["hottest_ranges"];
    ASSERT_GE(hot.size(), 2u);
    EXPECT_EQ(hot[0]["name"], "low");
    EXPECT_EQ(hot[0]["start"], 4u << 20);
    EXPECT_EQ(hot[0]["dirtyings"], 76 * 30);
    EXPECT_EQ(hot[1]["start"], 2u << 20);
    EXPECT_EQ(hot[1]["dirtyings"], 24 * 30);
    EXPECT_EQ(j["regions"][0]["name"], "low");
    EXPECT_EQ(j["regions"][1]["dirtyings"], 3);
    // The rate: 150 pages (151 with the high page) per 100 ms.
    EXPECT_DOUBLE_EQ(j["rate"][1]["pages_per_s"].get<double>(), 1500);
    EXPECT_DOUBLE_EQ(j["rate"][2]["pages_per_s"].get<double>(), 1510);
    EXPECT_DOUBLE_EQ(j["rate"][1]["vcpu_pages_per_s"][0].get<double>(), 1000);
    std::remove(file.c_str());
}

TEST(DtrackReport, ASampledRecordingsFiguresAreScaledUpFromItsSample) {
    // The known recording as a one-in-four sample: every figure four times
    // the exact one, shares included, and the report says so.
    const std::string file = known_recording(4);
    const auto r = run(binary("dtrack") + " report --json " + file);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const json j = json::parse(r.output);
    EXPECT_EQ(j["estimated"], true);
    EXPECT_EQ(j["working_set"][1]["max_pages"], 4 * (100 + 50 * 30 + 1));
    EXPECT_EQ(j["redirty_log2_intervals"][0]["pages"], 4 * 2900);
    const json& hot = j["hottest_ranges"];
    ASSERT_GE(hot.size(), 2u);
    EXPECT_EQ(hot[0]["start"], 4u << 20);
    EXPECT_EQ(hot[0]["dirtyings"], 4 * 76 * 30);
    EXPECT_NEAR(hot[0]["share_per_interval"].get<double>(), 4 * 76.0 / 512, 1e-9);
    EXPECT_EQ(j["regions"][1]["dirtyings"], 4 * 3);
    EXPECT_DOUBLE_EQ(j["rate"][1]["pages_per_s"].get<double>(), 4 * 1500);
    const auto text = run(binary("dtrack") + " report " + file);
    ASSERT_EQ(text.exit_code, 0) << text.output;
    EXPECT_NE(text.output.find("every figure below is scaled up from it"), std::string::npos) << text.output;
    std::remove(file.c_str());
}

TEST(DtrackReport, TheTextReportAndTerminalHeatmapNameTheHotRange) {
    const std::string file = known_recording();
    const auto r = run(binary("dtrack") + " report " + file);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("whole run 6.3 MiB (1601 pages)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("0x400000 (low +4.0 MiB)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("heatmap:"), std::string::npos);
    EXPECT_EQ(r.output.find("\x1b["), std::string::npos);  // not a terminal: no colour
    std::remove(file.c_str());
}

TEST(DtrackReport, PicturesAreWrittenAsPngAndSvg) {
    const std::string file = known_recording();
    const std::string png = temp("heat.png"), svg = temp("plot.svg");
    const auto r = run(binary("dtrack") + " report " + file + " --heatmap " + png + " --plot " + svg + " 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string p = file_bytes(png), s = file_bytes(svg);
    EXPECT_EQ(p.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_GT(p.size(), 10000u);  // a drawing, not an empty canvas
    EXPECT_EQ(s.rfind("<?xml", 0), 0u);
    EXPECT_NE(s.find("<svg"), std::string::npos);
    EXPECT_NE(s.find("</svg>"), std::string::npos);
    const auto bad = run(binary("dtrack") + " report " + file + " --heatmap " + temp("heat.gif") + " 2>&1");
    EXPECT_EQ(bad.exit_code, 2) << bad.output;
    EXPECT_NE(bad.output.find(".svg or .png"), std::string::npos) << bad.output;
    for (const std::string& f : {file, png, svg}) std::remove(f.c_str());
}

TEST(DtrackReport, ACutFileIsReportedUpToItsLastWholeIntervalAndSaysWhere) {
    const std::string file = known_recording();
    std::string b = file_bytes(file);
    const size_t full = b.size();
    b.resize(full - 7);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << b;
    const auto r = run(binary("dtrack") + " report --json " + file + " 2>/dev/null");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const json j = json::parse(r.output);
    EXPECT_EQ(j["intervals"], 29);
    EXPECT_EQ(j["file"]["end"]["kind"], "truncated");
    EXPECT_GT(j["file"]["end"]["offset"].get<uint64_t>(), 0u);
    const auto text = run(binary("dtrack") + " report " + file + " 2>&1 >/dev/null");
    EXPECT_NE(text.output.find("ends early, truncated at byte " + j["file"]["end"]["offset"].dump()), std::string::npos)
        << text.output;
    std::remove(file.c_str());
}

TEST(DtrackReport, ForeignNewerAndCorruptFilesGetAClearErrorAndExitOne) {
    const std::string foreign = temp("foreign.dtz");
    std::ofstream(foreign) << "#!/bin/sh\necho hello\n";
    auto r = run(binary("dtrack") + " report " + foreign + " 2>&1");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("byte 0: not a dtrack recording"), std::string::npos) << r.output;

    const std::string file = known_recording();
    std::string b = file_bytes(file);
    b[8] = 9;
    std::ofstream(foreign, std::ios::binary | std::ios::trunc) << b;
    r = run(binary("dtrack") + " report " + foreign + " 2>&1");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("format version 9 is newer"), std::string::npos) << r.output;

    b = file_bytes(file);
    b[b.size() - 3] ^= 1;  // inside the last record's compressed body
    std::ofstream(foreign, std::ios::binary | std::ios::trunc) << b;
    r = run(binary("dtrack") + " report " + foreign + " 2>&1 >/dev/null");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("corrupt at byte"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("interval 29: checksum mismatch"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("the figures cover the 29 intervals before it"), std::string::npos) << r.output;
    std::remove(file.c_str());
    std::remove(foreign.c_str());
}

}  // namespace
