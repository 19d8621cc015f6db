// The simulation's bytes per page (dtrack/precopy/page_bytes_model.hpp).
#include "dtrack/precopy/page_bytes_model.hpp"

#include <algorithm>
#include <limits>

#include "dtrack/precopy/wire_format.hpp"

namespace dtrack::precopy {

namespace {

// Measured on 64-page batches of dtvm's pages, one stamp and N - 8 random
// bytes in zeros (N = 8 .. 4096), per page: a whole page compresses to its
// N - 8 random bytes plus this, a delta to them plus the second figure, an
// all-zero entry to the third. zstd levels 1 and 3 differ by under 2 bytes
// a page here.
struct Overheads {
    double whole, delta, zero;
};
Overheads overheads(Compression method) {
    switch (method) {
        case Compression::zlib: return {28, 4, 1.9};
        case Compression::zstd: return {9, 3, 2.7};
        case Compression::none: break;
    }
    return {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(), 8};
}

// A delta of one changed run of n bytes: two varints and the bytes.
double delta_bytes(double n) { return n + 2 + (n >= 128 ? 1 : 0) + (n >= 16384 ? 1 : 0); }

// What compression cannot squeeze out of a page write of n bytes: all but
// the stamp, which every page of the batch repeats.
double random_bytes(double n) { return std::max(0.0, n - 8); }

}  // namespace

PageBytesModel::PageBytesModel(const PageBytesOptions& options, uint64_t page_size, uint64_t guest_pages,
                               uint32_t batch_pages)
    : o_(options),
      page_size_(page_size),
      guest_pages_(std::max<uint64_t>(guest_pages, 1)),
      batch_pages_(std::max<uint32_t>(batch_pages, 1)) {
    if (o_.xbzrle_cache_bytes)
        slots_ = double(std::clamp<uint64_t>(o_.xbzrle_cache_bytes / (page_size_ + 8), 1, guest_pages_));
}

double PageBytesModel::whole_page_bytes() const {
    const double raw = 8.0 + double(page_size_);
    const double changed = std::min<double>(o_.write_bytes, double(page_size_));
    return std::min(raw, random_bytes(changed) + overheads(o_.compression).whole);
}

double PageBytesModel::delta_page_bytes() const {
    const double changed = std::min<double>(o_.write_bytes, double(page_size_));
    const double delta = delta_bytes(changed);
    if (delta > double(wire::delta_send_limit(page_size_))) return std::numeric_limits<double>::infinity();
    return std::min(12.0 + delta, random_bytes(changed) + overheads(o_.compression).delta);
}

double PageBytesModel::zero_page_bytes() const { return overheads(o_.compression).zero; }

double PageBytesModel::cache_share(uint64_t round) const {
    if (slots_ == 0 || round < 2) return 0;
    const double held_from = round == 2 ? double(guest_pages_) : std::max(last_round_pages_, 1.0);
    return std::min(1.0, slots_ / held_from);
}

PageBytes PageBytesModel::cost(double pages, double zero_pages, uint64_t round) const {
    const double data = std::max(0.0, pages - zero_pages);
    const double delta = delta_page_bytes();
    const double deltas = delta < whole_page_bytes() ? data * cache_share(round) : 0;
    // Record headers (and a compressed batch's length) spread over the batch.
    const double per_entry =
        double(wire::record_header_bytes + (o_.compression != Compression::none ? 4 : 0)) / double(batch_pages_);
    PageBytes b;
    b.delta_pages = deltas;
    b.wire_bytes = (data - deltas) * whole_page_bytes() + (deltas > 0 ? deltas * delta : 0) +
                   zero_pages * zero_page_bytes() + pages * per_entry;
    return b;
}

}  // namespace dtrack::precopy
