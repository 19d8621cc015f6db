// ConvergenceTrigger: QEMU's rule for "this migration is not converging"
// (migration/ram.c migration_trigger_throttle), shared by the two remedies
// that answer it: auto-converge (throttle.hpp) and the per-vCPU dirty limit
// (dirty_limit.hpp). QEMU engages whichever is enabled at the same moment.
//
// It judges the time since its last judgement once that is at least
// `min_period` (1 s), summing every sync's period in between: the period is
// "high" when the guest dirtied more than `trigger_pct` (50%) of the bytes
// transferred in it. It fires at the second high period and counts again
// from zero. As in QEMU, a calm period in between does not reset the count.
#pragma once

#include <chrono>
#include <cstdint>

#include "dtrack/rounds.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

struct ConvergenceTriggerOptions {
    int trigger_pct = 50;
    std::chrono::milliseconds min_period{1000};
};

// One judged period (judged == false: too short yet, summed into the next).
struct ConvergenceJudgement {
    bool judged = false;
    bool high = false;
    bool fired = false;      // the second high period: act now
    uint64_t dirtied = 0;    // bytes dirtied over the judged period
    uint64_t threshold = 0;  // trigger_pct of the bytes transferred in it
};

// Not thread-safe: its owner serializes the calls.
class ConvergenceTrigger {
public:
    explicit ConvergenceTrigger(ConvergenceTriggerOptions options = {}) : options_(options) {}

    // Feeds one sync's period. The first call after construction or reset()
    // only opens the first period (QEMU's clock starts at the migration's
    // first sync).
    ConvergenceJudgement on_period(const Period& period);

    // A new migration: no open period, no high period counted.
    void reset();

private:
    const ConvergenceTriggerOptions options_;
    int high_periods_ = 0;
    bool period_open_ = false;
    Clock::time_point period_start_{};
    uint64_t dirtied_ = 0, transferred_ = 0;  // summed since period_start_
};

}  // namespace dtrack

DTRACK_PUBLIC_END
