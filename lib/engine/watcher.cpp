#include "dtrack/watcher.hpp"

namespace dtrack {

Watcher::Watcher(Rounds& rounds, WatcherOptions options, std::function<bool()> keep_going)
    : rounds_(rounds), options_(options), keep_going_(std::move(keep_going)) {}

Watcher::~Watcher() { stop(); }

const char* to_string(SyncTrigger trigger) { return trigger == SyncTrigger::periodic ? "periodic" : "round_time"; }

Watcher::Decision Watcher::tick() {
    if (!rounds_.migrating()) {
        std::lock_guard lock(mutex_);
        return seen_migration_ ? Decision::done : Decision::not_migrating;
    }
    if (keep_going_ && !keep_going_()) return Decision::done;
    const uint64_t round = rounds_.round();
    const Decision d =
        options_.trigger == SyncTrigger::periodic ? periodic_decision(round) : round_time_decision(round);
    if (d != Decision::background_sync) return d;
    const SyncReport report = rounds_.sync(SyncKind::background);
    std::lock_guard lock(mutex_);
    ++background_syncs_;
    syncs_at_tick_ = all_syncs();  // this sync is the tick's own, as QEMU's count after it
    if (!report.ok()) {
        ++failed_syncs_;
        last_error_ = report.errors.back();
    }
    return Decision::background_sync;
}

Watcher::Decision Watcher::round_time_decision(uint64_t round) {
    {
        std::lock_guard lock(mutex_);
        seen_migration_ = true;
        const bool moved = round != round_seen_;
        round_seen_ = round;
        if (round <= 1) return Decision::first_round;
        if (moved) return Decision::round_moved;
    }
    if (rounds_.clock().now() - rounds_.last_sync() < options_.threshold) return Decision::synced_recently;
    return Decision::background_sync;
}

Watcher::Decision Watcher::periodic_decision(uint64_t round) {
    const Clock::time_point now = rounds_.clock().now();
    const uint64_t syncs = all_syncs();
    std::lock_guard lock(mutex_);
    if (!seen_migration_ || !next_tick_) {
        // The timer is armed when the migration starts, as QEMU's at setup.
        next_tick_ = rounds_.migration_started() + options_.threshold;
        syncs_at_tick_ = syncs;
    }
    seen_migration_ = true;
    if (now < *next_tick_) return Decision::between_ticks;
    // One decision for the tick (a late poll takes the ticks it missed as one).
    while (*next_tick_ <= now) *next_tick_ += options_.threshold;
    const uint64_t at_previous_tick = syncs_at_tick_;
    syncs_at_tick_ = syncs;
    if (round <= 1) return Decision::first_round;
    if (syncs != at_previous_tick) return Decision::synced_recently;
    return Decision::background_sync;
}

uint64_t Watcher::all_syncs() const { return rounds_.syncs(SyncKind::round) + rounds_.syncs(SyncKind::background); }

void Watcher::start() {
    stop();
    std::lock_guard lock(mutex_);
    round_seen_ = 0;
    seen_migration_ = false;
    next_tick_.reset();
    syncs_at_tick_ = 0;
    background_syncs_ = 0;
    failed_syncs_ = 0;
    last_error_.reset();
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void Watcher::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Watcher::run() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, options_.poll, [this] { return stopping_; })) {
        lock.unlock();
        const Decision d = tick();
        lock.lock();
        if (d == Decision::done) break;
    }
}

uint64_t Watcher::background_syncs() const {
    std::lock_guard lock(mutex_);
    return background_syncs_;
}

uint64_t Watcher::failed_syncs() const {
    std::lock_guard lock(mutex_);
    return failed_syncs_;
}

std::optional<Error> Watcher::last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
}

}  // namespace dtrack
