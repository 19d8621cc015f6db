// Page deltas (consumers/precopy/page_delta.hpp): every change round-trips,
// a delta that does not pay is not made, and the decoder refuses every
// malformed delta with its reason, leaving the page untouched.
#include "consumers/precopy/page_delta.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "dtrack/precopy/wire_format.hpp"
#include "support/test_seed.hpp"

using namespace dtrack;
using namespace dtrack::precopy;

namespace {

using Page = std::vector<uint8_t>;

// The page after one of many kinds of change, each drawn from `rng`.
Page changed(const Page& before, std::mt19937_64& rng) {
    Page now = before;
    const size_t n = now.size();
    auto offset = [&](size_t room) { return rng() % (n - std::min(room, n - 1)); };
    switch (rng() % 9) {
        case 0: break;                                              // rewritten with the same bytes
        case 1: now[offset(1)] ^= uint8_t(1 + rng() % 255); break;  // one byte
        case 2: {                                                   // an 8-byte stamp, as dtvm's guest writes
            const size_t at = offset(8) & ~size_t{7};
            for (size_t i = 0; i < 8; ++i) now[at + i] = uint8_t(rng());
            break;
        }
        case 3:  // scattered bytes, some of them next to each other
            for (int k = 0, m = int(1 + rng() % 64); k < m; ++k) now[offset(1)] = uint8_t(rng());
            break;
        case 4: {  // a run of random length
            const size_t len = 1 + rng() % n, at = offset(len);
            for (size_t i = at; i < std::min(n, at + len); ++i) now[i] = uint8_t(rng());
            break;
        }
        case 5:  // every other byte or every third: gaps too short to split a run
            for (size_t i = rng() % 3, step = 2 + rng() % 2; i < n; i += step) now[i] ^= 0x5a;
            break;
        case 6:  // the first and the last byte
            now.front() ^= 1;
            now.back() ^= 0x80;
            break;
        case 7:  // everything
            for (uint8_t& b : now) b = uint8_t(rng());
            break;
        case 8:  // zeros over a stretch (a page partly cleared)
            std::fill_n(now.begin() + long(offset(64)), std::min<size_t>(64, n), uint8_t{0});
            break;
    }
    return now;
}

Page random_page(size_t n, std::mt19937_64& rng, int kind) {
    Page p(n, 0);
    if (kind == 1)
        for (uint8_t& b : p) b = uint8_t(rng());
    if (kind == 2)
        for (size_t i = 0; i < n; ++i) p[i] = uint8_t(i / 16);
    return p;
}

std::string hex(const std::vector<uint8_t>& bytes) {
    std::string s;
    char buf[4];
    for (uint8_t b : bytes) {
        std::snprintf(buf, sizeof buf, "%02x ", b);
        s += buf;
    }
    return s;
}

}  // namespace

TEST(PageDelta, SeededRandomChangesOfManyShapesRoundTrip) {
    std::mt19937_64 rng(dtrack_test::test_seed(24));
    for (size_t page_size : {size_t{64}, size_t{4096}, size_t{65536}}) {
        int deltas = 0, too_big = 0;
        const int changes = page_size > 4096 ? 300 : 3000;
        for (int i = 0; i < changes; ++i) {
            const Page before = random_page(page_size, rng, int(rng() % 3)), now = changed(before, rng);
            Page out(page_size);  // a limit of the whole page: every change but the largest fits
            const auto length = delta::encode(before, now, out);
            if (!length) {
                ++too_big;
                continue;
            }
            ++deltas;
            const std::span<const uint8_t> d(out.data(), *length);
            ASSERT_TRUE(delta::check(d, page_size)) << "page size " << page_size << ", case " << i;
            Page copy = before;
            ASSERT_TRUE(delta::apply(d, copy));
            ASSERT_TRUE(copy == now) << "page size " << page_size << ", case " << i << ": the delta did not rebuild it";
        }
        EXPECT_GT(deltas, changes / 2) << page_size;
        EXPECT_GT(too_big, 0) << page_size << ": no change was too big for a delta";
    }
}

TEST(PageDelta, AnUnchangedPageIsAnEmptyDeltaAndAStampIsAFewBytes) {
    Page before(4096, 0), out(4096);
    EXPECT_EQ(delta::encode(before, before, out), size_t{0});
    Page now = before;
    for (int i = 0; i < 8; ++i) now[1000 + i] = uint8_t(0xa0 + i);
    // Unchanged 1000 (2 bytes), changed 8 (1 byte), the 8 bytes.
    EXPECT_EQ(delta::encode(before, now, out), size_t{11});
    EXPECT_EQ(hex({out.begin(), out.begin() + 3}), "e8 07 08 ");
}

TEST(PageDelta, ADeltaNotSmallerThanTheLimitIsNotMadeAndThePageGoesWhole) {
    std::mt19937_64 rng(dtrack_test::test_seed(7));
    const Page before = random_page(4096, rng, 1);
    Page now = before;
    for (size_t i = 0; i < 4096; i += 2) now[i] = uint8_t(~now[i]);  // half the bytes: a delta of 4096+ bytes
    Page out(dtrack::precopy::wire::delta_send_limit(4096));
    EXPECT_EQ(delta::encode(before, now, out), std::nullopt);

    // In a batch: the same page with a cached copy goes whole, a stamped one as a delta.
    wire::PageBatchBuilder batch(4096, 4);
    batch.start(0);
    EXPECT_EQ(batch.add(0, now.data(), before.data()), wire::EntryKind::whole);
    Page stamped = before;
    stamped[8] ^= 0xff;
    EXPECT_EQ(batch.add(1, stamped.data(), before.data()), wire::EntryKind::delta);
    EXPECT_EQ(batch.delta_pages(), 1u);
    // Whole page: 8 + 4096; delta: 8 + 4 + 3.
    EXPECT_EQ(batch.finish().size(), wire::record_header_bytes + 8 + 4096 + 8 + 4 + 3);
}

TEST(PageDelta, MalformedDeltasAreRefusedWithTheirReasonAndChangeNothing) {
    struct Case {
        std::vector<uint8_t> delta;
        const char* reason;
    } cases[] = {
        {{0x00, 0x41}, "at byte 1: the changed run length 65 exceeds the page of 64 bytes"},
        {{0x3c, 0x05, 1, 2, 3, 4, 5}, "at byte 0: the runs reach byte 65, beyond the page of 64 bytes"},
        {{0x00, 0x02, 1, 2, 0x3e, 0x01, 9}, "at byte 4: the runs reach byte 65, beyond the page of 64 bytes"},
        {{0x80}, "at byte 0: the unchanged run length is cut off (truncated varint)"},
        {{0x00, 0x81}, "at byte 1: the changed run length is cut off (truncated varint)"},
        {{0x81, 0x80, 0x80, 0x80, 0x00},
         "at byte 0: the unchanged run length is longer than 4 bytes (overlong varint)"},
        {{0x81, 0x00, 0x01, 7}, "at byte 0: the unchanged run length is not in its shortest form (overlong varint)"},
        {{0x00, 0x01, 7, 0x05}, "at byte 3: trailing bytes: an unchanged run with no changed run after it"},
        {{0x00, 0x00}, "at byte 1: an empty changed run"},
        {{0x00, 0x01, 7, 0x00, 0x01, 8}, "at byte 3: an empty unchanged run between two changed runs"},
        {{0x02, 0x04, 1, 2}, "at byte 2: the changed run of 4 bytes has only 2 (truncated)"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(hex(c.delta));
        Page page(64, 0xee);
        const Status checked = delta::check(c.delta, 64);
        ASSERT_FALSE(checked);
        EXPECT_NE(checked.error().what.find(c.reason), std::string::npos) << checked.error().what;
        EXPECT_EQ(checked.error().what.rfind("malformed page delta ", 0), 0u) << checked.error().what;
        EXPECT_FALSE(delta::apply(c.delta, page));
        EXPECT_TRUE(std::all_of(page.begin(), page.end(), [](uint8_t b) { return b == 0xee; }))
            << "a refused delta wrote the page";
    }
    // The edges that are fine: a changed run that ends at the last byte, and an empty delta.
    Page page(64, 0);
    EXPECT_TRUE(delta::apply(std::vector<uint8_t>{0x3f, 0x01, 9}, page));
    EXPECT_EQ(page[63], 9);
    EXPECT_TRUE(delta::apply({}, page));
}
