#include "dtrack/migration_forecast.hpp"

#include "dtrack/units.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dtrack {

namespace {

constexpr int max_rounds = 1000;

std::string per_s(double bytes) { return format_bytes(bytes) + "/s"; }

}  // namespace

Forecast forecast_precopy(const ForecastInput& in) {
    Forecast f;
    const double limit = std::chrono::duration<double>(in.downtime).count();
    const double wss = double(std::min(in.working_set_bytes, in.memory_bytes));
    // Converging needs rounds that shrink (bandwidth above the dirty rate), or
    // a working set small enough to go in one stop-and-copy.
    f.bandwidth_to_converge = std::min(in.dirty_bytes_per_s * 1.05, wss / limit);
    if (in.bandwidth <= 0) {
        f.summary = "no bandwidth given";
        return f;
    }
    double round_s = double(in.memory_bytes) / in.bandwidth;  // round 1
    f.total_s = round_s;
    f.rounds = 1;
    double previous = INFINITY;
    while (f.rounds < max_rounds) {
        const double dirty = std::min(wss, in.dirty_bytes_per_s * round_s);
        const double copy_s = dirty / in.bandwidth;
        if (copy_s <= limit) {
            f.converges = true;
            f.rounds += 1;
            f.total_s += copy_s;
            f.downtime_s = copy_s;
            f.bandwidth_to_converge = in.bandwidth;
            // Every round copied at the bandwidth: what was sent is the time it took.
            f.bytes_sent = f.total_s * in.bandwidth;
            f.bytes_per_guest_byte = in.memory_bytes ? f.bytes_sent / double(in.memory_bytes) : 0;
            char buf[200];
            std::snprintf(buf, sizeof buf,
                          "converges: %d rounds, %.1f s, downtime %.0f ms, %.2f bytes sent per byte of memory",
                          f.rounds, f.total_s, copy_s * 1000, f.bytes_per_guest_byte);
            f.summary = buf;
            return f;
        }
        if (dirty >= previous) break;  // the rounds stopped shrinking
        previous = dirty;
        round_s = copy_s;
        f.total_s += copy_s;
        f.rounds += 1;
    }
    f.summary = "does not converge: the guest dirties " + per_s(in.dirty_bytes_per_s) + " against " +
                per_s(in.bandwidth) + " of bandwidth; needs auto-converge or about " + per_s(f.bandwidth_to_converge);
    return f;
}

}  // namespace dtrack
