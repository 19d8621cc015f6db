// The precopy wire format and the receiver's validation: every record type
// round-trips; every single-byte corruption and every truncation of a stream
// is refused with a message that says where; bad layouts, huge lengths and
// zlib bombs are refused before anything is allocated or written.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "consumers/precopy/batch_compression.hpp"
#include "dtrack/hash.hpp"
#include "dtrack/precopy/receiver.hpp"
#include "dtrack/precopy/wire_format.hpp"

using namespace dtrack;
using namespace dtrack::precopy;
namespace wire = dtrack::precopy::wire;

namespace {

constexpr uint64_t page_size = 64;  // small pages keep the byte-by-byte tests quick
constexpr size_t guard = 64;        // canary bytes around each region
constexpr uint8_t canary = 0xCC;

// Guest memory with canaries on both sides of each region, to prove the
// receiver never writes outside it.
class TestMemory {
public:
    struct Layout {
        RegionId id;
        uint64_t base;
        uint64_t pages;
    };
    TestMemory(std::vector<Layout> layout, uint8_t fill, uint64_t page = page_size) {
        for (const Layout& l : layout) {
            auto& bytes = storage_.emplace_back(guard + l.pages * page + guard, canary);
            std::memset(bytes.data() + guard, fill, l.pages * page);
            regions_.push_back(GuestMemory{l.id, bytes.data() + guard, l.pages, page, l.base});
        }
    }
    static TestMemory standard(uint8_t fill) { return TestMemory({{0, 0x0, 5}, {1, 0x100000, 3}}, fill); }

    const std::vector<GuestMemory>& regions() const { return regions_; }
    uint8_t* page(size_t region, uint64_t p) { return regions_[region].page(p); }

    bool guards_intact() const {
        for (size_t i = 0; i < storage_.size(); ++i) {
            const auto& s = storage_[i];
            const size_t body = regions_[i].bytes();
            for (size_t b = 0; b < guard; ++b)
                if (s[b] != canary || s[guard + body + b] != canary) return false;
        }
        return true;
    }
    bool all_bytes(uint8_t value) const {
        for (const GuestMemory& m : regions_)
            for (uint64_t b = 0; b < m.bytes(); ++b)
                if (m.host[b] != value) return false;
        return true;
    }
    bool same_as(const TestMemory& other) const {
        for (size_t i = 0; i < regions_.size(); ++i)
            if (std::memcmp(regions_[i].host, other.regions_[i].host, regions_[i].bytes()) != 0) return false;
        return true;
    }

private:
    std::vector<std::vector<uint8_t>> storage_;
    std::vector<GuestMemory> regions_;
};

// The source: region 0 pseudo-random (pages 1 and 3 all zero), region 1
// compressible.
TestMemory source_memory() {
    TestMemory m = TestMemory::standard(0);
    uint32_t x = 12345;
    for (uint64_t p = 0; p < 5; ++p) {
        if (p == 1 || p == 3) continue;
        for (uint64_t b = 0; b < page_size; ++b)
            m.page(0, p)[b] = static_cast<uint8_t>((x = x * 1103515245 + 12345) >> 16);
    }
    for (uint64_t p = 0; p < 3; ++p) std::memset(m.page(1, p), 'a' + static_cast<int>(p), page_size);
    return m;
}

void append(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
    out.insert(out.end(), bytes.begin(), bytes.end());
}

std::vector<uint8_t> batch(TestMemory& m, size_t region, std::vector<uint64_t> pages, bool compress,
                           Compression method = Compression::zlib) {
    wire::PageBatchBuilder b(page_size, static_cast<uint32_t>(pages.size()));
    b.start(m.regions()[region].region);
    for (uint64_t p : pages) b.add(p, m.page(region, p));
    const auto compressor = make_batch_compressor(compress ? method : Compression::none, 1);
    const auto record = b.finish(compressor.get());
    return {record.begin(), record.end()};
}

// A whole valid stream for source_memory(): 7 records, every type the sender sends.
std::vector<uint8_t> valid_stream(TestMemory& src) {
    std::vector<uint8_t> s = wire::encode_header(wire::header_for(src.regions()));
    append(s, wire::encode_round_marker(1));
    append(s, batch(src, 0, {0, 1, 2, 3}, false));
    append(s, batch(src, 0, {4}, false));
    append(s, wire::encode_round_marker(2));
    append(s, batch(src, 1, {0, 1, 2}, true));
    append(s, wire::encode_pages_done());
    append(s, wire::encode_end({memory_digest(src.regions()), 2, 8}));
    return s;
}

// Feeds `bytes` to a receiver over a socketpair (the stream then ends) and
// returns its result; `reply` gets what it sent back.
struct Received {
    std::optional<Result<ReceiveReport>> result;
    std::vector<uint8_t> reply;
    const Error& error() const { return result->error(); }
    bool ok() const { return result->ok(); }
};

Received receive(std::span<const uint8_t> bytes, TestMemory& dst) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    EXPECT_EQ(::write(fds[0], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::shutdown(fds[0], SHUT_WR);
    Received r;
    r.result.emplace(Receiver(dst.regions(), {.io_timeout = std::chrono::milliseconds(2000)}).run(fds[1]));
    uint8_t buf[8192];
    for (ssize_t n; (n = ::recv(fds[0], buf, sizeof buf, MSG_DONTWAIT)) > 0;)
        r.reply.insert(r.reply.end(), buf, buf + n);
    ::close(fds[0]);
    ::close(fds[1]);
    return r;
}

std::optional<wire::RecordType> reply_type(const std::vector<uint8_t>& reply) {
    auto h = wire::decode_record_header(reply, page_size);
    if (!h) return std::nullopt;
    return h->type;
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// A stream that starts like valid_stream() and goes on with `records`.
std::vector<uint8_t> stream_with(TestMemory& src, std::vector<std::vector<uint8_t>> records, bool round1 = true) {
    std::vector<uint8_t> s = wire::encode_header(wire::header_for(src.regions()));
    if (round1) append(s, wire::encode_round_marker(1));
    for (auto& r : records) append(s, r);
    return s;
}

std::vector<uint8_t> le64(std::initializer_list<uint64_t> words) {
    std::vector<uint8_t> out;
    for (uint64_t w : words)
        for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(w >> (8 * i)));
    return out;
}

}  // namespace

// --- round trips --------------------------------------------------------------------

TEST(PrecopyWire, HeaderRoundTrips) {
    TestMemory m = TestMemory::standard(0);
    const wire::StreamHeader h = wire::header_for(m.regions());
    const std::vector<uint8_t> bytes = wire::encode_header(h);
    ASSERT_EQ(bytes.size(), 32u + 24 * 2);
    auto prelude = wire::decode_prelude(bytes);
    ASSERT_TRUE(prelude) << prelude.error().what;
    EXPECT_EQ(prelude->region_count, 2u);
    auto decoded = wire::decode_region_table(*prelude, std::span(bytes).subspan(wire::prelude_bytes));
    ASSERT_TRUE(decoded) << decoded.error().what;
    EXPECT_EQ(*decoded, h);
    EXPECT_EQ(wire::describe(h), "page size 64, 2 regions: [id 0: base 0x0, 5 pages; id 1: base 0x100000, 3 pages]");
}

TEST(PrecopyWire, SmallRecordsRoundTrip) {
    auto decode = [](const std::vector<uint8_t>& record, wire::RecordType type) {
        auto h = wire::decode_record_header(record, page_size);
        EXPECT_TRUE(h) << h.error().what;
        EXPECT_EQ(h->type, type);
        const std::span<const uint8_t> payload = std::span(record).subspan(wire::record_header_bytes);
        EXPECT_EQ(payload.size(), h->payload_length);
        EXPECT_TRUE(wire::check_payload_crc(*h, payload));
        return payload;
    };
    EXPECT_EQ(wire::decode_round_marker(decode(wire::encode_round_marker(42), wire::RecordType::round_marker)), 42u);
    EXPECT_TRUE(decode(wire::encode_pages_done(), wire::RecordType::pages_done).empty());
    const auto end = wire::decode_end(decode(wire::encode_end({0x1122334455667788, 7, 9000}), wire::RecordType::end));
    EXPECT_EQ(end.digest, 0x1122334455667788u);
    EXPECT_EQ(end.rounds, 7u);
    EXPECT_EQ(end.pages, 9000u);
    const auto accept = wire::decode_accept(decode(wire::encode_accept({0xABCDEF, 12}), wire::RecordType::accept));
    EXPECT_EQ(accept.digest, 0xABCDEFu);
    EXPECT_EQ(accept.pages, 12u);
    EXPECT_EQ(wire::decode_reject(decode(wire::encode_reject("layout differs"), wire::RecordType::reject)),
              "layout differs");
    // Rejections are bounded.
    const std::string long_reason(10000, 'x');
    EXPECT_EQ(wire::decode_reject(decode(wire::encode_reject(long_reason), wire::RecordType::reject)).size(),
              wire::max_reason_bytes);
}

TEST(PrecopyWire, PageBatchesRoundTripRawAndCompressed) {
    TestMemory src = source_memory();
    for (const bool compress : {false, true}) {
        SCOPED_TRACE(compress ? "compressed" : "raw");
        for (size_t region : {0, 1}) {
            const uint64_t pages = src.regions()[region].pages;
            std::vector<uint64_t> all;
            for (uint64_t p = 0; p < pages; ++p) all.push_back(p);
            const std::vector<uint8_t> record = batch(src, region, all, compress);
            auto h = wire::decode_record_header(record, page_size);
            ASSERT_TRUE(h) << h.error().what;
            EXPECT_EQ(h->type, wire::RecordType::page_batch);
            EXPECT_EQ(h->region, src.regions()[region].region);
            EXPECT_EQ(h->count, pages);
            // Region 1 is compressible; region 0 is random and stays raw.
            EXPECT_EQ(bool(h->flags & wire::flag_zlib), compress && region == 1);
            const auto payload = std::span(record).subspan(wire::record_header_bytes);
            ASSERT_TRUE(wire::check_payload_crc(*h, payload));
            std::vector<uint8_t> scratch;
            auto raw = wire::inflate_page_batch(*h, payload, page_size, scratch);
            ASSERT_TRUE(raw) << raw.error().what;
            std::vector<wire::PageEntry> entries;
            ASSERT_TRUE(wire::decode_page_batch(*raw, h->count, page_size, pages, entries));
            ASSERT_EQ(entries.size(), pages);
            for (uint64_t p = 0; p < pages; ++p) {
                EXPECT_EQ(entries[p].page, p);
                const bool zero = region == 0 && (p == 1 || p == 3);
                if (zero) {
                    EXPECT_EQ(entries[p].contents, nullptr) << "page " << p << " should travel as a zero flag";
                } else {
                    ASSERT_NE(entries[p].contents, nullptr);
                    EXPECT_EQ(std::memcmp(entries[p].contents, src.page(region, p), page_size), 0);
                }
            }
        }
    }
}

TEST(PrecopyWire, DigestIsXxh3OfThePiecesXxh3sInOrder) {
    // No pieces: XXH3 of no bytes (xxHash's known answer).
    EXPECT_EQ(memory_digest({}), 0x2D06800538D394C2ULL);
    // A 9 MiB region (pieces of 4, 4 and 1 MiB) and a 3-page one (one piece).
    constexpr uint64_t mib = 1 << 20;
    std::vector<uint8_t> bytes(9 * mib + 3 * 4096);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 131 + 7 + i / 4096);
    const GuestMemory memory[2] = {{0, bytes.data(), 9 * mib / 4096, 4096}, {1, bytes.data() + 9 * mib, 3, 4096}};
    std::vector<uint8_t> hashes;
    for (auto [at, size] : {std::pair{0 * mib, 4 * mib}, {4 * mib, 4 * mib}, {8 * mib, mib}, {9 * mib, 3 * 4096}}) {
        const uint64_t h = xxh3_64(bytes.data() + at, size);
        for (int i = 0; i < 8; ++i) hashes.push_back(static_cast<uint8_t>(h >> (8 * i)));
    }
    const uint64_t expected = xxh3_64(hashes.data(), hashes.size());
    for (unsigned threads : {0u, 1u, 2u, 3u, 8u}) EXPECT_EQ(memory_digest(memory, threads), expected) << threads;
    // Any byte of any piece counts.
    for (uint64_t at : {uint64_t{0}, 4 * mib - 1, 8 * mib + 5, 9 * mib + 3 * 4096 - 1}) {
        bytes[at] ^= 0x80;
        EXPECT_NE(memory_digest(memory), expected) << "byte " << at;
        bytes[at] ^= 0x80;
    }
}

// The sender samples the digest's pace a piece at a time, a different piece
// each round, as memory_digest() cuts them: counted through the regions and
// wrapping around. A piece past the memory it names would fault: here the
// second region is unreadable, so sampling it kills the process.
TEST(PrecopyWireDeathTest, TheDigestEstimateSamplesThePiecesInTurnAcrossRegions) {
    constexpr uint64_t mib = 1 << 20;
    const size_t page = size_t(::sysconf(_SC_PAGESIZE));
    void* map = ::mmap(nullptr, 12 * mib + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(map, MAP_FAILED);
    auto* bytes = static_cast<uint8_t*>(map);
    ASSERT_EQ(::mprotect(bytes + 8 * mib, 4 * mib + page, PROT_NONE), 0);
    // Pieces: 0 and 1 in the 8 MiB region, 2 the unreadable one.
    const GuestMemory memory[2] = {{0, bytes, 8 * mib / 4096, 4096}, {1, bytes + 8 * mib, 4 * mib / 4096, 4096}};
    for (uint64_t piece : {0, 1, 3, 4, 6}) EXPECT_GT(estimated_digest_time(memory, piece).count(), 0) << piece;
    EXPECT_DEATH((void)estimated_digest_time(memory, 2), "");
    EXPECT_DEATH((void)estimated_digest_time(memory, 5), "");
    ::munmap(map, 12 * mib + page);
}

// --- the receiver ---------------------------------------------------------------------

TEST(PrecopyWire, ReceiverAcceptsAValidStream) {
    TestMemory src = source_memory(), dst = TestMemory::standard(0xAA);
    const Received r = receive(valid_stream(src), dst);
    ASSERT_TRUE(r.ok()) << r.error().message();
    const ReceiveReport& report = r.result->value();
    EXPECT_EQ(report.rounds, 2u);
    EXPECT_EQ(report.pages, 8u);
    EXPECT_EQ(report.zero_pages, 2u);
    EXPECT_EQ(report.records, 7u);
    EXPECT_EQ(report.bytes, valid_stream(src).size());
    EXPECT_TRUE(report.digest_match);
    EXPECT_EQ(report.digest, memory_digest(src.regions()));
    EXPECT_TRUE(dst.same_as(src));
    EXPECT_TRUE(dst.guards_intact());
    ASSERT_EQ(reply_type(r.reply), wire::RecordType::accept);
}

TEST(PrecopyWire, EverySingleByteCorruptionIsRejectedWithItsPlace) {
    TestMemory src = source_memory();
    const std::vector<uint8_t> stream = valid_stream(src);
    for (size_t i = 0; i < stream.size(); ++i) {
        std::vector<uint8_t> bad = stream;
        bad[i] ^= 0xFF;
        TestMemory dst = TestMemory::standard(0xAA);
        const Received r = receive(bad, dst);
        ASSERT_FALSE(r.ok()) << "flipping byte " << i << " went unnoticed";
        EXPECT_TRUE(contains(r.error().what, "at byte")) << "byte " << i << ": " << r.error().what;
        EXPECT_TRUE(dst.guards_intact()) << "byte " << i;
        EXPECT_EQ(reply_type(r.reply), wire::RecordType::reject) << "byte " << i << ": no rejection sent";
    }
}

TEST(PrecopyWire, CorruptionMessageNamesRecordAndOffset) {
    TestMemory src = source_memory(), dst = TestMemory::standard(0xAA);
    std::vector<uint8_t> stream = valid_stream(src);
    // Record 1 (round marker, 32 bytes) starts after the 80-byte header; record 2 at 112.
    stream[112 + wire::record_header_bytes + 3] ^= 0x10;  // inside record 2's payload
    const Received r = receive(stream, dst);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "record 2 at byte 112: page batch record: payload checksum mismatch (stream corrupt)");
    ASSERT_EQ(reply_type(r.reply), wire::RecordType::reject);
    const std::string reason = wire::decode_reject(std::span(r.reply).subspan(wire::record_header_bytes));
    EXPECT_TRUE(contains(reason, "record 2 at byte 112")) << reason;
}

TEST(PrecopyWire, EveryTruncationIsRejected) {
    TestMemory src = source_memory();
    const std::vector<uint8_t> stream = valid_stream(src);
    for (size_t len = 0; len < stream.size(); ++len) {
        TestMemory dst = TestMemory::standard(0xAA);
        const Received r = receive(std::span(stream).first(len), dst);
        ASSERT_FALSE(r.ok()) << "a stream cut at " << len << " bytes was accepted";
        const std::string& what = r.error().what;
        EXPECT_TRUE(contains(what, "at byte")) << what;
        EXPECT_TRUE(contains(what, "(truncated)") || contains(what, "ended before the END record")) << what;
        EXPECT_TRUE(dst.guards_intact());
    }
}

TEST(PrecopyWire, HeaderWithOtherLayoutIsRejectedNamingBoth) {
    TestMemory src = source_memory();
    const std::vector<uint8_t> stream = valid_stream(src);
    struct Case {
        const char* name;
        TestMemory dst;
        std::vector<std::string> expected;
    };
    Case cases[] = {
        {"more pages",
         TestMemory({{0, 0x0, 6}, {1, 0x100000, 3}}, 0xAA),
         {"sender has page size 64, 2 regions: [id 0: base 0x0, 5 pages;",
          "receiver has page size 64, 2 regions: [id 0: base 0x0, 6 pages;"}},
        {"other base", TestMemory({{0, 0x0, 5}, {1, 0x200000, 3}}, 0xAA), {"base 0x100000", "base 0x200000"}},
        {"other ids", TestMemory({{0, 0x0, 5}, {2, 0x100000, 3}}, 0xAA), {"id 1:", "id 2:"}},
        {"one region", TestMemory({{0, 0x0, 5}}, 0xAA), {"2 regions", "1 region:"}},
        {"other page size",
         TestMemory({{0, 0x0, 5}, {1, 0x100000, 3}}, 0xAA, 128),
         {"sender has page size 64", "receiver has page size 128"}},
    };
    for (Case& c : cases) {
        SCOPED_TRACE(c.name);
        const Received r = receive(stream, c.dst);
        ASSERT_FALSE(r.ok());
        EXPECT_TRUE(contains(r.error().what, "stream header at byte")) << r.error().what;
        EXPECT_TRUE(contains(r.error().what, "memory layout differs")) << r.error().what;
        for (const std::string& e : c.expected) EXPECT_TRUE(contains(r.error().what, e)) << r.error().what;
        EXPECT_TRUE(c.dst.all_bytes(0xAA)) << "nothing may be written after a refused header";
        EXPECT_EQ(reply_type(r.reply), wire::RecordType::reject);
    }
}

TEST(PrecopyWire, ARefusedLayoutIsNotDescribedToAnUnauthenticatedSender) {
    // Anyone can connect to a plain receiver: the reason it sends back must
    // not map this VM's memory. Its own error (the log) names both layouts.
    TestMemory src = source_memory(), dst({{0, 0x0, 6}, {1, 0x100000, 3}}, 0xAA);
    const Received r = receive(valid_stream(src), dst);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().what, "receiver has page size 64, 2 regions")) << r.error().what;
    ASSERT_EQ(reply_type(r.reply), wire::RecordType::reject);
    const std::string told = wire::decode_reject(std::span(r.reply).subspan(wire::record_header_bytes));
    EXPECT_TRUE(contains(told, "memory layout differs")) << told;
    EXPECT_FALSE(contains(told, "receiver has")) << told;
    EXPECT_FALSE(contains(told, "6 pages")) << told;
}

TEST(PrecopyWire, OtherVersionOrMagicIsRejected) {
    TestMemory src = source_memory(), dst = TestMemory::standard(0xAA);
    wire::StreamHeader h = wire::header_for(src.regions());
    // 1: an older dtrack, whose END digest was XXH64; 2: one without deltas and zstd.
    for (uint32_t other : {1u, 2u, 4u}) {
        h.version = other;
        Received r = receive(wire::encode_header(h), dst);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().what, "stream header at byte 8: unsupported stream version " + std::to_string(other) +
                                      " (this side speaks version 3)");
        ASSERT_EQ(reply_type(r.reply), wire::RecordType::reject);  // the sender hears why
    }

    std::vector<uint8_t> http(64, ' ');
    std::memcpy(http.data(), "GET / HTTP/1.1\r\n", 16);
    const Received r = receive(http, dst);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().what, "not a dtrack precopy stream")) << r.error().what;
}

TEST(PrecopyWire, HugeLengthsAreRefusedBeforeAllocating) {
    TestMemory src = source_memory(), dst = TestMemory::standard(0xAA);
    // A record header with a valid checksum that announces 4 GiB of payload,
    // and nothing after it: refusing names the length, not a truncation,
    // so nothing was read or allocated for it.
    uint8_t head[wire::record_header_bytes];
    wire::encode_record_header({wire::RecordType::page_batch, 0, 0, 1, 0xFFFFFFFF, 0}, head);
    Received r = receive(stream_with(src, {{head, head + sizeof head}}), dst);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what,
              "record 2 at byte 112: page batch record: payload length 4294967295 exceeds the limit of 72 bytes");

    wire::encode_record_header({wire::RecordType::page_batch, 0, 0, 0xFFFFFFFF, 100, 0}, head);
    r = receive(stream_with(src, {{head, head + sizeof head}}), dst);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().what, "count 4294967295 is outside 1..")) << r.error().what;

    wire::encode_record_header({wire::RecordType::reject, 0, 0, 0, 1u << 30, 0}, head);
    r = receive(stream_with(src, {{head, head + sizeof head}}), dst);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().what, "exceeds the limit of 4096 bytes")) << r.error().what;

    // A region count of 4 billion in a prelude with a valid checksum.
    std::vector<uint8_t> header = wire::encode_header(wire::header_for(src.regions()));
    header[16] = header[17] = header[18] = header[19] = 0xFF;
    const uint32_t c = static_cast<uint32_t>(crc32(0, header.data(), 24));
    for (int i = 0; i < 4; ++i) header[24 + i] = static_cast<uint8_t>(c >> (8 * i));
    r = receive(header, dst);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "stream header at byte 16: region count 4294967295 is outside 1..4096");
    EXPECT_TRUE(dst.all_bytes(0xAA));
}

TEST(PrecopyWire, ZlibBombIsRefused) {
    TestMemory src = source_memory(), dst = TestMemory::standard(0xAA);
    auto compressed_batch = [](uint32_t announced, const std::vector<uint8_t>& data) {
        uLongf len = compressBound(static_cast<uLong>(data.size()));
        std::vector<uint8_t> payload(4 + len);
        for (int i = 0; i < 4; ++i) payload[i] = static_cast<uint8_t>(announced >> (8 * i));
        EXPECT_EQ(compress2(payload.data() + 4, &len, data.data(), static_cast<uLong>(data.size()), 9), Z_OK);
        payload.resize(4 + len);
        return wire::encode_record(wire::RecordType::page_batch, payload, 0, 1, wire::flag_zlib);
    };
    // 16 KiB of zeros (about 30 bytes compressed) in a one-page batch that
    // announces its honest maximum, 72 bytes: inflating stops there.
    Received r = receive(stream_with(src, {compressed_batch(72, std::vector<uint8_t>(16 << 10))}), dst);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "record 2 at byte 112: compressed page batch inflates beyond the 72 bytes it announced");
    // A bigger bomb does not even fit the compressed payload limit of a one-page batch.
    r = receive(stream_with(src, {compressed_batch(72, std::vector<uint8_t>(1 << 20))}), dst);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().what, "exceeds the limit of 89 bytes")) << r.error().what;
    // Announcing more than the batch can hold is refused before inflating.
    r = receive(stream_with(src, {compressed_batch(1u << 30, std::vector<uint8_t>(72))}), dst);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().what, "announces 1073741824 bytes, more than 1 pages can fill (72)"))
        << r.error().what;
    // Inflating to less than announced is refused too.
    r = receive(stream_with(src, {compressed_batch(72, le64({0}))}), dst);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().what, "inflates to 8 bytes, announced 72")) << r.error().what;
    EXPECT_TRUE(dst.all_bytes(0xAA));
    EXPECT_TRUE(dst.guards_intact());
}

TEST(PrecopyWire, BadPageBatchesWriteNothing) {
    TestMemory src = source_memory();
    const auto zero_page = [](uint64_t page) { return page | wire::zero_page_flag; };
    struct Case {
        const char* name;
        std::vector<std::vector<uint8_t>> records;
        bool round1;
        std::string expected;
    };
    const std::vector<uint8_t> beyond = le64({zero_page(0), zero_page(5)});
    const std::vector<uint8_t> backwards = le64({zero_page(2), zero_page(2)});
    std::vector<Case> cases = {
        {"page beyond the region",
         {wire::encode_record(wire::RecordType::page_batch, beyond, 0, 2)},
         true,
         "page batch entry 1: page 5 is beyond the region's 5 pages"},
        {"page repeated",
         {wire::encode_record(wire::RecordType::page_batch, backwards, 0, 2)},
         true,
         "page batch entry 1: page 2 does not follow page 2"},
        {"unknown region",
         {wire::encode_record(wire::RecordType::page_batch, le64({zero_page(0)}), 7, 1)},
         true,
         "page batch for region 7, which the header did not list"},
        {"bytes after the entries",
         {wire::encode_record(wire::RecordType::page_batch, le64({zero_page(0), 0}), 0, 1)},
         true,
         "page batch has 8 bytes after its 1 entries"},
        {"contents cut short",
         {wire::encode_record(wire::RecordType::page_batch, le64({0, 0}), 0, 1)},
         true,
         "page batch ends inside the contents of page 0"},
        {"batch before round 1",
         {wire::encode_record(wire::RecordType::page_batch, le64({zero_page(0)}), 0, 1)},
         false,
         "page batch before the first round marker"},
        {"round skipped", {wire::encode_round_marker(3)}, true, "round marker 3 after round 1"},
        {"accept from the sender", {wire::encode_accept({})}, true, "unexpected accept record from the sender"},
        {"END without pages done", {wire::encode_end({0, 1, 0})}, true, "END record before the pages-done record"},
        {"pages done before round 1", {wire::encode_pages_done()}, false, "pages-done record before any round"},
    };
    for (Case& c : cases) {
        SCOPED_TRACE(c.name);
        TestMemory dst = TestMemory::standard(0xAA);
        const Received r = receive(stream_with(src, c.records, c.round1), dst);
        ASSERT_FALSE(r.ok());
        EXPECT_TRUE(contains(r.error().what, c.expected)) << r.error().what;
        EXPECT_TRUE(contains(r.error().what, c.round1 ? "record 2 at byte 112: " : "record 1 at byte 80: "))
            << r.error().what;
        EXPECT_TRUE(dst.all_bytes(0xAA));
        EXPECT_TRUE(dst.guards_intact());
        EXPECT_EQ(reply_type(r.reply), wire::RecordType::reject);
    }
}

// Version 2's switchover: pages done once, after the last page and before
// END, so the receiver's hash covers the final copy.
TEST(PrecopyWire, OnlyEndMayFollowPagesDoneAndItsDigestMustMatch) {
    TestMemory src = source_memory();
    const auto pages_done = wire::encode_pages_done();
    const auto page = [&] { return batch(src, 0, {0}, false); };
    struct Case {
        const char* name;
        std::vector<std::vector<uint8_t>> records;
        std::string expected;
    };
    std::vector<Case> cases = {
        {"a page after pages done", {pages_done, page()}, "page batch after the pages-done record"},
        {"a round after pages done",
         {pages_done, wire::encode_round_marker(2)},
         "round marker after the pages-done record"},
        {"pages done twice", {pages_done, pages_done}, "a second pages-done record"},
        {"wrong digest",
         {pages_done, wire::encode_end({12345, 1, 0})},
         "digest mismatch: the sender's memory is 0x0000000000003039"},
        {"wrong page count", {pages_done, wire::encode_end({0, 1, 3})}, "END record says 3 pages were sent, 0 arrived"},
    };
    for (Case& c : cases) {
        SCOPED_TRACE(c.name);
        TestMemory dst = TestMemory::standard(0xAA);
        const Received r = receive(stream_with(src, c.records), dst);
        ASSERT_FALSE(r.ok());
        EXPECT_TRUE(contains(r.error().what, "record 3 at byte 136: " + c.expected)) << r.error().what;
        EXPECT_TRUE(dst.all_bytes(0xAA));
        EXPECT_EQ(reply_type(r.reply), wire::RecordType::reject);
    }
}

// --- version 3: deltas and zstd ------------------------------------------------------------

namespace {

// One page-batch record of `pages` of region 0, each sent as a delta against `previous` where given.
std::vector<uint8_t> delta_batch(TestMemory& m, std::vector<std::pair<uint64_t, const uint8_t*>> pages,
                                 std::vector<wire::EntryKind>& kinds) {
    wire::PageBatchBuilder b(page_size, static_cast<uint32_t>(pages.size()));
    b.start(0);
    for (auto [p, previous] : pages) kinds.push_back(b.add(p, m.page(0, p), previous));
    const auto record = b.finish();
    return {record.begin(), record.end()};
}

std::vector<uint8_t> zstd_batch(uint32_t announced, const std::vector<uint8_t>& data) {
    std::vector<uint8_t> payload(4 + ZSTD_compressBound(data.size()));
    for (int i = 0; i < 4; ++i) payload[i] = static_cast<uint8_t>(announced >> (8 * i));
    const size_t n = ZSTD_compress(payload.data() + 4, payload.size() - 4, data.data(), data.size(), 19);
    EXPECT_FALSE(ZSTD_isError(n));
    payload.resize(4 + n);
    return wire::encode_record(wire::RecordType::page_batch, payload, 0, 1, wire::flag_zstd);
}

}  // namespace

TEST(PrecopyWire, DeltaEntriesTravelAndRebuildThePageFromTheReceiversCopy) {
    TestMemory src = source_memory(), dst = TestMemory::standard(0xAA);
    // Round 1 sends region 0 whole; then pages 0 and 2 change a little, page 4 entirely.
    std::vector<uint8_t> s = stream_with(src, {batch(src, 0, {0, 1, 2, 3, 4}, false), batch(src, 1, {0, 1, 2}, false)});
    std::vector<std::vector<uint8_t>> sent;
    for (uint64_t p : {0, 2, 4}) sent.emplace_back(src.page(0, p), src.page(0, p) + page_size);
    src.page(0, 0)[5] ^= 0xff;
    std::memcpy(src.page(0, 2) + 56, "stamp!!!", 8);
    for (uint64_t b = 0; b < page_size; ++b) src.page(0, 4)[b] = static_cast<uint8_t>(~src.page(0, 4)[b]);
    std::vector<wire::EntryKind> kinds;
    const std::vector<uint8_t> deltas =
        delta_batch(src, {{0, sent[0].data()}, {2, sent[1].data()}, {4, sent[2].data()}}, kinds);
    EXPECT_EQ(kinds, (std::vector{wire::EntryKind::delta, wire::EntryKind::delta, wire::EntryKind::whole}));
    append(s, wire::encode_round_marker(2));
    append(s, deltas);
    append(s, wire::encode_pages_done());
    append(s, wire::encode_end({memory_digest(src.regions()), 2, 11}));
    const Received r = receive(s, dst);
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_EQ(r.result->value().delta_pages, 2u);
    EXPECT_TRUE(dst.same_as(src));
    EXPECT_TRUE(dst.guards_intact());
}

TEST(PrecopyWire, ZstdBatchesRoundTripFlaggedZstd) {
    TestMemory src = source_memory();
    const std::vector<uint8_t> record = batch(src, 1, {0, 1, 2}, true, Compression::zstd);
    auto h = wire::decode_record_header(record, page_size);
    ASSERT_TRUE(h) << h.error().what;
    EXPECT_EQ(h->flags, wire::flag_zstd);
    EXPECT_LT(h->payload_length, 3 * (8 + page_size)) << "compressible pages did not shrink";
    std::vector<uint8_t> scratch;
    auto raw = wire::inflate_page_batch(*h, std::span(record).subspan(wire::record_header_bytes), page_size, scratch);
    ASSERT_TRUE(raw) << raw.error().what;
    std::vector<wire::PageEntry> entries;
    ASSERT_TRUE(wire::decode_page_batch(*raw, 3, page_size, 3, entries));
    for (uint64_t p = 0; p < 3; ++p) EXPECT_EQ(std::memcmp(entries[p].contents, src.page(1, p), page_size), 0) << p;
    // And a whole stream with zstd batches arrives intact.
    TestMemory dst = TestMemory::standard(0xAA);
    std::vector<uint8_t> s = stream_with(src, {batch(src, 0, {0, 1, 2, 3, 4}, true, Compression::zstd), record});
    append(s, wire::encode_pages_done());
    append(s, wire::encode_end({memory_digest(src.regions()), 1, 8}));
    const Received r = receive(s, dst);
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_TRUE(dst.same_as(src));
}

TEST(PrecopyWire, ZstdBombIsRefusedAtTheAnnouncedSize) {
    TestMemory src = source_memory(), dst = TestMemory::standard(0xAA);
    // 16 KiB of zeros (a few bytes of zstd) in a one-page batch that announces its honest maximum, 72 bytes.
    Received r = receive(stream_with(src, {zstd_batch(72, std::vector<uint8_t>(16 << 10))}), dst);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "record 2 at byte 112: compressed page batch inflates beyond the 72 bytes it announced");
    // 1 GiB announced is refused before inflating; inflating to less than announced too.
    r = receive(stream_with(src, {zstd_batch(1u << 30, std::vector<uint8_t>(72))}), dst);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().what, "announces 1073741824 bytes, more than 1 pages can fill (72)"))
        << r.error().what;
    r = receive(stream_with(src, {zstd_batch(72, le64({0}))}), dst);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().what, "inflates to 8 bytes, announced 72")) << r.error().what;
    EXPECT_TRUE(dst.all_bytes(0xAA));
    EXPECT_TRUE(dst.guards_intact());
}

TEST(PrecopyWire, MalformedDeltaEntriesAreRefusedWithTheirReasonAndWriteNothing) {
    TestMemory src = source_memory();
    const auto delta_entry = [](uint64_t page, std::vector<uint8_t> length_and_delta) {
        std::vector<uint8_t> e = le64({page | wire::delta_page_flag});
        e.insert(e.end(), length_and_delta.begin(), length_and_delta.end());
        return wire::encode_record(wire::RecordType::page_batch, e, 0, 1);
    };
    struct Case {
        const char* name;
        std::vector<uint8_t> record;
        std::string expected;
    } cases[] = {
        {"zero and delta at once",
         wire::encode_record(wire::RecordType::page_batch, le64({1 | wire::zero_page_flag | wire::delta_page_flag, 0}),
                             0, 1),
         "page batch entry 0: flagged both zero page and delta"},
        {"a delta longer than a page allows", delta_entry(1, {61, 0, 0, 0}),
         "page batch entry 0: a delta of 61 bytes, more than the 60 a page of 64 bytes allows"},
        {"the delta length cut off", delta_entry(1, {1, 0}), "page batch ends inside the delta length of page 1"},
        {"the delta cut off", delta_entry(1, {3, 0, 0, 0, 0x00, 0x01}), "page batch ends inside the delta of page 1"},
        {"runs beyond the page", delta_entry(1, {3, 0, 0, 0, 0x40, 0x01, 7}),
         "page batch entry 0: malformed page delta at byte 0: the runs reach byte 65, beyond the page of 64 bytes"},
        {"trailing bytes in the delta", delta_entry(1, {4, 0, 0, 0, 0x00, 0x01, 7, 9}),
         "page batch entry 0: malformed page delta at byte 3: trailing bytes"},
        {"both zlib and zstd",
         wire::encode_record(wire::RecordType::page_batch, le64({1 | wire::zero_page_flag}), 0, 1,
                             wire::flag_zlib | wire::flag_zstd),
         "page batch record: flags 0x3 name both zlib and zstd"},
    };
    for (Case& c : cases) {
        SCOPED_TRACE(c.name);
        TestMemory dst = TestMemory::standard(0xAA);
        const Received r = receive(stream_with(src, {c.record}), dst);
        ASSERT_FALSE(r.ok());
        EXPECT_TRUE(contains(r.error().what, "record 2 at byte 112: " + c.expected)) << r.error().what;
        EXPECT_TRUE(dst.all_bytes(0xAA));
        EXPECT_TRUE(dst.guards_intact());
        EXPECT_EQ(reply_type(r.reply), wire::RecordType::reject);
    }
}
