// Tiny recordings with valid checksums that declare, or expand to, a lot:
// the hostile files of issue 21 (item 9), for the tests that feed them to
// `dtrack report` and `dtrack simulate --trace` under a memory limit.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/byte_order.hpp"
#include "consumers/recording/format.hpp"
#include "dtrack/recording.hpp"
#include "support/recordings.hpp"

namespace dtrack_test::hostile {

// A recording's bytes in a file of its own under the test's temporary
// directory, removed with the object.
struct TempRecording {
    explicit TempRecording(const std::vector<uint8_t>& bytes)
        : path(::testing::TempDir() + "/hostile-" + std::to_string(::getpid()) + "-" + std::to_string(next++) +
               ".dtz") {
        write_bytes(path, bytes);
    }
    ~TempRecording() { std::remove(path.c_str()); }
    TempRecording(const TempRecording&) = delete;
    TempRecording& operator=(const TempRecording&) = delete;
    std::string path;
    static inline int next = 0;
};

// One guest-physical region of `pages` 4 KiB pages, no vCPUs, 100 ms intervals.
inline dtrack::recording::Header one_region(uint64_t pages) {
    dtrack::recording::Header h;
    h.method = "kvm-log";
    h.target = "hostile";
    h.interval_ns = 100'000'000;
    h.regions = {{.name = "slot 0", .slot = 0, .base = 0, .page_size = 4096, .page_count = pages}};
    return h;
}

inline dtrack::recording::Interval interval(uint64_t index, std::vector<dtrack::recording::PageRun> runs) {
    dtrack::recording::Interval in;
    in.index = index;
    in.start_ns = index * 100'000'000;
    in.end_ns = (index + 1) * 100'000'000;
    in.dirty = std::move(runs);
    return in;
}

// `intervals` intervals, each one run over the whole region of `pages` pages
// (a run is 16 bytes whatever its length: 155 bytes for 5e7 pages).
inline std::vector<uint8_t> one_run(uint64_t pages, uint64_t intervals = 1) {
    const auto h = one_region(pages);
    std::vector<uint8_t> b = dtrack::recording::encode_header(h);
    for (uint64_t i = 0; i < intervals; ++i) {
        const auto r = dtrack::recording::encode_record(interval(i, {{0, 0, pages}}), h);
        b.insert(b.end(), r.begin(), r.end());
    }
    return b;
}

// One interval whose page set is a bitmap of `words` words with every other
// bit set (0x5555...): each dirty page a run of its own once read, from a
// body that zlib shrinks a thousandfold. Written by hand: the writer would
// need the runs in memory first.
inline std::vector<uint8_t> alternating_bitmap(uint64_t words) {
    namespace format = dtrack::recording::format;
    using dtrack::bytes::put32;
    using dtrack::bytes::put64;
    const auto h = one_region(words * 64);
    std::vector<uint8_t> raw(format::body_fixed_bytes + format::block_fixed_bytes + 8 + 8 * words, 0);
    put64(&raw[16], 100'000'000);  // end
    put64(&raw[64], words * 32);   // pages
    put32(&raw[72], 1);            // one block
    uint8_t* block = &raw[format::body_fixed_bytes];
    block[4] = format::encoding_bitmap;
    put64(block + 8, words * 32);  // the block's pages
    put64(block + 16, words);      // n words, after the first word's index (0)
    for (uint64_t w = 0; w < words; ++w) put64(block + 32 + 8 * w, 0x5555555555555555ULL);
    std::vector<uint8_t> b = dtrack::recording::encode_header(h);
    format::append_record(raw, 9, b);
    return b;
}

// A region of `pages` pages in the header, and `intervals` intervals of a
// few pages each: what a replay sizes its bitmaps by is the header.
inline std::vector<uint8_t> huge_region(uint64_t pages, uint64_t intervals = 3) {
    const auto h = one_region(pages);
    std::vector<uint8_t> b = dtrack::recording::encode_header(h);
    for (uint64_t i = 0; i < intervals; ++i) {
        const auto r = dtrack::recording::encode_record(interval(i, {{0, 64 * i, 8}, {0, pages - 1, 1}}), h);
        b.insert(b.end(), r.begin(), r.end());
    }
    return b;
}

// `intervals` intervals, interval i dirtying every other page of its own
// `words` * 64 pages: each interval a few KiB, and the pages' history a run
// per page, growing with every interval.
inline std::vector<uint8_t> scattered_history(uint64_t intervals, uint64_t words) {
    const auto h = one_region(intervals * words * 64);
    std::vector<uint8_t> b = dtrack::recording::encode_header(h);
    for (uint64_t i = 0; i < intervals; ++i) {
        auto in = interval(i, {});
        for (uint64_t w = 0; w < words; ++w) in.add_word(0, i * words + w, 0x5555555555555555ULL);
        const auto r = dtrack::recording::encode_record(in, h);
        b.insert(b.end(), r.begin(), r.end());
    }
    return b;
}

// `intervals` intervals of a recording of 4096 vCPUs (the most a header may
// have): 32 KiB of per-vCPU counts each, from a few dozen bytes of zeros.
inline std::vector<uint8_t> many_vcpus(uint64_t intervals) {
    auto h = one_region(1024);
    h.vcpus = dtrack::recording::max_vcpus;
    std::vector<uint8_t> b = dtrack::recording::encode_header(h);
    for (uint64_t i = 0; i < intervals; ++i) {
        auto in = interval(i, {{0, i % 1024, 1}});
        in.vcpu_pages.assign(h.vcpus, 0);
        const auto r = dtrack::recording::encode_record(in, h);
        b.insert(b.end(), r.begin(), r.end());
    }
    return b;
}

// One interval of `length_ns` (1: a nanosecond) dirtying all of `pages`
// pages: a replay that took the recording pass by pass would pass through
// it a billion times a simulated second.
inline std::vector<uint8_t> instant_interval(uint64_t pages, uint64_t length_ns = 1) {
    const auto h = one_region(pages);
    auto in = interval(0, {{0, 0, pages}});
    in.end_ns = length_ns;
    std::vector<uint8_t> b = dtrack::recording::encode_header(h);
    const auto r = dtrack::recording::encode_record(in, h);
    b.insert(b.end(), r.begin(), r.end());
    return b;
}

}  // namespace dtrack_test::hostile
