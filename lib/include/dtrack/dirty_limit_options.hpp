// The dirty limit's period as people type it, read alike by dtvm
// (--dirty-limit-period) and dtrack simulate. Its quota is a rate like any
// other: parse_pages_per_second() (units.hpp).
#pragma once

#include <chrono>
#include <string>

#include "dtrack/error.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

// The period the limit measures and adjusts over: 1 ms to 1 s, as QEMU's
// x-vcpu-dirty-limit-period.
Result<std::chrono::milliseconds> parse_dirty_limit_period(const std::string& text,
                                                           const std::string& option = "--dirty-limit-period");

}  // namespace dtrack

DTRACK_PUBLIC_END
