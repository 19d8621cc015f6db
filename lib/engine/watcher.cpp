#include "dtrack/watcher.hpp"

namespace dtrack {

Watcher::Watcher(Rounds& rounds, WatcherOptions options, std::function<bool()> keep_going)
    : rounds_(rounds), options_(options), keep_going_(std::move(keep_going)) {}

Watcher::~Watcher() { stop(); }

Watcher::Decision Watcher::tick() {
    if (!rounds_.migrating()) {
        std::lock_guard lock(mutex_);
        return seen_migration_ ? Decision::done : Decision::not_migrating;
    }
    if (keep_going_ && !keep_going_()) return Decision::done;
    const uint64_t round = rounds_.round();
    {
        std::lock_guard lock(mutex_);
        seen_migration_ = true;
        const bool moved = round != round_seen_;
        round_seen_ = round;
        if (round <= 1) return Decision::first_round;
        if (moved) return Decision::round_moved;
    }
    if (rounds_.clock().now() - rounds_.last_sync() < options_.threshold) return Decision::synced_recently;
    const SyncReport report = rounds_.sync(SyncKind::background);
    std::lock_guard lock(mutex_);
    ++background_syncs_;
    if (!report.ok()) {
        ++failed_syncs_;
        last_error_ = report.errors.back();
    }
    return Decision::background_sync;
}

void Watcher::start() {
    stop();
    std::lock_guard lock(mutex_);
    round_seen_ = 0;
    seen_migration_ = false;
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
