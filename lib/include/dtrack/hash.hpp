// XXH64: xxHash's 64-bit hash. A published, widely implemented hash
// (`xxhsum -H1` prints the same value for the same bytes) that runs at memory
// speed. dtrack uses it where speed matters and no attacker chooses the
// bytes: the precopy END digest and SampleSource's page hashes.
#pragma once

#include <cstddef>
#include <cstdint>
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

// XXH64 of one buffer.
uint64_t xxh64(const void* data, size_t size, uint64_t seed = 0);

// SplitMix64's finalizer: a well-mixed 64-bit function of a 64-bit value,
// for seeds and for picking a random-looking subset by key (sample
// membership by page address).
inline uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// XXH64 fed in pieces: the digest equals xxh64() of the concatenation.
class Xxh64 {
public:
    explicit Xxh64(uint64_t seed = 0);
    void update(const void* data, size_t size);
    uint64_t digest() const;

private:
    void stripe(const uint8_t* p);

    uint64_t seed_;
    uint64_t lanes_[4];     // the four accumulators, one per 8-byte lane of a 32-byte stripe
    uint64_t total_ = 0;    // bytes fed so far
    uint8_t pending_[32];   // a partial stripe waiting for the next piece
    uint64_t pending_len_ = 0;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
