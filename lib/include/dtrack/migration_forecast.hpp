// A forecast of a precopy migration from measured dirty rates.
//
// The model is the sender's own loop: round 1 copies all memory at the
// bandwidth; each later round copies what was dirtied while the previous one
// ran, which is the dirty rate times that round's length, but never more
// than the working set. It converges when a round's copy fits in the
// downtime limit; it cannot when the rounds stop shrinking (the guest dirties
// at least as fast as the link carries, and the working set does not fit in
// the downtime), and then only throttling (auto-converge) helps.
//
// What it sends is what its rounds copy: every byte of memory once, then each
// round's dirtied bytes again. Divided by the memory it is the bytes sent per
// byte of guest memory, 1 for an idle guest. It counts page contents at the
// bandwidth and nothing else: no wire headers, no zero-page flags, no
// compression or delta, so a real migration of a guest with zero pages sends
// less and one of a busy guest a little more (8 bytes a page of headers).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

struct ForecastInput {
    uint64_t memory_bytes = 0;       // everything round 1 copies
    uint64_t working_set_bytes = 0;  // the most a later round can carry
    double dirty_bytes_per_s = 0;    // distinct bytes dirtied per second
    double bandwidth = 0;            // bytes/s
    std::chrono::milliseconds downtime{300};
};

struct Forecast {
    bool converges = false;
    int rounds = 0;                    // including the final (stop-and-copy) one
    double total_s = 0;                // until switchover ends
    double downtime_s = 0;             // of the final round
    double bandwidth_to_converge = 0;  // bytes/s that would be enough (= bandwidth when it converges)
    // Converging: every round's copy added up, and that over memory_bytes.
    // 0 when it does not converge (without a throttle it would send for ever).
    double bytes_sent = 0;
    double bytes_per_guest_byte = 0;
    std::string summary;  // one line for people
};

Forecast forecast_precopy(const ForecastInput& in);

}  // namespace dtrack

DTRACK_PUBLIC_END
