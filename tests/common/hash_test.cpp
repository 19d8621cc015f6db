// XXH3 (64-bit, seed 0) against xxHash's own known answers (its sanity
// check's buffer and lengths, which straddle every length branch of XXH3),
// so a libxxhash that hashed otherwise, or a wrapper that passed the wrong
// bytes, is caught.
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
    uint64_t hash;
};

constexpr Known known[] = {
    {0, 0x2D06800538D394C2},    {1, 0xC44BDFF4074EECDB},    {6, 0x27B56A84CD2D7325},    {12, 0xA713DAF0DFBB77E7},
    {24, 0xA3FE70BF9D3510EB},   {48, 0x397DA259ECBA1F11},   {80, 0xBCDEFBBB2C47C90A},   {195, 0xCD94217EE362EC3A},
    {403, 0xCDEB804D65C6DEA4},  {512, 0x617E49599013CB6B},  {2048, 0xDD59E2C3A5F038E0}, {2099, 0xC6B9D9B3FC9AC765},
    {2240, 0x6E73A90539CF2948}, {2367, 0xCB37AEB9E5D361ED},
};

TEST(Xxh3, MatchesXxhashsKnownAnswers) {
    const std::vector<uint8_t> buf = sanity_buffer(2367);
    for (const Known& k : known) EXPECT_EQ(xxh3_64(buf.data(), k.size), k.hash) << k.size << " bytes";
}

TEST(Xxh3, APageHashDependsOnEveryByte) {
    std::vector<uint8_t> page = sanity_buffer(4096);
    const uint64_t before = xxh3_64(page.data(), page.size());
    for (size_t at : {0, 1, 63, 64, 2048, 4095}) {
        page[at] ^= 1;
        EXPECT_NE(xxh3_64(page.data(), page.size()), before) << "byte " << at;
        page[at] ^= 1;
    }
    EXPECT_EQ(xxh3_64(page.data(), page.size()), before);
}

}  // namespace
