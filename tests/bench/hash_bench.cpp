// Page hashing, per core: libxxhash's XXH3 (what dtrack uses) against the
// hand-written XXH64 it replaced (kept here only, as the baseline, so the
// ratio is measured side by side in one run). 1 MiB of 4 KiB pages, hashed
// page by page as SampleSource hashes what it read and as the END digest
// walks guest memory.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "pairs.hpp"
#include "dtrack/hash.hpp"

namespace {

constexpr size_t page_bytes = 4096;
constexpr size_t buffer_pages = 256;

// The hand-written XXH64 (seed 0) that lib/common/hash.cpp held, one buffer
// at a time: four lanes over 32-byte stripes, then the tail and avalanche.
namespace handwritten {

constexpr uint64_t P1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t P2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t P3 = 0x165667B19E3779F9ULL;
constexpr uint64_t P4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t P5 = 0x27D4EB2F165667C5ULL;

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
uint64_t read64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
uint32_t read32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
uint64_t round(uint64_t acc, uint64_t input) { return rotl(acc + input * P2, 31) * P1; }
uint64_t merge(uint64_t acc, uint64_t lane) { return (acc ^ round(0, lane)) * P1 + P4; }

uint64_t xxh64(const void* data, size_t size) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    uint64_t n = size;
    uint64_t h;
    if (n >= 32) {
        uint64_t v0 = P1 + P2, v1 = P2, v2 = 0, v3 = 0 - P1;
        for (; n >= 32; p += 32, n -= 32) {
            v0 = round(v0, read64(p));
            v1 = round(v1, read64(p + 8));
            v2 = round(v2, read64(p + 16));
            v3 = round(v3, read64(p + 24));
        }
        h = merge(merge(merge(merge(rotl(v0, 1) + rotl(v1, 7) + rotl(v2, 12) + rotl(v3, 18), v0), v1), v2), v3);
    } else {
        h = P5;
    }
    h += size;
    for (; n >= 8; p += 8, n -= 8) h = rotl(h ^ round(0, read64(p)), 27) * P1 + P4;
    if (n >= 4) {
        h = rotl(h ^ (read32(p) * P1), 23) * P2 + P3;
        p += 4, n -= 4;
    }
    for (; n; ++p, --n) h = rotl(h ^ (*p * P5), 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

}  // namespace handwritten

// xxHash's sanity-test bytes (the top byte of successive powers), page after
// page: not zeros, which some hashes could shortcut.
const std::vector<uint8_t>& pages() {
    static const std::vector<uint8_t> b = [] {
        std::vector<uint8_t> v(buffer_pages * page_bytes);
        uint64_t gen = 2654435761U;
        for (auto& byte : v) {
            byte = static_cast<uint8_t>(gen >> 56);
            gen *= 11400714785074694797ULL;
        }
        return v;
    }();
    return b;
}

template <uint64_t (*Hash)(const void*, size_t)>
void hash_pages(benchmark::State& state) {
    const std::vector<uint8_t>& b = pages();
    uint64_t sink = 0;
    for (auto _ : state)
        for (size_t page = 0; page < buffer_pages; ++page) sink ^= Hash(b.data() + page * page_bytes, page_bytes);
    benchmark::DoNotOptimize(sink);
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(b.size()));
}

// Baseline. Its known answer for the first page (XXH64 of 4096 sanity bytes,
// as xxhsum -H1 prints it) proves it is the XXH64 that was measured.
void BM_PageHashHandWrittenXxh64(benchmark::State& state) {
    if (handwritten::xxh64(pages().data(), page_bytes) != 0xab77f4af85f4e70bULL) {
        state.SkipWithError("the baseline is not XXH64");
        return;
    }
    hash_pages<handwritten::xxh64>(state);
}

// Candidate: dtrack's hash (libxxhash's XXH3_64bits).
void BM_PageHashXxh3(benchmark::State& state) { hash_pages<dtrack::xxh3_64>(state); }

BENCHMARK(BM_PageHashHandWrittenXxh64)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PageHashXxh3)->Unit(benchmark::kMicrosecond);

dtrack_bench::RegisterPair hash_pair("hash 4 KiB pages: XXH3 (libxxhash) vs hand-written XXH64",
                                     "BM_PageHashHandWrittenXxh64", "BM_PageHashXxh3");
dtrack_bench::RegisterFigure hash_figure("page hashing, bytes/s per core", "BM_PageHashXxh3", "bytes_per_second");

}  // namespace
