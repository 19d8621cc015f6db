// Recordings with chosen interval times and pages, for dtrack report's tests:
// written with the recording writer's own encoders, so the times in the file
// are exactly the ones given.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/recordings.hpp"

namespace dtrack_test {

// How a sampling method records: its pages a one-in-N sample, each
// interval's figure an estimate with a bound (a tenth of it).
struct Sampled {
    int one_in = 0;  // 0: exact
};

// One region ("ram", 64 MiB of 4 KiB pages at 1 GiB), 100 ms asked; interval
// i lasts lengths_ms[i] and dirties a hot set (pages 0..99, every interval)
// and ten pages of its own (1000 + 10 i ..).
inline std::string recording_with_lengths(const std::string& name, const std::vector<uint64_t>& lengths_ms,
                                          Sampled sampled = {}, const std::string& target = "test") {
    dtrack::recording::Header h = sample_header();
    h.vcpus = 0;
    h.target = target;
    if (sampled.one_in) h.method = "sample", h.exact = false;
    h.regions = {{.name = "ram", .slot = 0, .base = 1ULL << 30, .page_size = 4096, .page_count = 16384}};
    std::vector<dtrack::recording::Interval> all;
    uint64_t t = 0;
    for (uint64_t i = 0; i < lengths_ms.size(); ++i) {
        dtrack::recording::Interval in;
        in.index = i;
        in.start_ns = t;
        in.end_ns = t += lengths_ms[i] * 1'000'000;
        in.dirty = {{0, 0, 100}, {0, 1000 + 10 * i, 10}};
        if (sampled.one_in) {
            in.estimated_pages = double(in.dirty_pages() * uint64_t(sampled.one_in));
            in.bound_pages = 0.1 * in.estimated_pages;
        }
        all.push_back(in);
    }
    const std::string path = ::testing::TempDir() + "/" + name;
    write_bytes(path, bytes_of(h, all));
    return path;
}

}  // namespace dtrack_test
