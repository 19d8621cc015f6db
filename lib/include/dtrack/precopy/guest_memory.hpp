// GuestMemory: where page contents live on each side of a precopy migration.
//
// One entry per tracker region. The sender reads pages from `host`; the
// receiver writes them there. Both sides must describe the same layout
// (region ids, guest-physical bases, page counts, page size), else the
// receiver refuses the stream before writing anything.
#pragma once

#include <cstdint>
#include <span>

#include "dtrack/region.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {

struct GuestMemory {
    RegionId region = 0;      // the tracker's RegionId (the sender takes dirty bits from it)
    uint8_t* host = nullptr;  // first byte of the region in this process
    uint64_t pages = 0;
    uint64_t page_size = 4096;
    // Guest-physical base: the sender announces it, the receiver compares it
    // with its own. Not the tracker region's base, which may be a host
    // address (a VMM that tracks its RAM with UffdSource).
    uint64_t base = 0;

    uint64_t bytes() const { return pages * page_size; }
    uint8_t* page(uint64_t index) const { return host + index * page_size; }
};

// The digest carried by the END record (wire_format.hpp): XXH64, seed 0, over
// the bytes of every region in list order, as if they were one buffer.
uint64_t memory_digest(std::span<const GuestMemory> memory);

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
