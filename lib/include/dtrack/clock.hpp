// Time as the engine sees it. The watcher and the rounds take a Clock so
// tests can drive them with a fake one instead of sleeping.
#pragma once

#include <chrono>
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

class Clock {
public:
    using time_point = std::chrono::steady_clock::time_point;
    virtual ~Clock() = default;
    virtual time_point now() const = 0;
};

class SteadyClock : public Clock {
public:
    time_point now() const override { return std::chrono::steady_clock::now(); }
    static SteadyClock& instance();
};

// For tests and simulations: time moves only when told.
class ManualClock : public Clock {
public:
    time_point now() const override { return now_; }
    void advance(std::chrono::nanoseconds d) { now_ += d; }

private:
    time_point now_{std::chrono::hours(1)};
};

}  // namespace dtrack

DTRACK_PUBLIC_END
