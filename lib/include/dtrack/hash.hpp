// XXH3, 64-bit: xxHash's fast hash, from Debian's libxxhash (`xxhsum -H3`
// prints the same value for the same bytes). It runs at memory speed, which
// is what dtrack needs where no attacker chooses the bytes: SampleSource's
// page hashes and the precopy END digest. The header keeps xxhash.h out, so
// an installed tree compiles without libxxhash-dev.
#pragma once

#include <cstddef>
#include <cstdint>
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

// XXH3_64bits of one buffer (seed 0).
uint64_t xxh3_64(const void* data, size_t size);

// SplitMix64's finalizer: a well-mixed 64-bit function of a 64-bit value,
// for seeds and for picking a random-looking subset by key (sample
// membership by page address).
inline uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace dtrack

DTRACK_PUBLIC_END
