// XXH64 against known answers (computed with libxxhash 0.8.1 over xxHash's
// own sanity buffer), whole and fed in pieces.
#include <gtest/gtest.h>

#include <vector>

#include "dtrack/hash.hpp"

using namespace dtrack;

namespace {

// xxHash's sanity-test buffer: the top byte of successive powers.
std::vector<uint8_t> sanity_buffer(size_t n) {
    std::vector<uint8_t> b(n);
    uint64_t gen = 2654435761U;
    for (auto& byte : b) {
        byte = static_cast<uint8_t>(gen >> 56);
        gen *= 11400714785074694797ULL;
    }
    return b;
}

struct Known {
    size_t size;
    uint64_t seed;
    uint64_t hash;
};

constexpr uint64_t prime32 = 2654435761U;
constexpr Known known[] = {
    {0, 0, 0xef46db3751d8e999},    {0, prime32, 0xac75fda2929b17ef},   {1, 0, 0xe934a84adb052768},
    {1, prime32, 0x5014607643a9b4c3}, {4, 0, 0x9136a0dca57457ee},    {14, 0, 0x8282dcc4994e35c8},
    {14, prime32, 0xc3bd6bf63deb6df0}, {32, 0, 0x18b216492bb44b70},  {222, 0, 0xb641ae8cb691c174},
    {222, prime32, 0x20cb8ab7ae10c14a}, {4096, 0, 0xab77f4af85f4e70b}, {4096, prime32, 0xcb8b60cba513125d},
    {4103, 0, 0xaaafa9b492392879},   {4103, prime32, 0x380ae91cc372f32f},
};

TEST(Xxh64, MatchesKnownAnswers) {
    const std::vector<uint8_t> buf = sanity_buffer(4103);
    for (const Known& k : known) EXPECT_EQ(xxh64(buf.data(), k.size, k.seed), k.hash) << k.size << " bytes";
}

TEST(Xxh64, PiecesGiveTheSameDigest) {
    const std::vector<uint8_t> buf = sanity_buffer(4103);
    for (const Known& k : known) {
        for (size_t piece : {1, 3, 31, 33, 1000}) {
            Xxh64 h(k.seed);
            for (size_t at = 0; at < k.size; at += piece) h.update(buf.data() + at, std::min(piece, k.size - at));
            EXPECT_EQ(h.digest(), k.hash) << k.size << " bytes in pieces of " << piece;
        }
    }
}

}  // namespace
