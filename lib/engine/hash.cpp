// XXH64 as specified in xxHash's doc/xxhash_spec.md. Checked against
// libxxhash's known answers in tests/sources/hash_test.cpp.
#include "dtrack/hash.hpp"

#include <algorithm>
#include <cstring>

namespace dtrack {

namespace {

constexpr uint64_t P1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t P2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t P3 = 0x165667B19E3779F9ULL;
constexpr uint64_t P4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t P5 = 0x27D4EB2F165667C5ULL;

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
uint64_t read64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);  // x86 and arm64 Linux are little-endian, as XXH64 reads
    return v;
}
uint32_t read32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
uint64_t round(uint64_t acc, uint64_t input) { return rotl(acc + input * P2, 31) * P1; }
uint64_t merge(uint64_t acc, uint64_t lane) { return (acc ^ round(0, lane)) * P1 + P4; }

}  // namespace

Xxh64::Xxh64(uint64_t seed) : seed_(seed), lanes_{seed + P1 + P2, seed + P2, seed, seed - P1} {}

void Xxh64::update(const void* data, size_t size) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    uint64_t n = size;
    total_ += n;
    if (pending_len_) {
        const uint64_t take = std::min<uint64_t>(32 - pending_len_, n);
        std::memcpy(pending_ + pending_len_, p, take);
        pending_len_ += take, p += take, n -= take;
        if (pending_len_ < 32) return;
        stripe(pending_);
        pending_len_ = 0;
    }
    // The bulk: lanes in locals so they stay in registers (this loop runs at
    // memory speed).
    uint64_t v0 = lanes_[0], v1 = lanes_[1], v2 = lanes_[2], v3 = lanes_[3];
    for (; n >= 32; p += 32, n -= 32) {
        v0 = round(v0, read64(p));
        v1 = round(v1, read64(p + 8));
        v2 = round(v2, read64(p + 16));
        v3 = round(v3, read64(p + 24));
    }
    lanes_[0] = v0, lanes_[1] = v1, lanes_[2] = v2, lanes_[3] = v3;
    if (n) std::memcpy(pending_, p, n);
    pending_len_ = n;
}

uint64_t Xxh64::digest() const {
    const uint64_t* v = lanes_;
    uint64_t h = total_ >= 32
                     ? merge(merge(merge(merge(rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18), v[0]),
                                         v[1]),
                                   v[2]),
                             v[3])
                     : seed_ + P5;
    h += total_;
    const uint8_t* p = pending_;
    uint64_t n = pending_len_;
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

void Xxh64::stripe(const uint8_t* p) {
    for (int i = 0; i < 4; ++i) lanes_[i] = round(lanes_[i], read64(p + 8 * i));
}

uint64_t xxh64(const void* data, size_t size, uint64_t seed) {
    Xxh64 h(seed);
    h.update(data, size);
    return h.digest();
}

}  // namespace dtrack
