#include "consumers/precopy/token_bucket.hpp"

#include <algorithm>

namespace dtrack::precopy {

TokenBucket::TokenBucket(uint64_t bytes_per_second)
    : rate_(std::max<uint64_t>(bytes_per_second, 1)),
      burst_(std::max<uint64_t>(rate_ / 20, 4096)),
      tokens_(static_cast<double>(burst_)),
      last_(clock::now()) {}

std::chrono::nanoseconds TokenBucket::reserve(uint64_t bytes) {
    const clock::time_point now = clock::now();
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(tokens_ + elapsed * static_cast<double>(rate_), static_cast<double>(burst_));
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ >= 0) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds(static_cast<int64_t>(-tokens_ / static_cast<double>(rate_) * 1e9) + 1);
}

}  // namespace dtrack::precopy
