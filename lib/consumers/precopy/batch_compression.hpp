// Compressing and inflating page-batch payloads, zlib or zstd, behind one
// small interface: the wire format (wire_format.cpp) names the method in a
// record flag and never calls either library itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "dtrack/error.hpp"
#include "dtrack/precopy/compression.hpp"

namespace dtrack::precopy {

// One method at one level, its library state kept between batches (a zstd
// context costs more to make than a batch to compress).
class BatchCompressor {
public:
    virtual ~BatchCompressor() = default;
    virtual Compression method() const = 0;
    // The most bytes compress() may write for `raw` bytes.
    virtual size_t bound(size_t raw) const = 0;
    // Compresses `raw` into `out` (at least bound() bytes); the size
    // written, or 0 when the library failed.
    virtual size_t compress(std::span<const uint8_t> raw, std::span<uint8_t> out) = 0;
};

// nullptr for Compression::none; `level` as effective_level() checked it.
std::unique_ptr<BatchCompressor> make_batch_compressor(Compression method, int level);

// The most bytes `method` may take to carry `raw` bytes.
size_t compressed_bound(Compression method, size_t raw);

// Inflates `in` into exactly out.size() bytes (the size the batch
// announced): data that wants more stops there (a bomb costs at most the
// announced size), and data that gives less is refused. Errors say which.
Status inflate(Compression method, std::span<const uint8_t> in, std::span<uint8_t> out);

}  // namespace dtrack::precopy
