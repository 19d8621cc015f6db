// What `dtrack simulate` charges a page on the wire once compression and the
// sent-page cache (deltas) are in play. Recordings and the analytic model
// carry no page contents, so the model assumes dtvm's pages: a page write
// changes `write_bytes` bytes of a page that is otherwise zeros, the first
// 8 its writer's stamp (the same in every page a vCPU writes in an epoch,
// so a compressed batch holds it about once) and the rest random (they do
// not compress). The figures below were measured on exactly such pages
// (64-page batches of tests/consumers/precopy/page_bytes_model_test.cpp
// check them against the real compressors).
//
// A page sent again from round 2 on goes as a delta when the cache holds it
// (and the delta is under the wire's send limit), else whole. Which pages the
// direct-mapped cache holds is modelled, not tracked: in round 2 a share
// slots / guest pages of them (round 1 left that share of the guest in it);
// from round 3 a share slots / (pages the round before sent), since the
// cache holds the last pages sent. A page sent whole compresses to its
// changed bytes and a per-method overhead; a delta to its changed bytes and
// a smaller one; neither to more than its raw size.
#pragma once

#include <cstdint>

#include "dtrack/precopy/compression.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {

struct PageBytesOptions {
    Compression compression = Compression::none;
    int compression_level = 0;
    uint64_t xbzrle_cache_bytes = 0;  // 0 = no cache: every page goes whole
    uint32_t write_bytes = 4096;      // bytes a page write changes (8..4096): 4096 = deltas gain nothing
};

// Wire bytes of the page entries a round sends.
struct PageBytes {
    double wire_bytes = 0;
    double delta_pages = 0;
};

class PageBytesModel {
public:
    PageBytesModel(const PageBytesOptions& options, uint64_t page_size, uint64_t guest_pages, uint32_t batch_pages);

    // `pages` sent in `round` (1 = the first), `zero_pages` of them all zeros.
    PageBytes cost(double pages, double zero_pages, uint64_t round) const;
    // The round is over: it sent `pages` (the next round's cache share).
    void round_done(double pages) { last_round_pages_ = pages; }

    // Whether pages may take fewer wire bytes than their size (RoundRates).
    bool shrinks_pages() const { return o_.compression != Compression::none || o_.xbzrle_cache_bytes > 0; }
    // The share of pages sent again in `round` that the cache holds.
    double cache_share(uint64_t round) const;

    // What one page costs (entry word and length included), per the figures
    // measured on dtvm-like pages: whole, as a delta, and all zeros.
    double whole_page_bytes() const;
    double delta_page_bytes() const;  // +infinity when no delta is sent (too large)
    double zero_page_bytes() const;

private:
    PageBytesOptions o_;
    uint64_t page_size_;
    uint64_t guest_pages_;
    uint32_t batch_pages_;
    double slots_ = 0;
    double last_round_pages_ = 0;
};

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
