// A discrete-event simulation of a precopy migration.
//
// The engine's own code makes the decisions: `Rounds` counts rounds and syncs
// and closes the periods, the `Throttle` judges them (auto-converge), the
// `Watcher`'s tick() decides the background syncs, and the sender's rates
// and switchover decision are the real sender's (RoundRates). They run
// against a ManualClock that only the simulation moves, so hours of
// migration take milliseconds. What is simulated: the link (bytes at the
// bandwidth), and the guest that dirties memory (a SimulatedGuest: an
// analytic model, guest_model.hpp, or a replayed recording, trace_guest.hpp).
//
// The order of events is the real sender's (precopy/sender.cpp): a sync
// whose pages are discarded, round 1 over every page, then after each round
// sync either switchover (the rest fits in the downtime limit) or another
// round; the switchover pauses the guest, syncs and sends the rest. Time only
// passes while bytes are sent (or the sender prepares pages, at its own
// pace when one is given); the watcher polls as dtvm wires it (every
// min(1 s, threshold / 4)).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dtrack/dirty_limit.hpp"
#include "dtrack/error.hpp"
#include "dtrack/hot_page_deferral.hpp"
#include "dtrack/precopy/page_bytes_model.hpp"
#include "dtrack/precopy/simulated_vcpus.hpp"
#include "dtrack/throttle.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/watcher.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {

// Pages as the simulation counts them: expected values, so fractions are fine.
struct SimulatedPages {
    double pages = 0;       // all of them, zero pages included
    double zero_pages = 0;  // all-zero: sent as a flag, without contents
};

// The thing that dirties memory, and the dirty set the sender sweeps.
class SimulatedGuest {
public:
    virtual ~SimulatedGuest() = default;

    // One line for people: "model: 1.0 TiB, ...".
    virtual std::string describe() const = 0;
    virtual uint64_t page_size() const { return 4096; }
    virtual uint64_t memory_pages() const = 0;

    // Adds the guest's regions (if it has any) and a source named
    // "simulated" to `tracker`; the source's harvest calls harvest().
    Status attach(Tracker& tracker);

    // The guest runs for `d` with its vCPUs held `held_pct`% of the time
    // (the throttle's percentage; 100 while paused for the switchover), and
    // each vCPU under a dirty limit its vcpus().share() of the rest.
    virtual void run(std::chrono::nanoseconds d, int held_pct) = 0;
    // Moves the pages written since the last harvest into the dirty set, as
    // a kernel mechanism would, and returns how many were newly dirty.
    virtual Result<uint64_t> harvest(Tracker& tracker) = 0;
    // A harvest between syncs, as KVM's ring reaper or userfaultfd's faults
    // mark pages while a round runs: the newly dirty pages are reported at
    // the next sync, beside its own (as KvmRingSource reports its reaper's).
    Status reap(Tracker& tracker);
    uint64_t take_reaped() { return std::exchange(reaped_, 0); }

    // --- the sender's side of the dirty set -----------------------------------------
    virtual double dirty_pages() const = 0;  // in the dirty set now
    virtual void discard_dirty() = 0;        // the start: round 1 copies everything anyway
    // A round starts at the first page: every page (round 1) or the dirty ones.
    virtual void begin_sweep(bool every_page) = 0;
    virtual SimulatedPages ahead() const = 0;  // what this sweep still has to take
    // Takes the next `fraction` (0..1] of what is ahead, in page order, out of
    // the dirty set, and returns what it took (a guest that takes in chunks
    // may take a little more).
    virtual SimulatedPages take(double fraction) = 0;

    // --- hot-page deferral (hot_page_deferral.hpp) ------------------------------------
    // After a round sync: records which pages are dirty now in the guest's
    // history. Then hot_pages(k): how many of them were dirty at each of the
    // last k round syncs (the deferred ones included); 0 when the guest
    // cannot tell, and then nothing is deferred.
    virtual void observe_dirty() {}
    virtual double hot_pages(int /*k*/) const { return 0; }
    // Keeps `pages` of those in the dirty set but out of the next sweep; 0
    // releases them all (the final round sends them).
    virtual void defer(double /*pages*/) {}
    // A guest that knows its pages decides with the sender's own policy
    // (HotPageDeferral) on them, keeps those pages out of the next sweep and
    // returns how many; nullopt: decided by count (hot_pages(), defer()).
    virtual std::optional<double> plan_deferral(const HotPageDeferralOptions& /*options*/, double /*capacity*/) {
        return std::nullopt;
    }

    // The dirty limit's view of the vCPUs (simulated_vcpus.hpp): limit_vcpus()
    // gives the guest its vCPUs under a limit, or says why it cannot.
    virtual Status limit_vcpus() = 0;
    // QEMU's actuator in place of a share of every slice: a limited vCPU
    // sleeps only when its dirty ring of `ring_entries` fills (after
    // limit_vcpus()). Only a guest that knows its pages can tell when.
    virtual Status sleep_at_ring_full(uint64_t /*ring_entries*/) {
        return Error{EINVAL, "ring-full sleeps need the guest's pages, which a model does not have",
                     "simulate a recording (--trace), or sleep a share of each slice"};
    }
    SimulatedVcpus& vcpus() { return vcpus_; }

protected:
    virtual Status add_regions(Tracker&) { return Ok{}; }
    SimulatedVcpus vcpus_;

private:
    uint64_t reaped_ = 0;  // newly dirty pages reap() found since the last sync
};

struct SimulationOptions {
    uint64_t bandwidth = 0;  // wire bytes/s (required)
    std::chrono::milliseconds downtime_limit{300};
    bool auto_converge = false;
    // The watcher's threshold; nullopt: no background sync. Without
    // auto_converge nothing consumes its syncs, so it stays off (as in dtvm).
    std::optional<std::chrono::milliseconds> background_sync;
    // round_time: the threshold is a round's time since the last sync;
    // periodic: QEMU 9.2's timer, the threshold its period (watcher.hpp).
    SyncTrigger background_sync_trigger = SyncTrigger::round_time;
    ThrottleOptions throttle{};
    // Hot-page deferral, decided by the sender's rule (deferred_pages()) on
    // the guest's own count of hot pages (SimulatedGuest::observe_hot).
    std::optional<HotPageDeferralOptions> defer_hot;
    // The per-vCPU dirty limit, as dtvm wires it (tools/dtvm/modes/vcpu_dirty_limit.hpp):
    // engaged when auto-converge's trigger fires, the watcher syncing every
    // period. Not with auto_converge.
    std::optional<DirtyLimitOptions> dirty_limit;
    // Where a limited vCPU sleeps: nullopt, its share of every 10 ms slice
    // (dtvm's --dirty-limit-sleep slice); a ring size, at its dirty ring's
    // fills (ring-full, QEMU 8.1's; SimulatedGuest::sleep_at_ring_full).
    std::optional<uint64_t> ring_full_entries;
    // How often the source moves pages into the dirty set while a round
    // runs. nullopt: only at syncs (KVM's dirty log, QEMU's bitmap), so a
    // page written during a round waits for the next one. A period: as they
    // come (KVM's ring with a reaper, as dtvm and QEMU run it; userfaultfd),
    // so a page written ahead of the sender's cursor goes in this round.
    std::optional<std::chrono::milliseconds> reap_every;
    uint32_t batch_pages = 64;  // pages per wire record, for the wire overhead
    // Compression and the sent-page cache, and what a page write changes:
    // what a page costs on the wire (page_bytes_model.hpp).
    PageBytesOptions page_bytes{};
    // The sender's own pace, pages per second that it reads, compresses and
    // sends whole, whatever the link: a step takes the longer of its bytes
    // at the bandwidth and its pages sent whole at this pace (a zero page
    // costs the sender a read and goes as a flag, a delta a compare with the
    // cached copy: next to nothing). 0: no limit (a link-bound sender).
    // Where it binds: compression on a fast link, or a round 1 of
    // compressible pages (their bytes are few, their pages not).
    double sender_pages_per_s = 0;
    // Switchover ends with both sides hashing all guest memory (the END
    // record's digest, sender.cpp) while the guest stays paused: this many
    // bytes/s of it, in the downtime and the total. 0: not counted.
    double digest_bytes_per_s = 0;
    // The simulated migration gives up after this long (the real sender goes on).
    std::chrono::nanoseconds max_time = std::chrono::hours(24);
};

struct SimulatedRound {
    uint64_t round = 0;
    double start_s = 0, seconds = 0;
    double pages = 0, zero_pages = 0;  // sent in it
    uint64_t background_syncs = 0;     // during it
    int throttle_pct = 0;              // at its end
    double remaining_pages = 0;        // dirty at the sync after it
};

struct SimulatedThrottleStep {
    double at_s = 0;
    int pct = 0;
    SyncKind after = SyncKind::round;
};

// One vCPU's rate and sleep share as the dirty limit decided them, each period.
struct SimulatedLimitSample {
    double at_s = 0;
    uint32_t vcpu = 0;
    double rate = 0;   // pages/s over the period
    double share = 0;  // from here on
};

struct SimulationResult {
    enum class Verdict {
        converged,
        stuck,      // the throttle (or the dirty limit) can do no more and the rounds stopped shrinking
        timed_out,  // max_time passed
        failed,     // a harvest failed (a damaged recording)
    };
    Verdict verdict = Verdict::failed;
    std::string why;      // for all but converged
    uint64_t rounds = 0;  // including the final one
    uint64_t round_syncs = 0, background_syncs = 0;
    double total_s = 0;               // until the final round has been sent
    double downtime_s = 0;            // the final round's time (the guest paused)
    double estimated_downtime_s = 0;  // the sender's last estimate before switchover
    double pages_sent = 0, zero_pages_sent = 0, bytes_on_wire = 0;
    double deferred_pages = 0;    // hot-page deferral: pages kept back, summed over the rounds
    double delta_pages_sent = 0;  // sent as deltas (page_bytes_model.hpp)
    double guest_bytes = 0;       // the guest's memory: what round 1 sends
    std::vector<SimulatedThrottleStep> throttle;
    std::vector<SimulatedRound> round_log;
    int final_throttle_pct = 0;
    std::optional<double> dirty_limit_engaged_s;  // when the dirty limit engaged; nullopt: never
    std::vector<SimulatedLimitSample> dirty_limit;

    bool converged() const { return verdict == Verdict::converged; }
    // Bytes on the wire per byte of guest memory (1 and a little: one pass, nothing re-sent).
    double bytes_per_guest_byte() const { return guest_bytes > 0 ? bytes_on_wire / guest_bytes : 0; }
};
const char* to_string(SimulationResult::Verdict verdict);

// Runs one simulated migration. The guest is attached to a Tracker of the
// simulation's own and left in its end state.
SimulationResult simulate_precopy(SimulatedGuest& guest, const SimulationOptions& options);

// What the simulation leaves out with these options, one sentence each, for the output.
std::vector<std::string> simulation_leaves_out(const SimulationOptions& options);

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
