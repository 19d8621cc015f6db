// TokenBucket: the sender's bandwidth cap.
//
// Tokens (bytes) refill at `rate` per second up to a burst of 50 ms worth.
// Before sending n bytes the sender asks how long to wait; the bucket may go
// into debt for that long, so over any interval t no more than
// burst + rate * t bytes leave.
#pragma once

#include <chrono>
#include <cstdint>

namespace dtrack::precopy {

class TokenBucket {
public:
    using clock = std::chrono::steady_clock;

    explicit TokenBucket(uint64_t bytes_per_second);

    // Takes `bytes` tokens and returns how long to wait before sending them.
    std::chrono::nanoseconds reserve(uint64_t bytes);
    // The largest piece worth reserving at once (keeps sending smooth).
    uint64_t burst() const { return burst_; }
    uint64_t rate() const { return rate_; }

private:
    uint64_t rate_;
    uint64_t burst_;
    double tokens_;
    clock::time_point last_;
};

}  // namespace dtrack::precopy
