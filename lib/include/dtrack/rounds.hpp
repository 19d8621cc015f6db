// Rounds: the state of one migration as the engine sees it.
//
// Two clocks, never mixed (invariant 3): a round is one transfer pass over
// the dirty pages; a sync is one harvest of the sources. A sync happens at
// every round boundary (kind round) and, between them, when the watcher asks
// for one (kind background). Every sync closes a "period": the bytes dirtied
// since the previous sync (pages newly set in the bitmaps) and the bytes
// transferred since then. Period listeners (the auto-converge throttle) see
// each one.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "dtrack/clock.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

struct Period {
    SyncKind kind = SyncKind::round;
    uint64_t bytes_dirtied = 0;      // newly dirty pages found by this sync, in bytes
    uint64_t bytes_transferred = 0;  // sent since the previous sync
    Clock::time_point at{};
};

class Rounds {
public:
    Rounds(Tracker& tracker, const Clock& clock = SteadyClock::instance());

    // --- a migration's life ------------------------------------------------------
    // Resets rounds, periods and bytes for a new migration.
    void start_migration();
    void finish_migration();
    bool migrating() const;
    Clock::time_point migration_started() const;  // at start_migration()

    // --- transfer passes ---------------------------------------------------------
    void begin_round();  // counts the round (here and in the tracker's counters)
    void end_round();
    uint64_t round() const;  // 1 for the first pass; 0 before it
    bool in_round() const;
    Clock::time_point round_started() const;

    // --- bytes ---------------------------------------------------------------------
    void add_transferred(uint64_t bytes);
    uint64_t bytes_transferred() const;  // in this migration

    // --- harvests ----------------------------------------------------------------
    // Harvests every source and closes a period. Safe to call from the
    // watcher thread while the sender runs a round.
    SyncReport sync(SyncKind kind);
    Clock::time_point last_sync() const;
    uint64_t syncs(SyncKind kind) const;  // in this migration

    // Called after every sync with its period (on the syncing thread).
    void on_period(std::function<void(const Period&)> listener);

    const Clock& clock() const { return clock_; }
    Tracker& tracker() { return tracker_; }

private:
    Tracker& tracker_;
    const Clock& clock_;
    uint64_t page_size_;

    std::mutex sync_mutex_;     // held for a whole sync()
    mutable std::mutex mutex_;  // the fields below
    bool migrating_ = false;
    bool in_round_ = false;
    uint64_t round_ = 0;
    Clock::time_point migration_started_{};
    Clock::time_point round_started_{};
    Clock::time_point last_sync_{};
    uint64_t bytes_transferred_ = 0;
    uint64_t transferred_at_last_sync_ = 0;
    uint64_t syncs_round_ = 0, syncs_background_ = 0;
    std::vector<std::function<void(const Period&)>> listeners_;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
