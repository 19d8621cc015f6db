// The guest program (guest.S), linked into dtvm as bytes.
#pragma once

#include <cstdint>
#include <span>

#include "dtrack/error.hpp"

namespace dtvm {

// The guest's code, to be copied to GuestLayout::kCodeGpa.
std::span<const uint8_t> guest_code();

// Fails when guest.S and guest_abi.hpp disagree on an offset or constant
// (someone changed one and not the other).
dtrack::Status check_guest_abi();

}  // namespace dtvm
