// The recording file format, version 2: field offsets and the codecs the
// writer and the reader share. docs/recording-format.md describes every byte.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dtrack/recording.hpp"

namespace dtrack::recording::format {

inline constexpr std::array<uint8_t, 8> magic = {'D', 'T', 'R', 'A', 'C', 'K', 'R', 'C'};
inline constexpr size_t prelude_bytes = 24;       // magic, version, body length, body crc, prelude crc
inline constexpr size_t header_fixed_bytes = 28;  // the header body before its strings
inline constexpr std::array<uint8_t, 4> record_magic = {'I', 'N', 'T', 'V'};
inline constexpr size_t frame_bytes = 20;        // a record's frame before its compressed body
inline constexpr size_t body_fixed_bytes = 80;   // an interval body before its vCPU counts
inline constexpr size_t block_fixed_bytes = 24;  // a region block before its runs or words

inline constexpr uint32_t flag_dropped = 1;
inline constexpr uint32_t flag_estimate = 2;
inline constexpr uint32_t flag_logging = 4;    // version 2: bytes 76..79 say the VM's dirty logging
inline constexpr uint32_t flag_reads_low = 8;  // version 2, with flag_logging: the kernel's record missed part
inline constexpr uint8_t encoding_runs = 1;
inline constexpr uint8_t encoding_bitmap = 2;

// A problem at a byte offset of the file.
struct Problem {
    uint64_t offset = 0;
    std::string what;
    bool too_large = false;  // sound as far as read, but over the reader's limits
};

std::vector<uint8_t> encode_header_body(const Header& header);
// The interval body (before compression).
std::vector<uint8_t> encode_body(const Interval& interval, const Header& header);

// The prelude's fields, checked in order: magic, version, lengths, crc.
struct Prelude {
    uint32_t version = 0;
    uint32_t body_length = 0;
    uint32_t body_crc = 0;
};
// `bytes` may be shorter than prelude_bytes (a cut file): then the problem says so.
bool decode_prelude(std::span<const uint8_t> bytes, Prelude& out, Problem& problem);
// `base` is the body's offset in the file, for the problem's offset.
bool decode_header_body(std::span<const uint8_t> body, uint64_t base, Header& out, Problem& problem);

struct Frame {
    uint32_t packed_length = 0;
    uint32_t raw_length = 0;
    uint32_t packed_crc = 0;
};
void encode_frame(const Frame& frame, uint8_t* out);
// Appends one record to `out`: the frame, then `raw` compressed at zlib
// `level` (the writer's records, and tests' and fuzzers' hand-made bodies).
void append_record(std::span<const uint8_t> raw, int level, std::vector<uint8_t>& out);
// Checks the frame's crc, magic and lengths (raw against the compressed
// length and the header's largest possible interval, both against
// `limits`) before anything is allocated for the body.
bool decode_frame(std::span<const uint8_t> bytes, uint64_t base, const Header& header, const ReadLimits& limits,
                  Frame& out, Problem& problem);
// The largest body an interval of this header can need.
uint64_t max_body_bytes(const Header& header);
// Validates every field of the body against the header, and holds at most
// `max_runs` runs (problems in the body name the record, not a byte of it:
// the body is compressed).
enum class Decoded { ok, corrupt, too_large };
Decoded decode_body(std::span<const uint8_t> raw, uint64_t expected_index, const Header& header, uint64_t max_runs,
                    Interval& out, std::string& problem);

}  // namespace dtrack::recording::format
