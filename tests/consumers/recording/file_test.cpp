// The recording format: what is written reads back field for field; a file
// cut anywhere in its last record reads up to the record before and says
// where; any flipped byte is caught; foreign files and newer versions are
// named; a writer that cannot keep up records the intervals it dropped.
#include <gtest/gtest.h>
#include <zlib.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>

#include "consumers/recording/format.hpp"
#include "dtrack/recording.hpp"
#include "support/hostile_recordings.hpp"
#include "support/recordings.hpp"

using namespace dtrack;
using namespace dtrack::recording;
using dtrack_test::bytes_of;
using dtrack_test::sample_header;
using dtrack_test::sample_intervals;
using dtrack_test::write_bytes;

namespace {

std::vector<Interval> read_all(Reader& r) {
    std::vector<Interval> out;
    while (auto in = r.next()) out.push_back(std::move(*in));
    return out;
}

TEST(RecordingFile, RoundTripKeepsEveryFieldOfHeaderAndIntervals) {
    const Header h = sample_header();
    const std::vector<Interval> intervals = sample_intervals(h, 6);
    auto reader = Reader::from_bytes(bytes_of(h, intervals));
    ASSERT_TRUE(reader.ok()) << reader.error().message();
    const Header& got = reader->header();
    EXPECT_EQ(got.method, h.method);
    EXPECT_EQ(got.target, h.target);
    EXPECT_EQ(got.host, h.host);
    EXPECT_EQ(got.kernel, h.kernel);
    EXPECT_EQ(got.exact, h.exact);
    EXPECT_EQ(got.start_unix_ns, h.start_unix_ns);
    EXPECT_EQ(got.interval_ns, h.interval_ns);
    EXPECT_EQ(got.vcpus, h.vcpus);
    ASSERT_EQ(got.regions.size(), h.regions.size());
    for (size_t i = 0; i < h.regions.size(); ++i) {
        EXPECT_EQ(got.regions[i].name, h.regions[i].name);
        EXPECT_EQ(got.regions[i].space, h.regions[i].space);
        EXPECT_EQ(got.regions[i].slot, h.regions[i].slot);
        EXPECT_EQ(got.regions[i].base, h.regions[i].base);
        EXPECT_EQ(got.regions[i].page_size, h.regions[i].page_size);
        EXPECT_EQ(got.regions[i].page_count, h.regions[i].page_count);
    }
    EXPECT_EQ(read_all(*reader), intervals);
    EXPECT_EQ(reader->end().kind, ReadEnd::Kind::complete);
}

TEST(RecordingFile, EachRegionIsStoredAsRunsOrBitmapWhicheverIsSmaller) {
    Header h = sample_header();
    Interval one_run;  // a million pages in one run: 16 bytes as a run, 128 KiB as a bitmap
    one_run.add_word(0, 0, ~0ULL);
    for (uint64_t w = 1; w < 1000; ++w) one_run.add_word(0, w, ~0ULL);
    Interval scattered;  // every other page: 8 bytes a word as a bitmap, 16 a page as runs
    for (uint64_t w = 0; w < 1000; ++w) scattered.add_word(0, w, 0x5555555555555555ULL);
    const size_t fixed = format::body_fixed_bytes + 8 * h.vcpus + format::block_fixed_bytes;
    one_run.vcpu_pages.assign(h.vcpus, 0);
    scattered.vcpu_pages.assign(h.vcpus, 0);
    EXPECT_EQ(format::encode_body(one_run, h).size(), fixed + 16);
    EXPECT_EQ(format::encode_body(scattered, h).size(), fixed + 8 + 8 * 1000);
    // And both read back.
    scattered.index = 1;
    auto reader = Reader::from_bytes(bytes_of(h, {one_run, scattered}));
    ASSERT_TRUE(reader.ok());
    EXPECT_EQ(read_all(*reader), (std::vector<Interval>{one_run, scattered}));
}

TEST(RecordingFile, UnsortedOrTouchingRunsAreWrittenNormalized) {
    const Header h = sample_header();
    Interval in;
    in.dirty = {{1, 10, 5}, {0, 7, 1}, {1, 15, 2}, {1, 3, 1}, {0, 7, 1}};
    auto reader = Reader::from_bytes(bytes_of(h, {in}));
    ASSERT_TRUE(reader.ok());
    auto got = reader->next();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->dirty, (std::vector<PageRun>{{0, 7, 1}, {1, 3, 1}, {1, 10, 7}}));
}

TEST(RecordingFile, ACutInTheLastRecordReadsUpToThePreviousOneAndSaysWhere) {
    const Header h = sample_header();
    const std::vector<Interval> intervals = sample_intervals(h, 4);
    const std::vector<uint8_t> whole = bytes_of(h, intervals);
    const std::vector<uint8_t> without_last = bytes_of(h, {intervals.begin(), intervals.end() - 1});
    const size_t last = without_last.size();
    ASSERT_LT(last, whole.size());
    for (size_t cut = last; cut < whole.size(); ++cut) {
        auto reader = Reader::from_bytes({whole.begin(), whole.begin() + long(cut)});
        ASSERT_TRUE(reader.ok()) << cut;
        const std::vector<Interval> got = read_all(*reader);
        ASSERT_EQ(got.size(), 3u) << "cut at " << cut;
        EXPECT_EQ(got.back(), intervals[2]);
        if (cut == last) {
            EXPECT_EQ(reader->end().kind, ReadEnd::Kind::complete);  // a cut between records is a shorter file
            continue;
        }
        EXPECT_EQ(reader->end().kind, ReadEnd::Kind::truncated) << "cut at " << cut;
        EXPECT_EQ(reader->end().offset, last) << "cut at " << cut;
        EXPECT_NE(reader->end().problem.find("interval 3 is cut short"), std::string::npos) << reader->end().problem;
    }
}

TEST(RecordingFile, ACutInsideTheHeaderIsAnErrorNamingIt) {
    const std::vector<uint8_t> whole = bytes_of(sample_header(), {});
    for (size_t cut = 0; cut < whole.size(); ++cut) {
        auto reader = Reader::from_bytes({whole.begin(), whole.begin() + long(cut)});
        ASSERT_FALSE(reader.ok()) << cut;
        EXPECT_NE(reader.error().what.find("ends inside its header"), std::string::npos)
            << cut << ": " << reader.error().what;
    }
}

TEST(RecordingFile, EveryFlippedByteIsCaught) {
    const Header h = sample_header();
    const std::vector<Interval> intervals = sample_intervals(h, 3);
    const std::vector<uint8_t> whole = bytes_of(h, intervals);
    std::vector<size_t> starts;  // each record's offset
    for (size_t n = 0; n <= intervals.size(); ++n)
        starts.push_back(bytes_of(h, {intervals.begin(), intervals.begin() + long(n)}).size());
    for (size_t at = 0; at < whole.size(); ++at) {
        std::vector<uint8_t> bad = whole;
        bad[at] ^= 0x10;
        auto reader = Reader::from_bytes(bad);
        if (at < starts[0]) {
            EXPECT_FALSE(reader.ok()) << "header byte " << at;
            continue;
        }
        ASSERT_TRUE(reader.ok()) << at;
        const size_t record = size_t(std::upper_bound(starts.begin(), starts.end(), at) - starts.begin()) - 1;
        const std::vector<Interval> got = read_all(*reader);
        EXPECT_EQ(got, std::vector<Interval>(intervals.begin(), intervals.begin() + long(record))) << at;
        EXPECT_EQ(reader->end().kind, ReadEnd::Kind::corrupt) << "byte " << at << ": " << reader->end().describe();
        EXPECT_EQ(reader->end().offset, starts[record]) << at;
    }
}

TEST(RecordingFile, AForeignFileIsNamedNotRead) {
    auto reader = Reader::from_bytes(std::vector<uint8_t>{'\x7f', 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0});
    ASSERT_FALSE(reader.ok());
    EXPECT_NE(reader.error().what.find("not a dtrack recording"), std::string::npos) << reader.error().what;
    EXPECT_NE(reader.error().what.find("byte 0"), std::string::npos) << reader.error().what;
    EXPECT_FALSE(Reader::from_bytes({}).ok());
}

TEST(RecordingFile, ANewerFormatVersionIsNamedWithTheFix) {
    std::vector<uint8_t> b = bytes_of(sample_header(), {});
    b[8] = format_version + 1;  // the crc is not checked before the version: a newer prelude may differ
    auto reader = Reader::from_bytes(b);
    ASSERT_FALSE(reader.ok());
    EXPECT_NE(reader.error().what.find("format version " + std::to_string(format_version + 1) + " is newer"),
              std::string::npos)
        << reader.error().what;
    EXPECT_NE(reader.error().what.find("byte 8"), std::string::npos) << reader.error().what;
    EXPECT_NE(reader.error().fix.find("newer dtrack"), std::string::npos);
}

// Version 2: an interval may carry the VM's dirty logging over it.
TEST(RecordingFile, AnIntervalKeepsTheVmsDirtyLoggingOverItAndWhetherItReadsLow) {
    const Header h = sample_header();
    std::vector<Interval> intervals = sample_intervals(h, 4);
    intervals[1].logging = IntervalLogging{.at_start = DirtyLogging::off,
                                           .at_end = DirtyLogging::ring,
                                           .evidence = LoggingEvidence::kernel,
                                           .reads_low = true};
    intervals[2].logging = IntervalLogging{
        .at_start = DirtyLogging::bitmap, .at_end = DirtyLogging::bitmap, .evidence = LoggingEvidence::inferred};
    auto reader = Reader::from_bytes(bytes_of(h, intervals));
    ASSERT_TRUE(reader.ok()) << reader.error().message();
    EXPECT_EQ(reader->header().version, 2u);
    EXPECT_EQ(read_all(*reader), intervals);
}

// The bytes of a recording written now, relabelled as format version 1 (its
// prelude checksum redone): what an older dtrack wrote.
std::vector<uint8_t> as_version_1(std::vector<uint8_t> b) {
    b[8] = 1;
    const uint32_t crc = uint32_t(::crc32(0, b.data(), 20));
    for (int i = 0; i < 4; ++i) b[20 + i] = uint8_t(crc >> (8 * i));
    return b;
}

TEST(RecordingFile, AVersion1FileStillReadsAndMayNotCarryALoggingLabel) {
    const Header h = sample_header();
    std::vector<Interval> intervals = sample_intervals(h, 3);
    auto reader = Reader::from_bytes(as_version_1(bytes_of(h, intervals)));
    ASSERT_TRUE(reader.ok()) << reader.error().message();
    EXPECT_EQ(reader->header().version, 1u);
    EXPECT_EQ(read_all(*reader), intervals);
    EXPECT_EQ(reader->end().kind, ReadEnd::Kind::complete);
    // A label is a version 2 field: in a version 1 file it is an unknown flag.
    intervals[1].logging = IntervalLogging{.at_end = DirtyLogging::ring};
    auto labelled = Reader::from_bytes(as_version_1(bytes_of(h, intervals)));
    ASSERT_TRUE(labelled.ok()) << labelled.error().message();
    EXPECT_EQ(read_all(*labelled).size(), 1u);
    EXPECT_EQ(labelled->end().kind, ReadEnd::Kind::corrupt);
    EXPECT_NE(labelled->end().problem.find("unknown flags"), std::string::npos) << labelled->end().problem;
}

TEST(RecordingFile, OpenNamesAMissingFileAndReadsARealOne) {
    EXPECT_FALSE(Reader::open("/nonexistent/run.dtz").ok());
    const std::string path = ::testing::TempDir() + "/roundtrip.dtz";
    const Header h = sample_header();
    write_bytes(path, bytes_of(h, sample_intervals(h, 2)));
    auto rec = read_recording(path);
    ASSERT_TRUE(rec.ok()) << rec.error().message();
    EXPECT_EQ(rec->intervals, sample_intervals(h, 2));
    std::remove(path.c_str());
}

// What one interval may take in memory bounds the reader: a body declared
// larger is not inflated, a page set that would expand past it not
// expanded; the read ends there, saying so (the intervals before are good).
TEST(RecordingFile, ARecordOverTheReadersLimitEndsTheReadAsTooLargeSayingWhy) {
    const Header h = sample_header();
    const std::vector<uint8_t> bytes = bytes_of(h, sample_intervals(h, 3));
    auto small = Reader::from_bytes(bytes, {.interval_bytes = 512});
    ASSERT_TRUE(small.ok()) << small.error().message();
    const uint64_t first_record = small->offset();
    EXPECT_TRUE(read_all(*small).empty());
    EXPECT_EQ(small->end().kind, ReadEnd::Kind::too_large);
    EXPECT_EQ(small->end().offset, first_record);
    EXPECT_NE(small->end().describe().find("too large to read at byte " + std::to_string(first_record) +
                                           ": interval 0: its body of"),
              std::string::npos)
        << small->end().describe();
    EXPECT_NE(small->end().problem.find("more than the 512 B an interval may take in memory"), std::string::npos)
        << small->end().problem;

    // 8 KiB of bitmap that reads as 32 runs a word: its body fits, its runs do not.
    auto runs = Reader::from_bytes(dtrack_test::hostile::alternating_bitmap(1024), {.interval_bytes = 64 << 10});
    ASSERT_TRUE(runs.ok()) << runs.error().message();
    EXPECT_TRUE(read_all(*runs).empty());
    EXPECT_EQ(runs->end().kind, ReadEnd::Kind::too_large);
    EXPECT_NE(runs->end().problem.find("interval 0: its pages are more than"), std::string::npos)
        << runs->end().problem;
    EXPECT_NE(runs->end().problem.find("runs (24 bytes each)"), std::string::npos) << runs->end().problem;
    // Given room, the same file reads.
    auto roomy = Reader::from_bytes(dtrack_test::hostile::alternating_bitmap(1024), {.interval_bytes = 4 << 20});
    ASSERT_TRUE(roomy.ok());
    const auto intervals = read_all(*roomy);
    ASSERT_EQ(intervals.size(), 1u);
    EXPECT_EQ(intervals[0].dirty.size(), 1024u * 32);
    EXPECT_EQ(roomy->end().kind, ReadEnd::Kind::complete);
}

TEST(RecordingFile, RewindReadsTheSameIntervalsAgainFromTheFirst) {
    const Header h = sample_header();
    const std::vector<Interval> intervals = sample_intervals(h, 4);
    std::vector<uint8_t> bytes = bytes_of(h, intervals);
    bytes.resize(bytes.size() - 5);  // cut in the last record
    auto reader = Reader::from_bytes(bytes);
    ASSERT_TRUE(reader.ok());
    const auto first = read_all(*reader);
    const ReadEnd end = reader->end();
    reader->rewind();
    EXPECT_EQ(read_all(*reader), first);
    EXPECT_EQ(first.size(), 3u);
    EXPECT_EQ(reader->end().kind, ReadEnd::Kind::truncated);
    EXPECT_EQ(reader->end().offset, end.offset);
}

// A sink that holds the writer thread until told.
class GatedSink : public Sink {
public:
    GatedSink(std::vector<uint8_t>& out, std::mutex& m, std::condition_variable& cv, bool& open)
        : out_(out), m_(m), cv_(cv), open_(open) {}
    Status write(std::span<const uint8_t> b) override {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return open_ || out_.empty(); });  // the header passes
        out_.insert(out_.end(), b.begin(), b.end());
        return Ok{};
    }

private:
    std::vector<uint8_t>& out_;
    std::mutex& m_;
    std::condition_variable& cv_;
    bool& open_;
};

TEST(RecordingWriter, AnIntervalThatFindsTheQueueFullIsRecordedAsDropped) {
    const Header h = sample_header();
    std::vector<uint8_t> out;
    std::mutex m;
    std::condition_variable cv;
    bool open = false;
    auto writer = Writer::create(std::make_unique<GatedSink>(out, m, cv, open), h, {.queue_intervals = 2});
    ASSERT_TRUE(writer.ok());
    const std::vector<Interval> intervals = sample_intervals(h, 8);
    // The writer thread takes at most one interval off the queue and blocks in
    // the sink; two more fit the queue; the rest must be dropped.
    size_t refused = 0;
    for (const Interval& in : intervals) refused += !(*writer)->push(in);
    EXPECT_GE(refused, 8u - 3u);
    EXPECT_LE(refused, 8u - 2u);
    {
        std::lock_guard lock(m);
        open = true;
    }
    cv.notify_all();
    ASSERT_TRUE((*writer)->close().ok());
    EXPECT_EQ((*writer)->stats().dropped, refused);
    EXPECT_EQ((*writer)->stats().intervals, 8u);

    auto reader = Reader::from_bytes(out);
    ASSERT_TRUE(reader.ok());
    const std::vector<Interval> got = read_all(*reader);
    ASSERT_EQ(got.size(), 8u);  // every interval has its record
    EXPECT_EQ(reader->end().kind, ReadEnd::Kind::complete);
    size_t dropped = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].index, i);
        EXPECT_EQ(got[i].start_ns, intervals[i].start_ns);
        if (got[i].dropped) {
            ++dropped;
            EXPECT_TRUE(got[i].dirty.empty());
        } else {
            EXPECT_EQ(got[i], intervals[i]);
        }
    }
    EXPECT_EQ(dropped, refused);
    EXPECT_FALSE(got.front().dropped);  // the first ones had room
}

TEST(RecordingWriter, KeepsUpWhenTheSinkDoes) {
    const Header h = sample_header();
    const std::string path = ::testing::TempDir() + "/keepsup.dtz";
    auto sink = file_sink(path);
    ASSERT_TRUE(sink.ok());
    auto writer = Writer::create(std::move(*sink), h, {.queue_intervals = 4});
    ASSERT_TRUE(writer.ok());
    const std::vector<Interval> intervals = sample_intervals(h, 50);
    for (const Interval& in : intervals) {
        // A recorder pushes once per interval; here, as soon as the last is written.
        while ((*writer)->stats().intervals + 4 <= in.index) std::this_thread::yield();
        EXPECT_TRUE((*writer)->push(in));
    }
    ASSERT_TRUE((*writer)->close().ok());
    EXPECT_EQ((*writer)->stats().dropped, 0u);
    auto rec = read_recording(path);
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(rec->intervals, intervals);
    std::remove(path.c_str());
}

}  // namespace
