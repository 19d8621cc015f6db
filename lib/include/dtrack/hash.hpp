// XXH64: xxHash's 64-bit hash. A published, widely implemented hash
// (`xxhsum -H1` prints the same value for the same bytes) that runs at memory
// speed. dtrack uses it where speed matters and no attacker chooses the
// bytes: the precopy END digest and SampleSource's page hashes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dtrack {

// XXH64 of one buffer.
uint64_t xxh64(const void* data, size_t size, uint64_t seed = 0);

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
