// A recording's header for replay tests: one region of `pages` 4 KiB pages,
// intervals of a second.
#pragma once

#include <cstdint>

#include "dtrack/recording.hpp"

namespace dtrack::test {

inline recording::Header one_region(uint64_t pages) {
    recording::Header h;
    h.method = "test";
    h.interval_ns = 1'000'000'000;
    h.regions.push_back(Region{.name = "ram", .space = AddressSpace::host_virtual, .page_count = pages});
    return h;
}

}  // namespace dtrack::test
