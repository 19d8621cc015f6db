// libFuzzer target: page deltas (consumers/precopy/page_delta.hpp) from any
// bytes. The first two bytes pick a page size (64 bytes to 64 KiB) and a
// seed for the page; the rest is the delta. check() and apply() must agree,
// a refusal must say why and leave the page untouched, and whatever apply()
// accepted must re-encode to a delta that rebuilds the same page. Under
// AddressSanitizer any read or write outside the page or the delta is a crash.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "consumers/precopy/page_delta.hpp"

namespace delta = dtrack::precopy::delta;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const size_t page_size = size_t{64} << (data[0] % 11);
    std::vector<uint8_t> page(page_size);
    for (size_t i = 0; i < page_size; ++i) page[i] = static_cast<uint8_t>(data[1] * (i + 1) >> 3);
    const std::vector<uint8_t> before = page;
    // Exactly the delta's bytes on the heap, so a read past them is caught.
    const std::vector<uint8_t> d(data + 2, data + size);

    const bool well_formed = delta::check(d, page_size).ok();
    const dtrack::Status applied = delta::apply(d, page);
    if (applied.ok() != well_formed) std::abort();
    if (!applied.ok()) {
        if (applied.error().what.empty() || page != before) std::abort();
        return 0;
    }
    std::vector<uint8_t> out(page_size + 64);
    const auto length = delta::encode(before, page, out);
    if (length) {
        std::vector<uint8_t> again = before;
        if (!delta::apply({out.data(), *length}, again).ok() || again != page) std::abort();
    }
    return 0;
}
