// Page deltas: a re-sent page as the runs that changed since the copy the
// receiver already holds (XBZRLE-class; the idea is QEMU's, this code is
// dtrack's).
//
// A delta is a sequence of pairs, each
//   varint  unchanged run: bytes to leave as they are (0 only in the first pair)
//   varint  changed run: 1 or more bytes, which follow as they are now
//   bytes   the changed run's contents
// Varints are unsigned LEB128 (7 bits a byte, low bits first) in their
// shortest form, at most 4 bytes (pages are at most 2 MiB). Bytes after the
// last changed run are unchanged; an empty delta is an unchanged page. The
// runs may not reach past the page.
//
// Pure functions: no allocation, no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "dtrack/error.hpp"

namespace dtrack::precopy::delta {

// Unchanged stretches shorter than this stay inside a changed run: a new
// pair costs two varints, so splitting for 1 or 2 bytes saves nothing.
inline constexpr size_t min_unchanged_run = 3;

// The delta that turns `before` into `now` (both one page), written to
// `out`; nullopt when it would need more than out.size() bytes (the page
// then goes whole). Stops as soon as the delta outgrows `out`.
std::optional<size_t> encode(std::span<const uint8_t> before, std::span<const uint8_t> now, std::span<uint8_t> out);

// Whether `delta` is well formed for a page of `page_size` bytes; the error
// names the fault and its byte offset in the delta.
Status check(std::span<const uint8_t> delta, size_t page_size);

// Checks `delta` (as check()), then writes its changed runs into `page`;
// on an error `page` is untouched.
Status apply(std::span<const uint8_t> delta, std::span<uint8_t> page);

}  // namespace dtrack::precopy::delta
