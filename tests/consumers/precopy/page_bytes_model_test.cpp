// The simulation's bytes per page (dtrack/precopy/page_bytes_model.hpp):
// its figures are what the real compressors make of dtvm-like pages, the
// cache's share follows the rounds, and a simulated migration of a guest
// whose writes change 8 bytes sends far less with deltas and zstd.
#include "dtrack/precopy/page_bytes_model.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "consumers/precopy/batch_compression.hpp"
#include "dtrack/precopy/guest_model.hpp"
#include "dtrack/precopy/simulation.hpp"
#include "dtrack/precopy/wire_format.hpp"

using namespace dtrack;
using namespace dtrack::precopy;

namespace {

constexpr uint64_t page_size = 4096;
constexpr uint32_t batch = 64;

// Per page, what one 64-page batch of dtvm's pages written `n` bytes (one
// vCPU's stamp, then n - 8 random bytes, zeros elsewhere) takes on the wire,
// whole or as deltas against zero pages.
double measured(Compression method, uint32_t n, bool deltas, std::mt19937_64& rng) {
    std::vector<uint8_t> pages(batch * page_size, 0), zeros(page_size, 0);
    const uint64_t stamp = 77 << 8 | 1;  // epoch 77, vCPU 1 (tools/dtvm/guest/guest_abi.hpp)
    for (uint32_t p = 0; p < batch; ++p) {
        std::memcpy(&pages[p * page_size], &stamp, sizeof stamp);
        for (uint32_t i = 8; i < n; ++i) pages[p * page_size + i] = uint8_t(1 + rng() % 255);
    }
    const auto compressor = make_batch_compressor(method, 1);
    wire::PageBatchBuilder b(page_size, batch);
    b.start(0);
    for (uint32_t p = 0; p < batch; ++p) b.add(p, pages.data() + p * page_size, deltas ? zeros.data() : nullptr);
    return double(b.finish(compressor.get()).size()) / batch;
}

}  // namespace

TEST(PageBytesModel, ItsFiguresAreWhatTheCompressorsMakeOfDtvmLikePages) {
    std::mt19937_64 rng(24);
    for (Compression method : {Compression::none, Compression::zlib, Compression::zstd}) {
        for (uint32_t n : {8u, 64u, 256u, 1024u, 4096u}) {
            SCOPED_TRACE(std::string(to_string(method)) + ", " + std::to_string(n) + " bytes written");
            const PageBytesModel model(
                {.compression = method, .xbzrle_cache_bytes = 256 * (page_size + 8), .write_bytes = n}, page_size, 1024,
                batch);
            const PageBytes whole = model.cost(batch, 0, 1), deltas = model.cost(batch, 0, 2);
            EXPECT_NEAR(whole.wire_bytes / batch, measured(method, n, false, rng), 6 + 0.03 * n);
            if (n < 4096) {
                EXPECT_EQ(deltas.delta_pages, 256.0 / 1024 * batch) << "a quarter of the guest is cached";
                const double delta = model.delta_page_bytes() + double(wire::record_header_bytes + 4) / batch;
                EXPECT_NEAR(delta, measured(method, n, true, rng), 6 + 0.03 * n);
            } else {
                EXPECT_EQ(deltas.delta_pages, 0) << "a whole page rewritten goes whole";
            }
        }
    }
}

TEST(PageBytesModel, WithoutCompressionOrCacheAPageCostsWhatTheWireFormatSays) {
    const PageBytesModel model({}, page_size, 1000, batch);
    EXPECT_FALSE(model.shrinks_pages());
    const PageBytes b = model.cost(10, 2, 3);
    EXPECT_DOUBLE_EQ(b.wire_bytes, 8 * (8.0 + page_size) + 2 * 8.0 + 10 * 24.0 / batch);
    EXPECT_EQ(b.delta_pages, 0);
}

TEST(PageBytesModel, TheCacheHoldsAShareOfTheGuestInRound2AndTheLastRoundsPagesAfter) {
    // 1000 slots of a 4000-page guest.
    PageBytesModel model({.xbzrle_cache_bytes = 1000 * (page_size + 8), .write_bytes = 8}, page_size, 4000, batch);
    EXPECT_TRUE(model.shrinks_pages());
    EXPECT_EQ(model.cache_share(1), 0);
    EXPECT_DOUBLE_EQ(model.cache_share(2), 0.25);
    model.round_done(500);
    EXPECT_DOUBLE_EQ(model.cache_share(3), 1.0);
    model.round_done(4000);
    EXPECT_DOUBLE_EQ(model.cache_share(4), 0.25);
}

TEST(PageBytesModel, ASimulatedMigrationOf8ByteWritesSendsFarLessWithDeltasAndZstd) {
    GuestModel m;
    m.memory_bytes = 4ULL << 30;
    m.working_set_bytes = 512ULL << 20;
    m.rate = 200.0 * (1 << 20);
    m.vcpus = 2;
    auto run = [&](PageBytesOptions bytes) {
        ModelGuest guest(m);
        return simulate_precopy(guest, {.bandwidth = 100ULL << 20, .auto_converge = true, .page_bytes = bytes});
    };
    const SimulationResult plain = run({.write_bytes = 8});
    const SimulationResult less =
        run({.compression = Compression::zstd, .xbzrle_cache_bytes = 1ULL << 30, .write_bytes = 8});
    ASSERT_TRUE(less.converged()) << less.why;
    EXPECT_GT(less.delta_pages_sent, 0);
    EXPECT_LT(less.bytes_on_wire, plain.bytes_on_wire / 4);
    // Whole-page writes gain nothing from either.
    const SimulationResult whole =
        run({.compression = Compression::zstd, .xbzrle_cache_bytes = 1ULL << 30, .write_bytes = 4096});
    EXPECT_EQ(whole.delta_pages_sent, 0);
    EXPECT_NEAR(whole.bytes_on_wire, plain.bytes_on_wire, 0.05 * plain.bytes_on_wire);
}
