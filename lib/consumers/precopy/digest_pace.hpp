// DigestPace: how long the switchover's digest of all memory will take, from
// samples of its pace.
//
// Before each round sync the sender times one 4 MiB piece of the digest
// (estimated_digest_time(), a different piece each time) and counts the
// median of its last `window` samples. One sample is not enough either way:
// preempted for a few milliseconds by the vCPUs sharing its core and scaled
// to all memory, it came out hundreds of milliseconds long and kept a guest
// that fitted its downtime from switching over for 63 rounds; a piece the
// sender had just read comes from the cache, and the shortest sample of a
// migration said 2 ms for a digest that took 7-10 ms from memory.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <vector>

namespace dtrack::precopy {

class DigestPace {
public:
    static constexpr size_t window = 15;

    void add(std::chrono::nanoseconds sample) {
        samples_.push_back(sample);
        if (samples_.size() > window) samples_.pop_front();
    }

    // The median of the samples kept (the upper one of an even count); 0
    // before any sample.
    std::chrono::nanoseconds estimate() const {
        if (samples_.empty()) return std::chrono::nanoseconds(0);
        std::vector<std::chrono::nanoseconds> sorted(samples_.begin(), samples_.end());
        const auto middle = sorted.begin() + std::ptrdiff_t(sorted.size() / 2);
        std::nth_element(sorted.begin(), middle, sorted.end());
        return *middle;
    }

private:
    std::deque<std::chrono::nanoseconds> samples_;
};

}  // namespace dtrack::precopy
