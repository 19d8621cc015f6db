// The simulated migration: the real engine's decisions on a manual clock.
#include "dtrack/precopy/simulation.hpp"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <limits>
#include <memory>

#include "consumers/precopy/round_rates.hpp"
#include "consumers/precopy/simulated_dirty_limit.hpp"
#include "dtrack/clock.hpp"
#include "dtrack/precopy/wire_format.hpp"
#include "dtrack/rounds.hpp"
#include "dtrack/units.hpp"
#include "dtrack/watcher.hpp"

namespace dtrack::precopy {

const char* to_string(SimulationResult::Verdict verdict) {
    switch (verdict) {
        case SimulationResult::Verdict::converged: return "converged";
        case SimulationResult::Verdict::stuck: return "stuck";
        case SimulationResult::Verdict::timed_out: return "timed_out";
        case SimulationResult::Verdict::failed: return "failed";
    }
    return "?";
}

std::vector<std::string> simulation_leaves_out(const SimulationOptions& o) {
    std::vector<std::string> out{
        o.sender_pages_per_s > 0
            ? "the sender's CPU beyond its one pace (--sender-rate) for the pages it sends whole: deltas and zero "
              "pages cost it nothing"
            : "the sender's CPU: pages move at the bandwidth, never slower (copying, compression and TLS cost "
              "nothing; --sender-rate gives its pace)",
        "page contents: zero pages only where the model (zero=) or --zero-pages says; compression and deltas are "
        "modelled on "
        "dtvm's pages (--write-bytes random bytes, zeros elsewhere), and the cache's hits by share, not page by page",
        "the time a sync takes (harvesting is instant) and the network's latency",
        o.digest_bytes_per_s > 0
            ? "switchover's acknowledgement: the END digest is counted at --digest-rate, the round trip is not"
            : "switchover beyond the last round: the END digest of all memory (about 0.2-0.4 s per GiB here; "
              "--digest-rate counts it) and the acknowledgement are not in the downtime",
        "vCPU state and device state: only guest memory moves",
    };
    return out;
}

namespace {

using std::chrono::nanoseconds;

constexpr double infinity = std::numeric_limits<double>::infinity();

// A Source in the tracker whose harvest is the simulated guest's.
class SimulatedSource : public Source {
public:
    explicit SimulatedSource(SimulatedGuest& guest) : guest_(guest) {}
    std::string name() const override { return "simulated"; }
    Result<HarvestReport> harvest(Tracker& tracker) override {
        auto fresh = guest_.harvest(tracker);
        if (!fresh) return fresh.error();
        const uint64_t found = *fresh + guest_.take_reaped();
        HarvestReport report{.pages = found, .new_dirty = found};
        if (guest_.vcpus().limited()) report.pages_per_vcpu = guest_.vcpus().take_reported();
        return report;
    }

private:
    SimulatedGuest& guest_;
};

nanoseconds ns(double seconds) { return nanoseconds(static_cast<int64_t>(std::llround(seconds * 1e9))); }
double seconds(nanoseconds d) { return std::chrono::duration<double>(d).count(); }

Tracker& attached(Tracker& tracker, SimulatedGuest& guest, Status& status) {
    status = guest.attach(tracker);
    return tracker;
}

class Simulation {
public:
    Simulation(SimulatedGuest& guest, const SimulationOptions& o)
        : guest_(guest),
          o_(o),
          rounds_(attached(tracker_, guest, attached_), clock_),
          throttle_(o.throttle, nullptr),
          bytes_(o.page_bytes, guest.page_size(), guest.memory_pages(), o.batch_pages),
          rates_(guest.page_size(), o.bandwidth, bytes_.shrinks_pages()),
          bandwidth_(double(o.bandwidth)),
          max_s_(seconds(o.max_time)) {
        if (o_.auto_converge) rounds_.on_period([this](const Period& p) { throttle_.on_period(p); });
        if (o_.dirty_limit) {
            limit_ = std::make_unique<SimulatedDirtyLimit>(*o_.dirty_limit, guest_, tracker_);
            rounds_.on_period([this](const Period& p) { limit_->on_period(p); });
        }
        if ((o_.auto_converge && o_.background_sync) || o_.dirty_limit) {
            // dtvm's wiring (tools/dtvm/modes/migration_source.cpp): poll four times per
            // threshold, at least every second; stop at the throttle's maximum. The
            // dirty limit's threshold is its period, on the round-time trigger.
            const auto threshold = o_.dirty_limit ? o_.dirty_limit->period : *o_.background_sync;
            const auto poll = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(1000), threshold / 4);
            const SyncTrigger trigger = o_.dirty_limit ? SyncTrigger::round_time : o_.background_sync_trigger;
            watcher_ = std::make_unique<Watcher>(
                rounds_, WatcherOptions{.poll = poll, .threshold = threshold, .trigger = trigger},
                [this] { return o_.dirty_limit || !throttle_.at_max(); });
            poll_s_ = seconds(poll);
        }
    }

    SimulationResult run() {
        if (!attached_) {
            r_.why = attached_.error().message();
            return r_;
        }
        if (o_.dirty_limit) {
            Status s = guest_.limit_vcpus();
            if (s && o_.ring_full_entries) s = guest_.sleep_at_ring_full(*o_.ring_full_entries);
            if (!s) {
                r_.why = s.error().message();
                return r_;
            }
        }
        r_.guest_bytes = double(guest_.memory_pages()) * double(guest_.page_size());
        // The sender counts its switchover digest in its estimate (round_rates.hpp).
        if (o_.digest_bytes_per_s > 0) rates_.set_switchover_cost(ns(r_.guest_bytes / o_.digest_bytes_per_s));
        origin_ = clock_.now();
        rounds_.start_migration();
        if (watcher_) next_poll_s_ = poll_s_;
        migrate();
        rounds_.finish_migration();
        r_.rounds = rounds_.round();
        r_.round_syncs = rounds_.syncs(SyncKind::round);
        r_.background_syncs = rounds_.syncs(SyncKind::background);
        r_.total_s = now_s_;
        r_.final_throttle_pct = throttle_.pct();
        for (const ThrottleStep& s : throttle_.timeline())
            r_.throttle.push_back({seconds(s.at - origin_), s.pct, s.after});
        if (limit_ && limit_->engaged_at()) r_.dirty_limit_engaged_s = seconds(*limit_->engaged_at() - origin_);
        if (limit_)
            for (const DirtyLimitSample& s : limit_->timeline())
                r_.dirty_limit.push_back({seconds(s.at - origin_), s.vcpu, s.rate, s.share});
        return r_;
    }

private:
    void migrate() {
        // As the real sender: start clean, then round 1 over every page.
        if (!sync()) return;
        guest_.discard_dirty();
        if (!send_round(/*every_page=*/true)) return;
        double stuck_at = infinity;  // the dirty set when the throttle last could not move
        for (;;) {
            if (now_s_ >= max_s_ - 1e-9) return timed_out();
            if (!sync()) return;
            const double remaining = guest_.dirty_pages();
            r_.round_log.back().remaining_pages = remaining;
            const nanoseconds estimate = rates_.estimated_downtime(uint64_t(std::ceil(remaining)));
            r_.estimated_downtime_s = seconds(estimate);
            if (RoundRates::fits(uint64_t(std::ceil(remaining)), estimate, o_.downtime_limit)) break;
            // The real sender would go on for ever here; the simulation says so.
            const bool throttle_can_move = (o_.auto_converge && !throttle_.at_max()) || (limit_ && !limit_->settled());
            if (!throttle_can_move) {
                if (remaining > stuck_at * (1 - 1e-3)) return stuck(remaining);
                stuck_at = remaining;
            } else {
                stuck_at = infinity;
            }
            plan_deferral();
            if (!send_round(/*every_page=*/false)) return;
        }
        // Switchover: the guest pauses, one last sync, the rest (the deferred pages too).
        paused_ = true;
        guest_.defer(0);
        if (!sync()) return;
        const double before = now_s_;
        if (!send_round(/*every_page=*/false)) return;
        // Both sides hash all memory (sender.cpp's END record); the guest stays paused.
        if (o_.digest_bytes_per_s > 0) advance(r_.guest_bytes / o_.digest_bytes_per_s);
        r_.downtime_s = now_s_ - before;
        r_.verdict = SimulationResult::Verdict::converged;
    }

    // Hot-page deferral between rounds, by the sender's rule (hot_page_deferral.hpp).
    void plan_deferral() {
        if (!o_.defer_hot) return;
        const int k = o_.defer_hot->rounds;
        const double capacity = final_round_capacity_pages(rates_.page_time_budget(o_.downtime_limit),
                                                           rates_.memory_rate(), guest_.page_size());
        if (const std::optional<double> kept = guest_.plan_deferral(*o_.defer_hot, capacity)) {
            r_.deferred_pages += *kept;  // decided page by page, as the sender does
            return;
        }
        guest_.observe_dirty();
        const double n = deferred_pages(++observed_, k, guest_.dirty_pages(), guest_.hot_pages(k),
                                        guest_.hot_pages(std::max(k, 2)), capacity);
        guest_.defer(n);
        r_.deferred_pages += n;
    }

    // One pass of the sender; false when the run ended during it.
    bool send_round(bool every_page) {
        rounds_.begin_round();
        guest_.begin_sweep(every_page);
        SimulatedRound log{.round = rounds_.round(), .start_s = now_s_};
        const uint64_t background_before = rounds_.syncs(SyncKind::background);
        double wire = 0;
        // Round 1 sends every page whatever the dirty set holds: reaping
        // during it changes nothing, and is skipped.
        const std::optional<double> reap_s =
            o_.reap_every && !every_page ? std::optional(seconds(*o_.reap_every)) : std::nullopt;
        for (;;) {
            if (reap_s)
                if (Status s = guest_.reap(tracker_); !s) return failed_sync(s.error().message());
            const SimulatedPages ahead = guest_.ahead();
            const PageBytes cost = bytes_.cost(ahead.pages, ahead.zero_pages, rounds_.round());
            if (cost.wire_bytes <= 0) break;
            // A step ends at the round's end, the watcher's next poll,
            // max-time or the next reaping, whichever comes first.
            const double finish_s = step_seconds(cost, ahead);
            const double event_s = std::min({next_poll_s_, max_s_, reap_s ? now_s_ + *reap_s : infinity}) - now_s_;
            const double fraction = finish_s <= event_s ? 1.0 : std::max(event_s / finish_s, 1e-12);
            const SimulatedPages got = guest_.take(fraction);
            const PageBytes sent = bytes_.cost(got.pages, got.zero_pages, rounds_.round());
            const double bytes = sent.wire_bytes;
            log.pages += got.pages;
            log.zero_pages += got.zero_pages;
            wire += bytes;
            transfer(bytes);
            if (!advance_polling(step_seconds(sent, got))) return false;
            if (now_s_ >= max_s_ - 1e-9) {
                // The round stops part-way: what it sent was sent.
                end_round(log, background_before, wire);
                timed_out();
                return false;
            }
        }
        end_round(log, background_before, wire);
        rates_.round_done(Sent{uint64_t(std::llround(wire)), uint64_t(std::llround(log.pages)),
                               uint64_t(std::llround(log.zero_pages)), ns(log.seconds)});
        return true;
    }

    // Closes a round (whole or cut short at max-time) into the log and the totals.
    void end_round(SimulatedRound& log, uint64_t background_before, double wire) {
        rounds_.end_round();
        log.seconds = now_s_ - log.start_s;
        log.background_syncs = rounds_.syncs(SyncKind::background) - background_before;
        log.throttle_pct = throttle_.pct();
        r_.pages_sent += log.pages;
        r_.zero_pages_sent += log.zero_pages;
        r_.bytes_on_wire += wire;
        r_.delta_pages_sent += bytes_.cost(log.pages, log.zero_pages, log.round).delta_pages;
        bytes_.round_done(log.pages);
        r_.round_log.push_back(log);
    }

    // A step's time: its bytes at the bandwidth (the wire format's cost of
    // its pages: entries, contents, deltas, compression, page_bytes_model.hpp),
    // or the pages it sends whole at the sender's pace when that is slower.
    // A zero page costs the sender a read and goes as a flag, a delta a
    // compare with the cached copy (a microsecond or two, against some 25
    // for a page compressed whole here): both left out.
    double step_seconds(const PageBytes& bytes, const SimulatedPages& p) const {
        const double link_s = bytes.wire_bytes / bandwidth_;
        if (o_.sender_pages_per_s <= 0) return link_s;
        const double whole = std::max(0.0, p.pages - p.zero_pages - bytes.delta_pages);
        return std::max(link_s, whole / o_.sender_pages_per_s);
    }

    // Rounds counts whole bytes; the fractions carry over.
    void transfer(double bytes) {
        carry_ += bytes;
        const double whole = std::floor(carry_);
        carry_ -= whole;
        rounds_.add_transferred(uint64_t(whole));
    }

    void advance(double dt) {
        guest_.run(ns(dt), paused_ ? 100 : throttle_.pct());
        now_s_ += dt;
        const auto target = origin_ + ns(now_s_);
        if (target > clock_.now()) clock_.advance(target - clock_.now());
    }

    // Time passes while a step's pages go out, and the watcher's thread
    // polls on time meanwhile, not when the step ends: a step can be a
    // whole 4096-page chunk, a third of a second at 24 MiB/s. False when a
    // sync failed.
    bool advance_polling(double dt) {
        while (dt > 0) {
            const double piece = std::clamp(next_poll_s_ - now_s_, 0.0, dt);
            advance(piece);
            dt -= piece;
            if (!polls()) return false;
        }
        return polls();
    }

    // The watcher's polls that are due; false when a sync failed.
    bool polls() {
        while (watcher_ && now_s_ >= next_poll_s_ - 1e-9) {
            next_poll_s_ += poll_s_;
            const uint64_t failed = watcher_->failed_syncs();
            if (watcher_->tick() == Watcher::Decision::done) next_poll_s_ = infinity;  // its thread would exit
            if (watcher_->failed_syncs() != failed) return failed_sync(watcher_->last_error()->message());
        }
        return true;
    }

    bool sync() {
        const SyncReport report = rounds_.sync(SyncKind::round);
        if (!report.ok()) return failed_sync(report.errors.front().message());
        return true;
    }

    bool failed_sync(const std::string& why) {
        r_.verdict = SimulationResult::Verdict::failed;
        r_.why = "a harvest failed: " + why;
        return false;
    }

    void timed_out() {
        r_.verdict = SimulationResult::Verdict::timed_out;
        r_.why = "not converged after the simulated max-time of " + std::to_string(std::llround(max_s_)) + " s";
    }

    void stuck(double remaining) {
        r_.verdict = SimulationResult::Verdict::stuck;
        char round_s[32];
        std::snprintf(round_s, sizeof round_s, "%.1f s", r_.round_log.empty() ? 0 : r_.round_log.back().seconds);
        r_.why = "does not converge: each round leaves about " + format_bytes(remaining * double(guest_.page_size())) +
                 " dirty (rounds of " + round_s + "), " +
                 (o_.auto_converge ? "even with the throttle at " + std::to_string(throttle_.pct()) + "%"
                  : limit_         ? std::string("even with the dirty limit settled")
                                   : std::string("and auto-converge is off"));
    }

    SimulatedGuest& guest_;
    const SimulationOptions& o_;
    ManualClock clock_;
    Status attached_ = Ok{};
    Tracker tracker_;
    Rounds rounds_;
    Throttle throttle_;
    PageBytesModel bytes_;
    RoundRates rates_;
    std::unique_ptr<SimulatedDirtyLimit> limit_;
    std::unique_ptr<Watcher> watcher_;
    const double bandwidth_;
    const double max_s_;
    double poll_s_ = infinity;
    double next_poll_s_ = infinity;
    Clock::time_point origin_{};
    double now_s_ = 0;
    double carry_ = 0;
    bool paused_ = false;
    uint64_t observed_ = 0;  // round syncs the deferral has seen
    SimulationResult r_;
};

}  // namespace

Status SimulatedGuest::reap(Tracker& tracker) {
    auto fresh = harvest(tracker);
    if (!fresh) return fresh.error();
    reaped_ += *fresh;
    return Ok{};
}

Status SimulatedGuest::attach(Tracker& tracker) {
    if (Status s = add_regions(tracker); !s) return s;
    tracker.add_source(std::make_unique<SimulatedSource>(*this));
    return Ok{};
}

SimulationResult simulate_precopy(SimulatedGuest& guest, const SimulationOptions& options) {
    SimulationResult r;
    if (options.bandwidth == 0) {
        r.why = "no bandwidth: give the link's bytes/s";
        return r;
    }
    if (options.defer_hot)
        if (Status s = check_hot_page_deferral(*options.defer_hot); !s) {
            r.why = s.error().message();
            return r;
        }
    return Simulation(guest, options).run();
}

}  // namespace dtrack::precopy
