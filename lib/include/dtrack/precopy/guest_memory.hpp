// GuestMemory: where page contents live on each side of a precopy migration.
//
// One entry per tracker region. The sender reads pages from `host`; the
// receiver writes them there. Both sides must describe the same layout
// (region ids, guest-physical bases, page counts, page size), else the
// receiver refuses the stream before writing anything.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>

#include "dtrack/error.hpp"
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

// What both sides require of their memory list, before any byte moves: at
// least one region, each listed once, with a host address and fewer than
// the wire's maximum pages, all of one page size (a power of two the wire
// carries). An Error (EINVAL) names the entry and its field: "bad guest
// memory: memory[1] (region 3): page_size 1000 differs from memory[0]'s 4096".
Status check_guest_memory(std::span<const GuestMemory> memory);

// The digest carried by the END record (wire_format.hpp, version 2): each
// region, in list order, cut into pieces of digest_piece_bytes (a region's
// last piece may be shorter); the XXH3 (64-bit, seed 0) of every piece, as
// u64 little-endian in that order; and the XXH3 of those hashes. Pieces let
// `threads` threads hash at once (0: one per CPU this process may use, at
// most 8); the value does not depend on how many.
inline constexpr uint64_t digest_piece_bytes = 4ULL << 20;
uint64_t memory_digest(std::span<const GuestMemory> memory, unsigned threads = 0);

// How long memory_digest() of all of `memory` will take: one thread hashes
// its first piece (at most digest_piece_bytes, about a millisecond), and the
// digest runs that pace on as many threads as it will use (the CPUs this
// process may run on, at most 8). The switchover's cost beyond its pages,
// which the downtime estimate counts.
std::chrono::nanoseconds estimated_digest_time(std::span<const GuestMemory> memory);
// The same from the `piece`-th piece of all memory (counted through the
// regions, wrapping around): samples taken from different pieces are not
// served from the cache the previous one filled.
std::chrono::nanoseconds estimated_digest_time(std::span<const GuestMemory> memory, uint64_t piece);

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
