// Recordings for tests: a header and intervals with known pages, as bytes or files.
#pragma once

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "dtrack/recording.hpp"

namespace dtrack_test {

// Two guest-physical regions (1 GiB + 300 MiB), 2 vCPUs, 100 ms intervals.
inline dtrack::recording::Header sample_header() {
    dtrack::recording::Header h;
    h.method = "kvm-ring";
    h.exact = true;
    h.target = "test";
    h.host = "testhost";
    h.kernel = "6.18.0";
    h.start_unix_ns = 1'700'000'000'000'000'000ULL;
    h.interval_ns = 100'000'000;
    h.vcpus = 2;
    h.regions = {{.name = "slot 0", .slot = 0, .base = 0, .page_size = 4096, .page_count = 262144},
                 {.name = "slot 1", .slot = 1, .base = 1ULL << 32, .page_size = 4096, .page_count = 76800 + 13}};
    return h;
}

// `n` intervals of pseudo-random pages (runs and scattered pages), seeded.
inline std::vector<dtrack::recording::Interval> sample_intervals(const dtrack::recording::Header& h, size_t n,
                                                                 uint64_t seed = 7) {
    std::mt19937_64 rng(seed);
    std::vector<dtrack::recording::Interval> out;
    for (size_t i = 0; i < n; ++i) {
        dtrack::recording::Interval in;
        in.index = i;
        in.start_ns = i * h.interval_ns;
        in.end_ns = (i + 1) * h.interval_ns;
        for (dtrack::RegionId r = 0; r < h.regions.size(); ++r) {
            const uint64_t words = (h.regions[r].page_count + 63) / 64;
            uint64_t w = rng() % 64;
            while (w < words) {
                uint64_t bits = i % 2 ? rng() : ~0ULL << (rng() % 64);
                if (w + 1 == words && h.regions[r].page_count % 64)
                    bits &= (1ULL << (h.regions[r].page_count % 64)) - 1;
                in.add_word(r, w, bits);
                w += 1 + rng() % 700;
            }
        }
        in.vcpu_pages = {in.dirty_pages() / 2 + i, in.dirty_pages() / 3};
        in.lost = i;
        out.push_back(std::move(in));
    }
    return out;
}

inline std::vector<uint8_t> bytes_of(const dtrack::recording::Header& h,
                                     const std::vector<dtrack::recording::Interval>& intervals) {
    std::vector<uint8_t> b = dtrack::recording::encode_header(h);
    for (const auto& in : intervals) {
        const std::vector<uint8_t> r = dtrack::recording::encode_record(in, h);
        b.insert(b.end(), r.begin(), r.end());
    }
    return b;
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

}  // namespace dtrack_test
