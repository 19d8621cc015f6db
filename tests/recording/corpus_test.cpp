// The fuzzers' corpora replayed in `make test`: every crafted or once-crashing
// input under tests/corpus/ gets a clean error naming where, never a crash
// (make fuzz finds more; keep what it finds there).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "dtrack/precopy/wire_format.hpp"
#include "dtrack/recording.hpp"
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
