#include "dtrack/rounds.hpp"

namespace dtrack {

SteadyClock& SteadyClock::instance() {
    static SteadyClock clock;
    return clock;
}

Rounds::Rounds(Tracker& tracker, const Clock& clock)
    : tracker_(tracker), clock_(clock), page_size_(tracker.region_count() ? tracker.region(0).page_size : 4096) {}

void Rounds::start_migration() {
    std::lock_guard lock(mutex_);
    migrating_ = true;
    in_round_ = false;
    round_ = 0;
    migration_started_ = round_started_ = last_sync_ = clock_.now();
    bytes_transferred_ = transferred_at_last_sync_ = 0;
    syncs_round_ = syncs_background_ = 0;
}

void Rounds::finish_migration() {
    std::lock_guard lock(mutex_);
    migrating_ = false;
    in_round_ = false;
}

bool Rounds::migrating() const {
    std::lock_guard lock(mutex_);
    return migrating_;
}

void Rounds::begin_round() {
    {
        std::lock_guard lock(mutex_);
        ++round_;
        in_round_ = true;
        round_started_ = clock_.now();
    }
    tracker_.count_round();
}

void Rounds::end_round() {
    std::lock_guard lock(mutex_);
    in_round_ = false;
}

uint64_t Rounds::round() const {
    std::lock_guard lock(mutex_);
    return round_;
}

bool Rounds::in_round() const {
    std::lock_guard lock(mutex_);
    return in_round_;
}

Clock::time_point Rounds::round_started() const {
    std::lock_guard lock(mutex_);
    return round_started_;
}

void Rounds::add_transferred(uint64_t bytes) {
    std::lock_guard lock(mutex_);
    bytes_transferred_ += bytes;
}

uint64_t Rounds::bytes_transferred() const {
    std::lock_guard lock(mutex_);
    return bytes_transferred_;
}

SyncReport Rounds::sync(SyncKind kind) {
    // One sync at a time from harvest to listeners, so each period belongs to
    // exactly one sync even when the watcher and the sender sync together.
    std::lock_guard one_sync(sync_mutex_);
    SyncReport report = tracker_.sync(kind);
    Period period;
    std::vector<std::function<void(const Period&)>> listeners;
    {
        std::lock_guard lock(mutex_);
        period.kind = kind;
        period.bytes_dirtied = report.new_dirty * page_size_;
        period.bytes_transferred = bytes_transferred_ - transferred_at_last_sync_;
        period.at = last_sync_ = clock_.now();
        transferred_at_last_sync_ = bytes_transferred_;
        ++(kind == SyncKind::round ? syncs_round_ : syncs_background_);
        listeners = listeners_;
    }
    for (auto& l : listeners) l(period);
    return report;
}

Clock::time_point Rounds::migration_started() const {
    std::lock_guard lock(mutex_);
    return migration_started_;
}

Clock::time_point Rounds::last_sync() const {
    std::lock_guard lock(mutex_);
    return last_sync_;
}

uint64_t Rounds::syncs(SyncKind kind) const {
    std::lock_guard lock(mutex_);
    return kind == SyncKind::round ? syncs_round_ : syncs_background_;
}

void Rounds::on_period(std::function<void(const Period&)> listener) {
    std::lock_guard lock(mutex_);
    listeners_.push_back(std::move(listener));
}

}  // namespace dtrack
