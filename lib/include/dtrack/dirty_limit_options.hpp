// The dirty limit's two settings as people type them, read alike by dtvm
// (--dirty-limit, --dirty-limit-period) and dtrack simulate.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "dtrack/error.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

// A per-vCPU quota: pages/s (1000, 50k) or bytes/s (4M/s, 4MB/s) in pages of `page_size`.
Result<double> parse_dirty_limit_rate(const std::string& text, uint64_t page_size,
                                      const std::string& option = "--dirty-limit");

// The period the limit measures and adjusts over: 1 ms to 1 s, as QEMU's
// x-vcpu-dirty-limit-period.
Result<std::chrono::milliseconds> parse_dirty_limit_period(const std::string& text,
                                                           const std::string& option = "--dirty-limit-period");

}  // namespace dtrack

DTRACK_PUBLIC_END
