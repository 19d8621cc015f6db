// What the C ABI's opaque handles hold. Each handle keeps what it was made
// from alive (shared_ptr), so C callers may destroy handles in any order.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "dtrack/dtrack.h"
#include "dtrack/kvm_log_source.hpp"
#include "dtrack/kvm_ring_source.hpp"
#include "dtrack/rounds.hpp"
#include "dtrack/target_meter.hpp"
#include "dtrack/throttle.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/watcher.hpp"

// Borrowed views of sources the tracker owns; they live in dt_tracker.
struct dt_ring {
    dtrack::KvmRingSource* source;
};
struct dt_log {
    dtrack::KvmLogSource* source;
};

struct dt_tracker {
    std::shared_ptr<dtrack::Tracker> tracker = std::make_shared<dtrack::Tracker>();
    // Set by the first sync, take or dt_rounds_create: from then on other
    // threads may be inside the tracker, and regions and sources may no
    // longer be added (the C++ Tracker's rule, enforced here).
    std::atomic<bool> in_use{false};
    std::vector<std::unique_ptr<dt_ring>> rings;
    std::vector<std::unique_ptr<dt_log>> logs;
};

struct dt_rounds {
    std::shared_ptr<dtrack::Tracker> tracker;
    std::shared_ptr<dtrack::Rounds> rounds;
};

// Members are destroyed last to first: the watcher (stopped), then what it uses.
struct dt_watcher {
    std::shared_ptr<dtrack::Tracker> tracker;
    std::shared_ptr<dtrack::Rounds> rounds;
    std::unique_ptr<dtrack::Watcher> watcher;  // last member: destroyed (stopped) first
};

// Rounds::on_period listeners cannot be removed, so the throttle's listener
// reaches it through this slot, which dt_throttle_destroy empties under the
// lock: once it returns, the listener finds nothing and apply is not called.
struct ThrottleSlot {
    std::mutex mutex;
    std::unique_ptr<dtrack::Throttle> throttle;
};

struct dt_throttle {
    std::shared_ptr<dtrack::Tracker> tracker;
    std::shared_ptr<dtrack::Rounds> rounds;
    std::shared_ptr<ThrottleSlot> slot;
};

struct dt_target {
    std::unique_ptr<dtrack::TargetMeter> meter;
};
