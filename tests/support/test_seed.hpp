// The seed of a test that depends on chance: DTRACK_SEED=N replays a run or
// tries another seed; without it, `otherwise` (a fixed seed, or a fresh one
// for a test that explores). The test prints it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace dtrack_test {

inline uint64_t test_seed(uint64_t otherwise) {
    const char* s = std::getenv("DTRACK_SEED");
    const uint64_t seed = s ? std::strtoull(s, nullptr, 0) : otherwise;
    std::printf("  seed %llu (replay: DTRACK_SEED=%llu)\n", (unsigned long long)seed, (unsigned long long)seed);
    return seed;
}

}  // namespace dtrack_test
