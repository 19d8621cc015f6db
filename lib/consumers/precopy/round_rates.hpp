// RoundRates: the precopy sender's switchover decision, apart from its I/O.
//
// After every round the sender records what the round sent (wire bytes,
// pages, zero pages, time). The rates behind the decision are measured over
// what was sent: the last round when it lasted long enough to mean something
// (100 ms), else all rounds so far; the rate of page contents, the slower of
// the last two such rounds after round 1 (which sends every page, zero and
// cold ones, and is like no other), so that one round of cheap pages (deltas that
// paid) does not set the pace of a final round that carries the hot pages
// deferral kept back (a final round of 1,958 pages took 309 ms where one
// round's rate said 270). The estimated downtime is the remaining
// dirty bytes over the rate at which page contents moved, plus what the
// switchover costs beyond its pages (the END digest), and the sender
// switches over when that is within the downtime limit.
//
// The real sender (precopy/sender.cpp) and the simulation
// (precopy/simulation.cpp) both decide with this class, so a simulated
// migration switches over when a real one would.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace dtrack::precopy {

// What a stretch of sending achieved: the measure behind the rates.
struct Sent {
    uint64_t wire_bytes = 0, pages = 0, zero_pages = 0;
    std::chrono::nanoseconds time{0};
    void add(const Sent& o) {
        wire_bytes += o.wire_bytes, pages += o.pages, zero_pages += o.zero_pages;
        time += o.time;
    }
};

class RoundRates {
public:
    // A round shorter than this says little about rates (see window()).
    static constexpr std::chrono::nanoseconds min_measured_round = std::chrono::milliseconds(100);

    // `bandwidth_cap`: the sender's cap in wire bytes/s (0 = none);
    // `compress`: whether page batches may be compressed.
    RoundRates(uint64_t page_size, uint64_t bandwidth_cap, bool compress)
        : page_size_(page_size), cap_(bandwidth_cap), compress_(compress) {}

    void round_done(const Sent& round) {
        previous_round_ = last_round_;
        last_round_ = round;
        all_rounds_.add(round);
        ++rounds_;
    }

    // Wire bytes per second; never above the cap.
    double bandwidth() const;
    // Guest memory moved per second: page contents, not wire bytes, so that
    // compression, zero pages and the sender's own copying all count. The
    // whole window's time goes to its non-zero pages (zero pages are cheap,
    // and the pages still dirty are rarely zero), which errs on the long
    // side; of the last two rounds that lasted 100 ms, the slower.
    double memory_rate() const;
    // What a switchover costs beyond its pages: the END digest of all memory
    // on both sides while the guest is paused (estimated_digest_time()).
    void set_switchover_cost(std::chrono::nanoseconds cost) { switchover_cost_ = cost; }
    // Remaining dirty pages / memory_rate(), and the switchover's cost;
    // max() before anything was sent.
    std::chrono::nanoseconds estimated_downtime(uint64_t remaining_pages) const;
    // What of the downtime limit the final round's pages may take.
    std::chrono::nanoseconds page_time_budget(std::chrono::nanoseconds downtime_limit) const {
        return std::max(std::chrono::nanoseconds(0), downtime_limit - switchover_cost_);
    }
    // The switchover decision: the rest fits in the downtime limit, or
    // nothing is left (no round can bring the downtime below the
    // switchover's own cost).
    static bool fits(uint64_t remaining_pages, std::chrono::nanoseconds estimate,
                     std::chrono::nanoseconds downtime_limit) {
        return remaining_pages == 0 || estimate <= downtime_limit;
    }

private:
    const Sent& window() const { return last_round_.time >= min_measured_round ? last_round_ : all_rounds_; }

    uint64_t page_size_;
    uint64_t cap_;
    bool compress_;
    double memory_rate_of(const Sent& w) const;

    Sent previous_round_, last_round_, all_rounds_;
    uint64_t rounds_ = 0;  // done so far, round 1 included
    std::chrono::nanoseconds switchover_cost_{0};
};

}  // namespace dtrack::precopy
