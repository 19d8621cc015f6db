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

struct WatcherOptions {
    std::chrono::milliseconds poll{1000};
    std::chrono::milliseconds threshold{5000};
};

class Watcher {
public:
    enum class Decision {
        not_migrating,
        first_round,      // round 1 copies everything anyway
        round_moved,      // a round ended since the last poll: its sync is fresh
        synced_recently,  // same round, but the last sync is younger than the threshold
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

    Rounds& rounds_;
    const WatcherOptions options_;
    const std::function<bool()> keep_going_;

    mutable std::mutex mutex_;
    uint64_t round_seen_ = 0;
    bool seen_migration_ = false;
    uint64_t background_syncs_ = 0;
    uint64_t failed_syncs_ = 0;
    std::optional<Error> last_error_;
    bool stopping_ = false;
    std::condition_variable wake_;
    std::thread thread_;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
