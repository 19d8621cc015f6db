// The precopy stream, version 3: what the sender writes and the receiver reads.
//
// Version 3 added delta entries to page batches (a re-sent page as the runs
// that changed, consumers/precopy/page_delta.hpp) and zstd beside zlib.
// Version 2 changed the END digest from XXH64 of all memory to the piecewise
// XXH3 digest below and added the pages-done record. Peers of different
// versions are refused at byte 8 of the header, before any page is sent,
// not with a digest mismatch at the end.
//
// All integers are little-endian. CRCs are zlib's crc32 (the IEEE polynomial,
// initial value 0). A stream is one header followed by records.
//
// STREAM HEADER (sender -> receiver), 32 + 24*n bytes
//   offset size  field
//        0    8  magic "DTRACKPC"
//        8    4  version, 3
//       12    4  page size in bytes: a power of two from 64 to 2 MiB
//       16    4  n = region count, 1..4096
//       20    4  flags: 0 (reserved; anything else is refused)
//       24    4  crc32 of bytes 0..23
//       28 24*n  region table, one entry per region, in order:
//                  +0  u32 region id   +4  u32 reserved, 0
//                  +8  u64 guest-physical base   +16 u64 pages (< 2^40)
//   28+24*n   4  crc32 of the region table
//  The receiver accepts the stream only when page size and region table equal
//  its own memory exactly.
//
// RECORD (both directions): a 24-byte header, then payload_length bytes
//   offset size  field
//        0    1  type (below)
//        1    1  flags (page batch only): bit 0 = payload is zlib-compressed,
//                 bit 1 = zstd-compressed; at most one of them
//        2    2  reserved, 0
//        4    4  region id (page batch; 0 otherwise)
//        8    4  count: entries in a page batch (1..max_batch_pages); 0 otherwise
//       12    4  payload_length (bounded per type, see record_payload_limit)
//       16    4  crc32 of the payload
//       20    4  crc32 of bytes 0..19
//  The header has its own CRC (which also covers the payload's CRC), so a
//  corrupt length is caught before the receiver waits for or allocates bytes.
//
// RECORD TYPES AND PAYLOADS
//   1 page batch (sender): `count` entries, each
//        u64  page index within the region (bits 0..61); bit 63 set: the
//             page is all zeros; bit 62 set: a delta follows (not both)
//        whole page (bits 63 and 62 clear): page_size bytes of contents
//        zero page (bit 63): nothing
//        delta (bit 62): u32 length L (at most page_size - 4, so an entry
//             is never longer than a whole page's), then L bytes: what
//             changed against the copy the receiver holds, which is what
//             this stream last sent of that page
//             (consumers/precopy/page_delta.hpp). Pairs, each
//               varint U  bytes left as they are (0 only in the first pair)
//               varint C  bytes changed, at least 1
//               C bytes   their contents now (not XORed)
//             Varints are unsigned LEB128 in their shortest form, at most
//             4 bytes; the pairs reach no further than the page and the
//             last ends the delta (bytes after it are unchanged). L = 0:
//             the page is unchanged.
//      Indices strictly increase and are below the region's page count; the
//      payload is exactly as long as its entries. Compressed (flags bit 0 or 1):
//        u32  raw length (at most count * (8 + page_size))
//        bit 0: a zlib stream (RFC 1950), bit 1: one zstd frame (RFC 8878,
//        window at most 16 MiB), that inflates to exactly the raw length.
//   2 round marker (sender): u64 round number: 1 for the first pass, then +1 each.
//      Page batches follow the marker of the round they belong to.
//   3 end (sender), after pages done: u64 digest, u64 rounds, u64 page
//      entries sent in all batches. The digest (memory_digest in
//      guest_memory.hpp): each region in table order cut into pieces of
//      4 MiB (digest_piece_bytes; a region's last piece may be shorter),
//      XXH3_64bits (seed 0) of each piece, and XXH3_64bits of those hashes
//      laid end to end as u64 little-endian.
//   4 pages done (sender): empty payload. The vCPUs are paused and the last
//      page batch was sent: the receiver hashes its memory now, while the
//      sender hashes its own. Only END may follow.
//  65 accept (receiver): u64 the receiver's digest, u64 page entries received.
//  66 reject (receiver): the reason, 1..4096 bytes of UTF-8 text.
//
// A migration: header, round marker 1, page batches, round marker 2, ...,
// pages done, END; the receiver answers END with accept (its digest matched)
// or reject.
// It may send reject at any time, as soon as it finds a problem.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dtrack/error.hpp"
#include "dtrack/precopy/compression.hpp"
#include "dtrack/precopy/guest_memory.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {
class BatchCompressor;  // consumers/precopy/batch_compression.hpp
}  // namespace dtrack::precopy

namespace dtrack::precopy::wire {

inline constexpr std::array<uint8_t, 8> magic = {'D', 'T', 'R', 'A', 'C', 'K', 'P', 'C'};
inline constexpr uint32_t version = 3;

inline constexpr size_t prelude_bytes = 28;  // header bytes 0..27: up to the region table
inline constexpr size_t region_entry_bytes = 24;
inline constexpr size_t record_header_bytes = 24;

inline constexpr uint32_t max_regions = 4096;
inline constexpr uint64_t min_page_size = 64;
inline constexpr uint64_t max_page_size = 2ULL << 20;
inline constexpr uint64_t max_region_pages = 1ULL << 40;
inline constexpr uint64_t max_batch_raw_bytes = 16ULL << 20;  // a page batch, uncompressed
inline constexpr uint32_t max_reason_bytes = 4096;
inline constexpr uint64_t zero_page_flag = 1ULL << 63;   // in a page-batch entry's index
inline constexpr uint64_t delta_page_flag = 1ULL << 62;  // in a page-batch entry's index
inline constexpr uint8_t flag_zlib = 1;                  // record flags: the batch is zlib-compressed
inline constexpr uint8_t flag_zstd = 2;                  // record flags: the batch is zstd-compressed

// The longest delta a page-batch entry may carry: its 4-byte length and the
// delta are never longer than the page.
inline constexpr uint64_t max_delta_bytes(uint64_t page_size) { return page_size - 4; }
// The longest delta the sender sends: a delta must save at least 1/16 of
// the page (256 bytes of 4 KiB), else the page goes whole.
inline constexpr uint64_t delta_send_limit(uint64_t page_size) { return page_size - page_size / 16; }

// The compression a page batch's record flags name (none when neither bit).
Compression batch_compression(uint8_t flags);

// The most entries one page batch may carry at this page size.
uint32_t max_batch_pages(uint64_t page_size);

enum class RecordType : uint8_t {
    page_batch = 1,
    round_marker = 2,
    end = 3,
    pages_done = 4,
    accept = 65,
    reject = 66,
};
const char* to_string(RecordType type);

// --- stream header -------------------------------------------------------------

struct RegionLayout {
    uint32_t id = 0;
    uint64_t base = 0;
    uint64_t pages = 0;
    bool operator==(const RegionLayout&) const = default;
};

struct StreamHeader {
    uint32_t version = wire::version;
    uint64_t page_size = 4096;
    std::vector<RegionLayout> regions;
    bool operator==(const StreamHeader&) const = default;
};

// The header that describes `memory` (uses each GuestMemory's base).
StreamHeader header_for(std::span<const GuestMemory> memory);
// "page size 4096, 2 regions: [id 0: base 0x0, 1000 pages; id 1: base 0x40000000, 77 pages]"
std::string describe(const StreamHeader& header);

std::vector<uint8_t> encode_header(const StreamHeader& header);

// The header is read in two steps: the prelude (first prelude_bytes) says how
// long the region table is. Errors name the offending field and its offset.
struct Prelude {
    uint32_t version = 0;
    uint64_t page_size = 0;
    uint32_t region_count = 0;
    size_t table_bytes() const { return region_count * region_entry_bytes + 4; }  // with its crc
};
Result<Prelude> decode_prelude(std::span<const uint8_t> bytes);
Result<StreamHeader> decode_region_table(const Prelude& prelude, std::span<const uint8_t> table);

// --- records -------------------------------------------------------------------

struct RecordHeader {
    RecordType type = RecordType::round_marker;
    uint8_t flags = 0;
    uint32_t region = 0;
    uint32_t count = 0;
    uint32_t payload_length = 0;
    uint32_t payload_crc = 0;
};

// The largest payload a record of this type, flags and count may carry.
uint64_t record_payload_limit(RecordType type, uint8_t flags, uint32_t count, uint64_t page_size);

// Writes the 24 header bytes (computing the header crc) to `out`.
void encode_record_header(const RecordHeader& header, uint8_t* out);
// A whole record: header + payload (computes both crcs).
std::vector<uint8_t> encode_record(RecordType type, std::span<const uint8_t> payload, uint32_t region = 0,
                                   uint32_t count = 0, uint8_t flags = 0);

// Checks the header crc, type, flags, reserved bytes, count and payload length
// (against record_payload_limit) before anything is read or allocated for the
// payload. `page_size` is the stream's (any valid one for replies).
Result<RecordHeader> decode_record_header(std::span<const uint8_t> bytes, uint64_t page_size);
Status check_payload_crc(const RecordHeader& header, std::span<const uint8_t> payload);

// --- small payloads --------------------------------------------------------------

struct EndRecord {
    uint64_t digest = 0;
    uint64_t rounds = 0;
    uint64_t pages = 0;
};
struct AcceptRecord {
    uint64_t digest = 0;
    uint64_t pages = 0;
};

std::vector<uint8_t> encode_round_marker(uint64_t round);
std::vector<uint8_t> encode_pages_done();
std::vector<uint8_t> encode_end(const EndRecord& end);
std::vector<uint8_t> encode_accept(const AcceptRecord& accept);
std::vector<uint8_t> encode_reject(std::string_view reason);  // cut to max_reason_bytes

// Payload decoders; the record header was already checked (so lengths are exact).
uint64_t decode_round_marker(std::span<const uint8_t> payload);
EndRecord decode_end(std::span<const uint8_t> payload);
AcceptRecord decode_accept(std::span<const uint8_t> payload);
std::string decode_reject(std::span<const uint8_t> payload);

// --- page batches ------------------------------------------------------------------

// What one page became in a batch.
enum class EntryKind { whole, zero, delta };

// Builds one page-batch record. Pages are copied when added, so the checksum
// covers exactly the bytes sent even while the guest writes; all-zero pages
// become a flag and are not copied.
class PageBatchBuilder {
public:
    PageBatchBuilder(uint64_t page_size, uint32_t capacity);

    void start(uint32_t region);
    // Copies the page (or flags it all-zero); `page` must exceed the last one
    // added. With `previous` (the copy the receiver holds: what was last sent
    // of this page) the page goes as a delta against it when that is under
    // delta_send_limit(). With `keep`, the copy sent (page_size bytes; not
    // for a zero page) is also written there: the sent-page cache's slot,
    // which may be `previous` itself.
    EntryKind add(uint64_t page, const uint8_t* contents, const uint8_t* previous = nullptr, uint8_t* keep = nullptr);
    uint32_t region() const { return region_; }
    uint32_t count() const { return count_; }
    uint32_t zero_pages() const { return zero_pages_; }
    uint32_t delta_pages() const { return delta_pages_; }
    bool full() const { return count_ == capacity_; }
    uint32_t capacity() const { return capacity_; }

    // The whole record, compressed with `compressor` (from
    // consumers/precopy/batch_compression.hpp; nullptr = none) when that
    // makes it smaller. Valid until the next start().
    std::span<const uint8_t> finish(BatchCompressor* compressor = nullptr);

private:
    uint64_t page_size_;
    uint32_t capacity_;
    uint32_t region_ = 0;
    uint32_t count_ = 0;
    uint32_t zero_pages_ = 0;
    uint32_t delta_pages_ = 0;
    std::vector<uint8_t> raw_;     // record header space + raw payload
    std::vector<uint8_t> packed_;  // record header space + compressed payload
    std::vector<uint8_t> delta_;   // one page's delta, before it replaces the whole page
};

// One page of a decoded batch: whole (contents), zero (neither), or a delta
// (checked well formed) to apply to the receiver's copy.
struct PageEntry {
    uint64_t page = 0;
    const uint8_t* contents = nullptr;  // a whole page
    EntryKind kind = EntryKind::whole;
    std::span<const uint8_t> delta;  // kind == delta
};

// Inflates a compressed batch payload into `scratch` and returns the raw
// payload; a raw payload is returned as is. Refuses announced sizes beyond
// what `count` pages can fill and data that inflates to any other size.
Result<std::span<const uint8_t>> inflate_page_batch(const RecordHeader& header, std::span<const uint8_t> payload,
                                                    uint64_t page_size, std::vector<uint8_t>& scratch);
// Validates every entry of a raw batch (exact length, indices increasing and
// below `region_pages`, deltas well formed) before returning any; pointers
// point into `raw`.
Status decode_page_batch(std::span<const uint8_t> raw, uint32_t count, uint64_t page_size, uint64_t region_pages,
                         std::vector<PageEntry>& entries);

}  // namespace dtrack::precopy::wire

DTRACK_PUBLIC_END
