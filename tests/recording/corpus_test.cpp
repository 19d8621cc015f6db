// The fuzzers' corpora replayed in `make test`: every crafted or once-crashing
// input under tests/corpus/ gets a clean error naming where, never a crash
// (make fuzz finds more; keep what it finds there). The analysis's and the
// replay's corpora go through the real dtrack report and dtrack simulate
// --trace, with the limits their fuzzers give them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "consumers/precopy/page_delta.hpp"
#include "dtrack/precopy/wire_format.hpp"
#include "dtrack/recording.hpp"
#include "support/bounded_run.hpp"
#include "support/precopy_parse.hpp"

namespace fs = std::filesystem;
using namespace dtrack;

namespace {

std::vector<fs::path> corpus(const std::string& name) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(std::string(DTRACK_SOURCE_DIR) + "/tests/corpus/" + name))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<uint8_t> bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

bool crafted_bad(const fs::path& p) {
    const std::string n = p.filename();
    return n.rfind("bad-", 0) == 0 || n.rfind("crash-", 0) == 0;
}

TEST(RecordingCorpus, EveryBadInputGetsAnErrorNamingItsByteOffset) {
    const auto files = corpus("recording");
    ASSERT_GE(files.size(), 10u);
    for (const fs::path& f : files) {
        SCOPED_TRACE(f.filename().string());
        auto reader = recording::Reader::from_bytes(bytes(f));
        if (!reader) {
            EXPECT_TRUE(crafted_bad(f)) << reader.error().what;
            EXPECT_NE(reader.error().what.find("byte "), std::string::npos) << reader.error().what;
            continue;
        }
        while (reader->next()) {
        }
        const recording::ReadEnd& end = reader->end();
        if (!crafted_bad(f)) {
            EXPECT_EQ(end.kind, recording::ReadEnd::Kind::complete) << end.describe();
            continue;
        }
        EXPECT_NE(end.kind, recording::ReadEnd::Kind::complete);
        EXPECT_FALSE(end.problem.empty());
        EXPECT_GT(end.offset, 0u);
    }
}

// A command's output that says it crashed, or ran out of memory, rather than why it refused.
void expect_no_crash(const dtrack_test::CommandResult& r) {
    for (const char* sign : {"bad_alloc", "Sanitizer", "runtime error", "terminate called"})
        EXPECT_EQ(r.output.find(sign), std::string::npos) << r.output;
}

// A fuzzer's corpus and the recording corpus it starts from too.
std::vector<fs::path> with_recordings(const std::string& name) {
    auto files = corpus(name);
    const auto recordings = corpus("recording");
    files.insert(files.end(), recordings.begin(), recordings.end());
    return files;
}

TEST(ReportCorpus, EveryInputIsReportedOrRefusedWithWhyWithinItsLimits) {
    const auto files = with_recordings("report");
    ASSERT_GE(files.size(), 20u);
    for (const fs::path& f : files) {
        SCOPED_TRACE(f.string());
        const auto r = dtrack_test::run_bounded("report --json --max-memory 64M " + f.string());
        expect_no_crash(r);
        if (r.exit_code == 0) {
            EXPECT_TRUE(nlohmann::json::accept(r.output.substr(0, r.output.find('\n')))) << r.output;  // one line
            continue;
        }
        EXPECT_EQ(r.exit_code, 1) << r.output;
        EXPECT_NE(r.output.find("dtrack report: "), std::string::npos) << r.output;
    }
}

TEST(TraceCorpus, EveryInputIsSimulatedOrRefusedWithWhyWithinItsLimits) {
    const auto files = with_recordings("trace");
    ASSERT_GE(files.size(), 20u);
    for (const fs::path& f : files) {
        SCOPED_TRACE(f.string());
        const auto r = dtrack_test::run_bounded("simulate --trace " + f.string() +
                                                " --bandwidth 256M --auto-converge --background-sync 4s"
                                                " --max-time 2m --max-memory 64M");
        expect_no_crash(r);
        // 0 simulated, 1 a damaged or too large recording, 2 one that cannot be replayed (odd page sizes).
        EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1 || r.exit_code == 2) << r.exit_code << "\n" << r.output;
        if (r.exit_code != 0) {
            EXPECT_NE(r.output.find("dtrack simulate: "), std::string::npos) << r.output;
        }
    }
}

TEST(PrecopyCorpus, EveryBadStreamGetsAClearError) {
    const auto files = corpus("precopy");
    ASSERT_GE(files.size(), 5u);
    for (const fs::path& f : files) {
        SCOPED_TRACE(f.filename().string());
        const std::vector<uint8_t> b = bytes(f);
        const std::optional<Error> e = dtrack_test::parse_precopy_stream(b);
        if (crafted_bad(f)) {
            ASSERT_TRUE(e.has_value());
            EXPECT_FALSE(e->what.empty());
        } else {
            EXPECT_FALSE(e.has_value()) << e->what;
        }
    }
}

}  // namespace

// tests/corpus/page_delta, as page_delta_fuzz reads it: byte 0 picks the
// page size (64 << (b % 11)), byte 1 the page's contents, the rest is the delta.
TEST(PageDeltaCorpus, EveryBadDeltaIsRefusedWithAReasonAndEverySeedApplies) {
    const auto files = corpus("page_delta");
    ASSERT_GE(files.size(), 5u);
    for (const fs::path& f : files) {
        SCOPED_TRACE(f.filename().string());
        const std::vector<uint8_t> b = bytes(f);
        ASSERT_GE(b.size(), 2u);
        std::vector<uint8_t> page(size_t{64} << (b[0] % 11), 0);
        const Status applied = precopy::delta::apply(std::span(b).subspan(2), page);
        if (crafted_bad(f)) {
            ASSERT_FALSE(applied);
            EXPECT_NE(applied.error().what.find("malformed page delta at byte "), std::string::npos)
                << applied.error().what;
        } else {
            EXPECT_TRUE(applied) << applied.error().what;
        }
    }
}
