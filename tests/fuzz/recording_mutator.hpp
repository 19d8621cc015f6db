// A structure-aware libFuzzer mutator for recordings, for every fuzz target
// that reads them (recording_reader, report_analysis, trace_guest).
//
// libFuzzer's byte mutations almost never get past a recording's CRCs and
// zlib streams, so they exercise the checks and little behind them. This
// one takes a file apart (the header body, each record's body inflated),
// mutates the parts as a recording's fields (a region's pages, the vCPUs, a
// count, a page number or a bitmap word set to a value at the format's
// limits; records dropped, duplicated or swapped; or bytes, by libFuzzer's
// own mutator), makes the indexes and sums agree again three times in four,
// and puts the file back together with valid lengths and CRCs, so the
// mutations reach the fields' checks, the analysis and the replay. One
// mutation in sixteen is libFuzzer's on the raw file, CRCs left as they
// fall, so the checks themselves stay covered.
//
// Include it in exactly one translation unit of a fuzz target: it defines
// LLVMFuzzerCustomMutator.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "common/byte_order.hpp"
#include "consumers/recording/format.hpp"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace dtrack_fuzz {

namespace format = dtrack::recording::format;
using dtrack::bytes::get16;
using dtrack::bytes::get32;
using dtrack::bytes::get64;
using dtrack::bytes::put32;
using dtrack::bytes::put64;

// The parts of a recording, its records' bodies inflated.
struct Parts {
    uint32_t version = 0;
    std::vector<uint8_t> header;               // the header body
    std::vector<std::vector<uint8_t>> bodies;  // each record's body, inflated
};

// Bodies inflate to at most this in the mutator (the format allows 1 GiB).
inline constexpr uint32_t max_body = 1u << 20;

// False when the bytes do not start as a recording; records that do not
// frame or inflate end the list.
inline bool take_apart(const uint8_t* data, size_t size, Parts& out) {
    if (size < format::prelude_bytes || std::memcmp(data, format::magic.data(), format::magic.size()) != 0)
        return false;
    out.version = get32(data + 8);
    const uint64_t length = get32(data + 12);
    if (format::prelude_bytes + length > size) return false;
    out.header.assign(data + format::prelude_bytes, data + format::prelude_bytes + length);
    for (uint64_t at = format::prelude_bytes + length; at + format::frame_bytes <= size;) {
        const uint32_t packed = get32(data + at + 4), raw = get32(data + at + 8);
        if (packed > size - at - format::frame_bytes || raw > max_body) break;
        std::vector<uint8_t> body(raw);
        uLongf got = raw;
        if (uncompress(body.data(), &got, data + at + format::frame_bytes, packed) != Z_OK) break;
        body.resize(got);
        out.bodies.push_back(std::move(body));
        at += format::frame_bytes + packed;
    }
    return true;
}

inline std::vector<uint8_t> put_together(const Parts& p) {
    std::vector<uint8_t> out(format::prelude_bytes);
    std::memcpy(out.data(), format::magic.data(), format::magic.size());
    put32(&out[8], p.version);
    put32(&out[12], uint32_t(p.header.size()));
    put32(&out[16], dtrack::bytes::crc(p.header));
    put32(&out[20], dtrack::bytes::crc({out.data(), 20}));
    out.insert(out.end(), p.header.begin(), p.header.end());
    for (const auto& body : p.bodies) format::append_record(body, 1, out);
    return out;
}

// Values at and around the format's limits, and the shapes that cost most.
inline uint64_t interesting(std::mt19937_64& rng) {
    static constexpr uint64_t values[] = {0,
                                          1,
                                          2,
                                          63,
                                          64,
                                          65,
                                          4095,
                                          4096,
                                          4097,
                                          1ULL << 20,
                                          50'000'000,
                                          (1ULL << 32) - 1,
                                          1ULL << 32,
                                          1ULL << 36,
                                          (1ULL << 40) - 1,
                                          1ULL << 40,
                                          (1ULL << 40) + 1,
                                          1ULL << 52,
                                          ~0ULL >> 1,
                                          ~0ULL,
                                          0x5555555555555555ULL,
                                          0xAAAAAAAAAAAAAAAAULL,
                                          0x00000000FFFFFFFFULL};
    return values[rng() % std::size(values)];
}

// Where each region's fixed 28 bytes start in a header body (as far as it parses).
inline std::vector<size_t> region_offsets(const std::vector<uint8_t>& h) {
    std::vector<size_t> out;
    if (h.size() < format::header_fixed_bytes) return out;
    size_t at = format::header_fixed_bytes;
    const auto skip_text = [&] {
        if (at + 2 > h.size()) return false;
        at += 2 + get16(&h[at]);
        return at <= h.size();
    };
    for (int i = 0; i < 4; ++i)
        if (!skip_text()) return out;
    for (uint32_t r = 0, n = get32(&h[4]); r < n && at + 28 <= h.size(); ++r) {
        out.push_back(at);
        at += 28;
        if (!skip_text()) break;
    }
    return out;
}

// Calls f(block, n, pages) for each region block of an interval body that
// parses, with its run or word count cut to what the body holds and the
// pages those hold; returns where the last one ends (0: not even the fixed
// fields and vCPU counts are there).
template <typename F>
uint64_t walk_blocks(std::vector<uint8_t>& b, F&& f) {
    if (b.size() < format::body_fixed_bytes) return 0;
    uint64_t at = format::body_fixed_bytes + 8ULL * get32(&b[28]);
    if (at > b.size()) return 0;
    while (at + format::block_fixed_bytes <= b.size()) {
        uint8_t* block = &b[at];
        const uint64_t room = b.size() - at - format::block_fixed_bytes;
        uint64_t n = get64(block + 16), pages = 0;
        if (block[4] == format::encoding_runs) {
            n = std::min(n, room / 16);
            for (uint64_t i = 0; i < n; ++i) pages += get64(block + 24 + 16 * i + 8);
            f(block, n, pages);
            at += format::block_fixed_bytes + 16 * n;
        } else if (block[4] == format::encoding_bitmap && room >= 8) {
            n = std::min(n, (room - 8) / 8);
            for (uint64_t i = 0; i < n; ++i) pages += std::popcount(get64(block + 32 + 8 * i));
            f(block, n, pages);
            at += format::block_fixed_bytes + 8 + 8 * n;
        } else {
            break;
        }
    }
    return at;
}

// Makes an interval body's index, block counts, page total and block count
// agree with what it holds, and drops bytes after its last block.
inline void fix_sums(std::vector<uint8_t>& b, uint64_t index) {
    uint64_t total = 0;
    uint32_t blocks = 0;
    const uint64_t end = walk_blocks(b, [&](uint8_t* block, uint64_t n, uint64_t pages) {
        put64(block + 16, n);
        put64(block + 8, pages);
        total += pages;
        ++blocks;
    });
    if (end == 0) return;
    b.resize(end);
    put64(&b[0], index);
    if (get64(&b[16]) < get64(&b[8])) put64(&b[16], get64(&b[8]));
    put64(&b[64], total);
    put32(&b[72], blocks);
}

// Appends a bitmap block of `words` copies of `word` for the region after
// the last block's: a few bytes once compressed, a run a bit once read.
inline void append_bitmap(std::vector<uint8_t>& b, uint64_t word, uint64_t words, uint64_t first_word) {
    int64_t last_region = -1;
    const uint64_t end = walk_blocks(b, [&](uint8_t* block, uint64_t, uint64_t) { last_region = get32(block); });
    if (end == 0) return;
    b.resize(end + format::block_fixed_bytes + 8 + 8 * words, 0);
    uint8_t* block = &b[end];
    put32(block, uint32_t(last_region + 1));
    block[4] = format::encoding_bitmap;
    put64(block + 16, words);
    put64(block + 24, first_word);
    for (uint64_t i = 0; i < words; ++i) put64(block + 32 + 8 * i, word);
}

// Writes an interesting value, 4 or 8 bytes, at a 4-aligned offset of `b`.
inline void set_field(std::vector<uint8_t>& b, size_t from, std::mt19937_64& rng) {
    if (b.size() < from + 8) return;
    const size_t at = from + (rng() % ((b.size() - from - 4) / 4 + 1)) * 4;
    const uint64_t v = interesting(rng);
    if (at + 8 <= b.size() && rng() % 2) put64(&b[at], v);
    else put32(&b[at], uint32_t(v));
}

inline void mutate_bytes(std::vector<uint8_t>& b, size_t room) {
    const size_t size = b.size();
    b.resize(size + room);
    b.resize(LLVMFuzzerMutate(b.data(), size, b.size()));
}

inline void mutate_parts(Parts& p, std::mt19937_64& rng) {
    const size_t n = p.bodies.size();
    switch (rng() % 8) {
        case 0: mutate_bytes(p.header, 64); break;
        case 1: {  // a region's pages or page size, or the vCPUs
            const auto regions = region_offsets(p.header);
            if (regions.empty() || rng() % 4 == 0) {
                if (p.header.size() >= 4) put32(&p.header[0], uint32_t(rng() % 2 ? interesting(rng) : rng() % 4100));
                break;
            }
            const size_t at = regions[rng() % regions.size()];
            if (rng() % 4) put64(&p.header[at + 16], interesting(rng));
            else put32(&p.header[at + 24], uint32_t(1) << (rng() % 32));
            break;
        }
        case 2:
            if (n) mutate_bytes(p.bodies[rng() % n], 256);
            break;
        case 3:
        case 4:
            if (n) set_field(p.bodies[rng() % n], 0, rng);
            break;
        case 5:  // a record again, or dropped
            if (n && rng() % 2) p.bodies.insert(p.bodies.begin() + long(rng() % (n + 1)), p.bodies[rng() % n]);
            else if (n) p.bodies.erase(p.bodies.begin() + long(rng() % n));
            break;
        case 6:
            if (n > 1) std::swap(p.bodies[rng() % n], p.bodies[rng() % n]);
            break;
        case 7:  // a long stretch of one word: a bitmap that expands a thousandfold
            if (n) {
                const uint64_t word = rng() % 2 ? 0x5555555555555555ULL : ~0ULL;
                append_bitmap(p.bodies[rng() % n], word, 1 + rng() % 8192, rng() % 2 ? 0 : interesting(rng));
            }
            break;
    }
    if (rng() % 4)
        for (size_t i = 0; i < p.bodies.size(); ++i) fix_sums(p.bodies[i], i);
}

}  // namespace dtrack_fuzz

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
    std::mt19937_64 rng(seed);
    dtrack_fuzz::Parts parts;
    if (rng() % 16 == 0 || !dtrack_fuzz::take_apart(data, size, parts)) return LLVMFuzzerMutate(data, size, max_size);
    dtrack_fuzz::mutate_parts(parts, rng);
    const std::vector<uint8_t> out = dtrack_fuzz::put_together(parts);
    if (out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
    std::memcpy(data, out.data(), out.size());
    return out.size();
}
