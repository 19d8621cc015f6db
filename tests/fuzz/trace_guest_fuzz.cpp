// libFuzzer target: any recording replayed by dtrack simulate --trace
// (TraceGuest, lib/consumers/precopy/trace_guest.cpp) in a simulated migration with
// auto-converge and the background sync, within the limits --max-memory 64M
// gives it: a verdict, or an error that says why, never a crash, a hang
// (-timeout) or more memory than -rss_limit_mb. The structure-aware mutator
// gets mutated intervals past the reader's CRCs.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "dtrack/precopy/simulation.hpp"
#include "dtrack/precopy/trace_guest.hpp"
#include "dtrack/recording.hpp"
#include "recording_mutator.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace std::chrono_literals;
    namespace precopy = dtrack::precopy;
    constexpr uint64_t max_memory = 64 << 20;
    auto reader = dtrack::recording::Reader::from_bytes(std::vector<uint8_t>(data, data + size),
                                                        {.interval_bytes = max_memory / 8});
    if (!reader) return 0;
    auto source = precopy::recording_trace(std::move(*reader), "fuzz input");
    auto guest = precopy::TraceGuest::open(*source, {.max_bitmap_bytes = max_memory / 2});
    if (!guest) {
        if (guest.error().what.empty()) std::abort();
        return 0;
    }
    // Two simulated minutes: rounds, syncs of both kinds and throttle steps
    // for the small guests the fuzzer makes, in bounded time for the large.
    constexpr double bandwidth = 256 << 20;
    const precopy::SimulationResult r = precopy::simulate_precopy(
        **guest, {.bandwidth = uint64_t(bandwidth), .auto_converge = true, .background_sync = 4s, .max_time = 2min});
    if (!r.converged() && r.why.empty()) std::abort();
    // The sender stops at max-time between chunks (16 MiB, or one page if larger).
    const double chunk = std::max(16.0 * (1 << 20), double((*guest)->page_size())) * 1.01;
    if (r.total_s > 120 + chunk / bandwidth || r.pages_sent < 0 || r.bytes_on_wire < 0) std::abort();
    return 0;
}
