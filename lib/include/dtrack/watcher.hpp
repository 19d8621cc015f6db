// Watcher: the background dirty sync (after QEMU's "background dirty bitmap
// sync", which landed as a periodic sync in migration/cpu-throttle.c).
//
// On a huge guest one transfer round can take minutes, and auto-converge only
// moves at a sync, so the throttle reacts far too late. The watcher polls
// (every second by default; stop() wakes it at once) and, when the round
// counter has not moved since its last poll and the last sync is older than
// the threshold (5 s), harvests: a sync of kind background, whose period
// feeds the throttle like any other. It skips round 1 (the first pass copies
// everything anyway), does nothing when no migration runs, and stops itself
// when the throttle is at its maximum (nothing left to react with). start()
// resets its state, so each migration starts clean.
//
// That is the round-time trigger (SyncTrigger::round_time, dtrack's). The
// periodic trigger (SyncTrigger::periodic) is QEMU 9.2's as it landed in
// migration/cpu-throttle.c: a timer ticks every `threshold` from the
// migration's start, and at each tick past round 1 it syncs when no sync (of
// either kind) happened since the previous tick. Its syncs keep the timer's
// grid, not a distance from the last sync: a round that ends just before a
// tick puts off the next background sync to the tick after, up to twice the
// period. (It is not a sync every period regardless of the rounds: QEMU's
// timer skips a tick after which the sync count moved.) The thread polls; a
// tick is taken at the first poll on or after its time.
//
// tick() is the whole decision; the thread only calls it. Tests drive tick()
// with a ManualClock instead of sleeping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "dtrack/rounds.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

// What makes the watcher sync between rounds (see above).
enum class SyncTrigger : uint8_t {
    round_time,  // a round has run `threshold` since the last sync (dtrack's)
    periodic,    // a timer every `threshold`, skipping a tick after which a sync happened (QEMU 9.2's)
};
const char* to_string(SyncTrigger trigger);  // "round_time" | "periodic"

struct WatcherOptions {
    std::chrono::milliseconds poll{1000};
    std::chrono::milliseconds threshold{5000};  // periodic: the timer's period
    SyncTrigger trigger = SyncTrigger::round_time;
};

class Watcher {
public:
    enum class Decision {
        not_migrating,
        first_round,      // round 1 copies everything anyway
        round_moved,      // a round ended since the last poll: its sync is fresh
        synced_recently,  // same round, but the last sync is younger than the threshold
                          // (periodic: a sync happened since the previous tick)
        between_ticks,    // periodic: the timer's next tick has not come
        background_sync,  // synced
        done,             // the migration ended, or the throttle is at its maximum: the watcher stops
    };

    // `keep_going` says whether a sync still serves anyone (e.g. the throttle
    // is below its maximum); when it says no, the watcher stops.
    Watcher(Rounds& rounds, WatcherOptions options, std::function<bool()> keep_going = {});
    ~Watcher();

    // One poll.
    Decision tick();

    // Resets the state for a new migration and starts the thread.
    void start();
    // Stops the thread (at once, even mid-wait).
    void stop();

    uint64_t background_syncs() const;
    // Background syncs that met errors, and the last error met. The tracker
    // also keeps each such error for the migration's next round sync.
    uint64_t failed_syncs() const;
    std::optional<Error> last_error() const;
    const WatcherOptions& options() const { return options_; }

private:
    void run();
    // The trigger's verdict, before any sync: background_sync means "sync now".
    Decision round_time_decision(uint64_t round);
    Decision periodic_decision(uint64_t round);
    uint64_t all_syncs() const;

    Rounds& rounds_;
    const WatcherOptions options_;
    const std::function<bool()> keep_going_;

    mutable std::mutex mutex_;
    uint64_t round_seen_ = 0;
    bool seen_migration_ = false;
    std::optional<Clock::time_point> next_tick_;  // periodic: the timer's next tick, once migrating
    uint64_t syncs_at_tick_ = 0;                  // periodic: every sync so far, at the previous tick
    uint64_t background_syncs_ = 0;
    uint64_t failed_syncs_ = 0;
    std::optional<Error> last_error_;
    bool stopping_ = false;
    std::condition_variable wake_;
    std::thread thread_;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
