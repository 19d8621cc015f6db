// Throttle: auto-converge, with QEMU's rules and defaults
// (migration/ram.c migration_trigger_throttle, mig_throttle_guest_down).
//
// Every sync's period goes to QEMU's trigger (convergence_trigger.hpp: the
// guest dirtied more than `trigger_pct`, 50%, of what was transferred, at the
// second such period of at least `min_period`, 1 s); each time it fires the
// vCPUs are slowed: `initial_pct` (20%) the first time, then +`increment_pct`
// (10%) each time, up to `max_pct` (99%). With tail_slow the step shrinks to
// what the measured dirty ratio asks for. The VMM does the slowing through the `apply` callback (dtvm: each
// vCPU sleeps pct% of every 10 ms slice).
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <vector>

#include "dtrack/convergence_trigger.hpp"
#include "dtrack/rounds.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

struct ThrottleOptions {
    int trigger_pct = 50;
    int initial_pct = 20;
    int increment_pct = 10;
    int max_pct = 99;
    bool tail_slow = false;
    std::chrono::milliseconds min_period{1000};
};

struct ThrottleStep {
    Clock::time_point at;
    int pct;
    SyncKind after;  // the kind of sync that moved it
};

class Throttle {
public:
    using Apply = std::function<void(int pct)>;
    Throttle(ThrottleOptions options, Apply apply);

    // Feeds one sync's period. Returns true when the throttle changed.
    bool on_period(const Period& period);

    int pct() const;
    bool active() const { return pct() > 0; }
    bool at_max() const;
    std::vector<ThrottleStep> timeline() const;

    // The migration is over: back to 0% (applied), counters and timeline cleared.
    void reset();

private:
    void set_locked(int pct, const Period& period);

    const ThrottleOptions options_;
    const Apply apply_;
    mutable std::mutex mutex_;
    ConvergenceTrigger trigger_;
    int pct_ = 0;
    std::vector<ThrottleStep> timeline_;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
