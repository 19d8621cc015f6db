// dtrack simulate: a precopy migration of a modelled or recorded guest,
// simulated with the engine's own Rounds, Watcher, Throttle and DirtyLimit
// on a manual clock: does it converge, in how long, with what downtime and
// throttle, with and without the background sync (or the dirty limit),
// side by side.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <memory>

#include "commands.hpp"
#include "dtrack/dirty_limit_options.hpp"
#include "dtrack/precopy/guest_model.hpp"
#include "dtrack/precopy/send_less_options.hpp"
#include "dtrack/precopy/simulation.hpp"
#include "dtrack/precopy/trace_guest.hpp"
#include "dtrack/units.hpp"
#include "shared/max_memory.hpp"
#include "simulate/harvest_choice.hpp"
#include "simulate/limit_sleep.hpp"
#include "simulate/sender_pace.hpp"

namespace dtrack::cli {

namespace {

using precopy::SimulationResult;

struct SimulateOptions {
    std::string trace;
    std::string peak;    // --trace: one vCPU's rate flat out
    uint32_t vcpus = 0;  // --trace: the guest's vCPUs, where the recording does not know them
    std::string model;
    std::string bandwidth;
    std::string downtime = "300ms";
    bool auto_converge = false;
    std::string background_sync = "5s";
    bool defer_hot = false;
    std::string defer_hot_rounds;       // empty: the policy's default
    std::string background_sync_every;  // QEMU 9.2's periodic sync, a column of its own; empty: none
    std::string max_time = "24h";
    std::string max_memory = default_max_memory;  // --trace: what the replay may hold
    bool json = false;
    std::string compress = "none", xbzrle_cache = "0";  // --compress, --xbzrle-cache
    int compress_level = 0;
    uint64_t write_bytes = precopy::max_write_bytes;
    std::string dirty_limit, dirty_limit_period = "1s";  // --dirty-limit RATE; empty: none
    std::string zero_pages;                              // --trace: zero memory at the start; empty: none
    std::string start_at;                                // --trace: the migration's start in the recording
    std::string harvest;                                 // sync|continuous; empty: from the recording's method
    SenderPaceFlags sender_pace;                         // --sender-rate, --digest-rate
    LimitSleepFlags limit_sleep;                         // --dirty-limit-sleep, --ring-size
};

int usage_error(const Error& e) {
    std::fprintf(stderr, "dtrack simulate: %s\n", e.message().c_str());
    return exit_usage;
}

// One simulated migration, labelled for the table.
struct Column {
    std::string label;
    std::optional<std::chrono::milliseconds> background_sync;
    SyncTrigger trigger = SyncTrigger::round_time;
    SimulationResult result;
    bool dirty_limit = false;  // this column runs with --dirty-limit
};

std::string seconds_text(double s) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", s);
    return b;
}

std::string throttle_steps(const SimulationResult& r) {
    if (r.throttle.empty()) return "0";
    return std::to_string(r.throttle.size()) + " (" + std::to_string(r.throttle.back().pct) + "%)";
}

std::string timeline(const SimulationResult& r) {
    if (r.throttle.empty()) return "never engaged";
    std::string s;
    for (const auto& step : r.throttle) {
        char b[64];
        std::snprintf(b, sizeof b, "%s%d%% at %.1f s (%s)", s.empty() ? "" : ", ", step.pct, step.at_s,
                      step.after == SyncKind::background ? "background" : "round");
        s += b;
    }
    return s;
}

std::string limit_timeline(const SimulationResult& r) {
    if (!r.dirty_limit_engaged_s) return "never engaged";
    char b[64];
    std::snprintf(b, sizeof b, "engaged at %.1f s; last sleep shares:", *r.dirty_limit_engaged_s);
    std::string s = b;
    if (r.dirty_limit.empty()) return s + " none decided yet";
    const double last = r.dirty_limit.back().at_s;
    for (const auto& l : r.dirty_limit) {
        if (l.at_s != last) continue;
        std::snprintf(b, sizeof b, " vCPU %u %.1f%% (%s pages/s)", l.vcpu, l.share * 100, format_count(l.rate).c_str());
        s += b;
    }
    return s;
}

nlohmann::json limit_json(const SimulationResult& r) {
    nlohmann::json samples = nlohmann::json::array();
    for (const auto& l : r.dirty_limit)
        samples.push_back({{"at_s", l.at_s}, {"vcpu", l.vcpu}, {"rate", l.rate}, {"share", l.share}});
    return {{"engaged_s", r.dirty_limit_engaged_s ? nlohmann::json(*r.dirty_limit_engaged_s) : nullptr},
            {"periods", samples}};
}

nlohmann::json to_json(const Column& c) {
    const SimulationResult& r = c.result;
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : r.throttle)
        steps.push_back(
            {{"at_s", s.at_s}, {"pct", s.pct}, {"sync", s.after == SyncKind::background ? "background" : "round"}});
    nlohmann::json rounds = nlohmann::json::array();
    for (const auto& l : r.round_log)
        rounds.push_back({{"round", l.round},
                          {"start_s", l.start_s},
                          {"seconds", l.seconds},
                          {"pages", l.pages},
                          {"zero_pages", l.zero_pages},
                          {"background_syncs", l.background_syncs},
                          {"throttle_pct", l.throttle_pct},
                          {"remaining_pages", l.remaining_pages}});
    nlohmann::json j{{"background_sync_ms", c.background_sync ? nlohmann::json(c.background_sync->count()) : nullptr},
                     {"background_sync_trigger", c.background_sync ? nlohmann::json(to_string(c.trigger)) : nullptr},
                     {"verdict", precopy::to_string(r.verdict)},
                     {"converges", r.converged()},
                     {"total_s", r.total_s},
                     {"rounds", r.rounds},
                     {"round_syncs", r.round_syncs},
                     {"background_syncs", r.background_syncs},
                     {"downtime_s", r.converged() ? nlohmann::json(r.downtime_s) : nullptr},
                     {"throttle_steps", r.throttle.size()},
                     {"final_throttle_pct", r.final_throttle_pct},
                     {"throttle", steps},
                     {"bytes_on_wire", r.bytes_on_wire},
                     {"deferred_pages", r.deferred_pages},
                     {"delta_pages", r.delta_pages_sent},
                     {"guest_bytes", r.guest_bytes},
                     {"bytes_per_guest_byte", r.bytes_per_guest_byte()},
                     {"round_log", rounds}};
    if (c.dirty_limit) j["dirty_limit"] = limit_json(r);
    if (!r.converged()) j["why"] = r.why;
    return j;
}

void print_table(const std::vector<Column>& cols) {
    auto row = [&](const char* name, auto value) {
        std::printf("%-30s", name);
        for (const Column& c : cols) std::printf(" %22s", value(c.result).c_str());
        std::printf("\n");
    };
    std::printf("%-30s", "");
    for (const Column& c : cols) std::printf(" %22s", c.label.c_str());
    std::printf("\n");
    row("converges", [](const SimulationResult& r) { return std::string(r.converged() ? "yes" : "no"); });
    row("total migration time, s", [](const SimulationResult& r) { return seconds_text(r.total_s); });
    row("rounds", [](const SimulationResult& r) { return std::to_string(r.rounds); });
    row("round syncs", [](const SimulationResult& r) { return std::to_string(r.round_syncs); });
    row("background syncs", [](const SimulationResult& r) { return std::to_string(r.background_syncs); });
    row("throttle steps (last)", throttle_steps);
    row("downtime, ms",
        [](const SimulationResult& r) { return r.converged() ? seconds_text(r.downtime_s * 1000) : std::string("-"); });
    row("sent", [](const SimulationResult& r) { return format_bytes(r.bytes_on_wire); });
    row("pages deferred (page-rounds)",
        [](const SimulationResult& r) { return std::to_string(std::llround(r.deferred_pages)); });
    row("delta pages", [](const SimulationResult& r) { return format_count(r.delta_pages_sent); });
    row("sent per byte of guest memory", [](const SimulationResult& r) {
        char b[32];
        std::snprintf(b, sizeof b, "%.2f", r.bytes_per_guest_byte());
        return std::string(b);
    });
    for (const Column& c : cols) {
        std::printf("throttle, %s: %s\n", c.label.c_str(), timeline(c.result).c_str());
        if (c.dirty_limit) std::printf("dirty limit, %s: %s\n", c.label.c_str(), limit_timeline(c.result).c_str());
        if (!c.result.converged()) std::printf("%s: %s\n", c.label.c_str(), c.result.why.c_str());
    }
    if (cols.size() == 2 && cols[0].result.converged() && cols[1].result.converged() && cols[1].result.total_s > 0) {
        const double with = cols[0].result.total_s, without = cols[1].result.total_s;
        std::printf("the background sync %s the total migration time by %.0f%%\n", with <= without ? "cut" : "added to",
                    100 * std::abs(without - with) / without);
    }
}

// The options, checked.
struct SimulatePlan {
    uint64_t max_memory = 0;
    precopy::TraceReplay replay;
    uint64_t bandwidth = 0;
    std::chrono::nanoseconds downtime{};
    std::chrono::nanoseconds max_time{};
    std::optional<std::chrono::milliseconds> threshold;  // --background-sync; none: off
    std::optional<HotPageDeferralOptions> defer_hot;
    precopy::PageBytesOptions page_bytes;             // --compress, --xbzrle-cache, --write-bytes
    std::optional<std::chrono::milliseconds> period;  // --background-sync-every; none: not given
    uint64_t page_size = 4096;                        // the guest's, once it is open
    std::optional<DirtyLimitOptions> dirty_limit;     // --dirty-limit in the guest's pages, once it is open
    uint64_t zero_bytes = 0;                          // --zero-pages, in the recording's pages once it is open
    std::chrono::nanoseconds start_at{};              // --start-at
    HarvestChoice harvest;                            // --harvest, once the guest is open
    SenderPace sender_pace;                           // --sender-rate, --digest-rate
    std::optional<uint64_t> ring_full_entries;        // --dirty-limit-sleep ring-full: the ring size
};

// --dirty-limit and --dirty-limit-period, the quota in pages of `page_size`,
// as dtvm takes them; the limit decides as dtvm's does (99.9% at most, its Pacer::kMaxShare).
Result<std::optional<DirtyLimitOptions>> plan_dirty_limit(const SimulateOptions& o, uint64_t page_size) {
    auto period = parse_dirty_limit_period(o.dirty_limit_period);
    if (!period) return period.error();
    if (o.dirty_limit.empty()) return std::optional<DirtyLimitOptions>();
    if (o.auto_converge)
        return Error{EINVAL,
                     "--dirty-limit and --auto-converge exclude each other (as QEMU's dirty-limit and "
                     "auto-converge capabilities do): both answer the same trigger",
                     "choose one: --dirty-limit slows only the vCPUs that dirty memory, --auto-converge slows "
                     "every vCPU alike"};
    auto quota = parse_pages_per_second(o.dirty_limit, page_size, "--dirty-limit");
    if (!quota) return quota.error();
    return std::optional(DirtyLimitOptions{.quota = *quota, .period = *period, .max_share = 0.999});
}

// --compress, --compress-level, --xbzrle-cache, --write-bytes.
Result<precopy::PageBytesOptions> plan_page_bytes(const SimulateOptions& o) {
    auto compression = precopy::parse_compression_choice(o.compress, o.compress_level);
    if (!compression) return compression.error();
    // The guest's size is not known yet: the model holds no more than its pages.
    auto cache = precopy::parse_xbzrle_cache(o.xbzrle_cache, precopy::max_xbzrle_cache_bytes);
    if (!cache) return cache.error();
    if (Status s = precopy::check_write_bytes(o.write_bytes); !s) return s.error();
    return precopy::PageBytesOptions{.compression = compression->method,
                                     .compression_level = compression->level,
                                     .xbzrle_cache_bytes = *cache,
                                     .write_bytes = static_cast<uint32_t>(o.write_bytes)};
}

// --model or --trace, and what goes with each.
Status check_guest_options(const SimulateOptions& o) {
    if (o.trace.empty() == o.model.empty())
        return Error{EINVAL, o.trace.empty() ? "nothing to simulate" : "--trace and --model exclude each other",
                     "give --model mem=...,wss=...,rate=... or --trace FILE"};
    if (o.bandwidth.empty())
        return Error{EINVAL, "--bandwidth is missing: a migration's time depends on its link",
                     "give the link's bytes/s, e.g. --bandwidth 10G"};
    if (!o.model.empty() && (!o.peak.empty() || o.vcpus))
        return Error{EINVAL, "--peak and --vcpus describe a recorded guest",
                     "with --model, give them as peak= and vcpus= in the model"};
    if (!o.model.empty() && !o.zero_pages.empty())
        return Error{EINVAL, "--zero-pages describes a recorded guest", "with --model, give zero= in the model"};
    if (!o.model.empty() && !o.start_at.empty())
        return Error{EINVAL, "--start-at is a time in a recording", "leave it out with --model"};
    return Ok{};
}

// --background-sync and --background-sync-every: a duration of 4 ms or more, or off (nullopt).
Result<std::optional<std::chrono::milliseconds>> parse_sync_duration(const std::string& typed, const char* option) {
    if (typed == "off") return std::optional<std::chrono::milliseconds>();
    auto t = parse_duration(typed, option);
    if (!t) return t.error();
    if (*t < std::chrono::milliseconds(4))
        return Error{EINVAL, std::string(option) + " " + typed + " is too short", "give a time such as 5s, or off"};
    return std::optional(std::chrono::duration_cast<std::chrono::milliseconds>(*t));
}

Result<SimulatePlan> plan_simulate(const SimulateOptions& o) {
    if (Status s = check_guest_options(o); !s) return s.error();
    SimulatePlan p;
    auto max_memory = parse_max_memory(o.max_memory);
    if (!max_memory) return max_memory.error();
    p.max_memory = *max_memory;
    // Half for the replay's two bitmaps, an eighth for an interval read from the file.
    p.replay = {.vcpus = o.vcpus, .max_bitmap_bytes = *max_memory / 2};
    if (!o.peak.empty()) {
        auto peak = parse_bytes_per_second(o.peak, "--peak");
        if (!peak) return peak.error();
        if (*peak == 0) return Error{EINVAL, "--peak 0: a vCPU that never writes", "give e.g. --peak 200M"};
        p.replay.peak = double(*peak);
    }
    auto bandwidth = parse_bytes_per_second(o.bandwidth, "--bandwidth");
    if (!bandwidth) return bandwidth.error();
    if (*bandwidth == 0) return Error{EINVAL, "--bandwidth 0 moves nothing", "give e.g. --bandwidth 10G"};
    p.bandwidth = *bandwidth;
    auto downtime = parse_duration(o.downtime, "--downtime");
    if (!downtime) return downtime.error();
    p.downtime = *downtime;
    auto max_time = parse_duration(o.max_time, "--max-time");
    if (!max_time) return max_time.error();
    if (max_time->count() <= 0) return Error{EINVAL, "--max-time 0 simulates nothing", "give e.g. 24h"};
    p.max_time = *max_time;
    auto threshold = parse_sync_duration(o.background_sync, "--background-sync");
    if (!threshold) return threshold.error();
    p.threshold = *threshold;
    if (!o.background_sync_every.empty()) {
        auto period = parse_sync_duration(o.background_sync_every, "--background-sync-every");
        if (!period) return period.error();
        if (!*period) return Error{EINVAL, "--background-sync-every off: leave it out instead", "give e.g. 5s"};
        p.period = *period;
    }
    auto defer_hot = parse_defer_hot_options(o.defer_hot, o.defer_hot_rounds);
    if (!defer_hot) return defer_hot.error();
    p.defer_hot = *defer_hot;
    auto page_bytes = plan_page_bytes(o);
    if (!page_bytes) return page_bytes.error();
    p.page_bytes = *page_bytes;
    if (!o.zero_pages.empty()) {
        auto zero = parse_size(o.zero_pages, "--zero-pages");
        if (!zero || o.zero_pages[0] == '-')
            return Error{EINVAL, "--zero-pages " + o.zero_pages + " is not a size",
                         "give the guest's zero memory as a size, e.g. 96M"};
        p.zero_bytes = *zero;
    }
    if (!o.start_at.empty()) {
        auto at = parse_duration(o.start_at, "--start-at");
        if (!at) return at.error();
        p.start_at = *at;
    }
    auto ring_full = parse_limit_sleep(o.limit_sleep, !o.dirty_limit.empty());
    if (!ring_full) return ring_full.error();
    if (*ring_full && !o.model.empty())
        return Error{EINVAL, "--dirty-limit-sleep ring-full needs the guest's pages, which a model does not have",
                     "simulate a recording (--trace), or leave --dirty-limit-sleep at slice"};
    p.ring_full_entries = *ring_full;
    auto pace = parse_sender_pace(o.sender_pace);
    if (!pace) return pace.error();
    p.sender_pace = *pace;
    return p;
}

// --zero-pages against the recording's memory: at most all of it, in its pages.
Status plan_zero_pages(const recording::Header& h, SimulatePlan& p) {
    uint64_t memory = 0;
    for (const Region& r : h.regions) memory += r.page_count * r.page_size;
    if (p.zero_bytes > memory)
        return Error{EINVAL,
                     "--zero-pages " + format_bytes(double(p.zero_bytes)) + " is more than the recording's " +
                         format_bytes(double(memory)) + " of memory",
                     "give at most the guest's memory: QEMU's info migrate 'zero pages' of a previous attempt, or "
                     "the guest's free memory that it has never written"};
    if (!h.regions.empty()) p.replay.zero_pages = p.zero_bytes / h.regions.front().page_size;
    return Ok{};
}

// The guest: a model, or a recording each column replays from its start.
// Each column gets a guest of its own, in the same initial state.
struct GuestToSimulate {
    std::optional<precopy::GuestModel> model;
    std::unique_ptr<precopy::IntervalSource> recording;
    std::string description;  // the first simulated guest's: the policy's run
};

// Opens the guest; where it cannot, says why and returns the exit code.
int open_guest(const SimulateOptions& o, SimulatePlan& p, GuestToSimulate& guest) {
    if (!o.model.empty()) {
        auto m = precopy::parse_guest_model(o.model);
        if (!m) return usage_error(m.error());
        guest.model = *m;
        p.page_size = m->page_size;
        auto limit = plan_dirty_limit(o, p.page_size);
        if (!limit) return usage_error(limit.error());
        p.dirty_limit = *limit;
        return exit_ok;
    }
    auto r =
        precopy::open_recording_trace(o.trace, {.interval_bytes = p.max_memory / 8}, raise_max_memory(p.max_memory));
    if (!r) {
        // A path that names no readable file is bad input; a file that is
        // not a readable recording (foreign, newer, damaged) a failure.
        const int e = r.error().errno_value;
        if (e == ENOENT || e == EACCES || e == EISDIR || e == ENOTDIR) return usage_error(r.error());
        std::fprintf(stderr, "dtrack simulate: %s\n", r.error().message().c_str());
        return exit_failure;
    }
    guest.recording = std::move(*r);
    if (Status s = plan_zero_pages(guest.recording->header(), p); !s) return usage_error(s.error());
    if (!guest.recording->header().regions.empty()) p.page_size = guest.recording->header().regions[0].page_size;
    auto limit = plan_dirty_limit(o, p.page_size);
    if (!limit) return usage_error(limit.error());
    p.dirty_limit = *limit;
    if (p.dirty_limit && p.replay.vcpus == 0 && guest.recording->header().vcpus == 0)
        return usage_error(
            {EINVAL,
             "--dirty-limit acts per vCPU, and the recording (method " + guest.recording->header().method +
                 ") has no per-vCPU counts nor a vCPU count",
             "give the guest's vCPUs with --vcpus N (its writes are then taken as spread evenly over "
             "them), or record with per-vCPU counts (dtrack record --method bpf, or dtvm --record --track ring on "
             "KVM)"});
    if (p.replay.peak > 0 && p.replay.vcpus == 0 && guest.recording->header().vcpus == 0)
        return usage_error({EINVAL,
                            "--peak is per vCPU, and the recording (method " + guest.recording->header().method +
                                ") does not know the guest's vCPUs",
                            "give their number with --vcpus N"});
    return exit_ok;
}

Result<SimulationResult> simulate(GuestToSimulate& g, const SimulateOptions& o, const SimulatePlan& p,
                                  const Column& c) {
    precopy::SimulationOptions so{.bandwidth = p.bandwidth,
                                  .downtime_limit = std::chrono::duration_cast<std::chrono::milliseconds>(p.downtime),
                                  .auto_converge = o.auto_converge,
                                  .background_sync = c.background_sync,
                                  .background_sync_trigger = c.trigger,
                                  .defer_hot = p.defer_hot,
                                  .reap_every = p.harvest.reap_every,
                                  .page_bytes = p.page_bytes,
                                  .sender_pages_per_s = p.sender_pace.pages_per_s,
                                  .digest_bytes_per_s = p.sender_pace.digest_bytes_per_s,
                                  .max_time = p.max_time};
    if (c.dirty_limit) {
        so.dirty_limit = p.dirty_limit;
        so.ring_full_entries = p.ring_full_entries;
    }
    if (g.model) {
        precopy::ModelGuest guest(*g.model);
        if (g.description.empty()) g.description = guest.describe();
        return precopy::simulate_precopy(guest, so);
    }
    if (Status s = g.recording->rewind(); !s) return s.error();
    auto guest = precopy::TraceGuest::open(*g.recording, p.replay);
    if (!guest) {
        Error e = guest.error();
        if (e.errno_value == EFBIG) e.fix = raise_max_memory(p.max_memory);
        return e;
    }
    if (Status s = (*guest)->start_at(p.start_at); !s) return s.error();
    SimulationResult r = precopy::simulate_precopy(**guest, so);
    if (g.description.empty()) g.description = (*guest)->describe();  // after: it says how the limit saw the vCPUs
    return r;
}

void print_json(const SimulateOptions& o, const SimulatePlan& p, const std::string& description,
                const std::vector<Column>& cols, const std::vector<std::string>& left_out) {
    nlohmann::json runs = nlohmann::json::array();
    for (const Column& c : cols) runs.push_back(to_json(c));
    nlohmann::json doc{
        {"guest", description},
        {"bandwidth", p.bandwidth},
        {"downtime_limit_ms", std::chrono::duration_cast<std::chrono::milliseconds>(p.downtime).count()},
        {"auto_converge", o.auto_converge},
        {"defer_hot_rounds", p.defer_hot ? nlohmann::json(p.defer_hot->rounds) : nullptr},
        {"compression", precopy::to_string(p.page_bytes.compression)},
        {"xbzrle_cache_bytes", p.page_bytes.xbzrle_cache_bytes},
        {"write_bytes", p.page_bytes.write_bytes},
        {"harvest", p.harvest.reap_every ? "continuous" : "sync"},
        {"dirty_limit_sleep", p.ring_full_entries ? "ring-full" : "slice"},
        {"sender_pages_per_s",
         p.sender_pace.pages_per_s > 0 ? nlohmann::json(p.sender_pace.pages_per_s) : nlohmann::json(nullptr)},
        {"digest_bytes_per_s", p.sender_pace.digest_bytes_per_s > 0 ? nlohmann::json(p.sender_pace.digest_bytes_per_s)
                                                                    : nlohmann::json(nullptr)},
        {"runs", runs},
        {"left_out", left_out}};
    std::printf("%s\n", doc.dump(2).c_str());
}

void print_text(const SimulateOptions& o, const SimulatePlan& p, const std::string& description,
                const std::vector<Column>& cols, const std::vector<std::string>& left_out) {
    std::printf("dtrack simulate: %s\n", description.c_str());
    std::printf("  bandwidth %s/s, downtime limit %lld ms, auto-converge %s, background sync %s\n",
                format_bytes(double(p.bandwidth)).c_str(),
                (long long)std::chrono::duration_cast<std::chrono::milliseconds>(p.downtime).count(),
                o.auto_converge ? "on" : "off",
                !p.threshold      ? "off"
                : o.auto_converge ? (std::to_string(p.threshold->count()) + " ms against none").c_str()
                                  : "off (nothing consumes it without --auto-converge)");
    if (p.defer_hot)
        std::printf("  hot-page deferral: pages dirty %d rounds running, as many as the final round carries\n",
                    p.defer_hot->rounds);
    const precopy::PageBytesOptions& b = p.page_bytes;
    std::printf("  compression %s, xbzrle cache %s, a page write changes %u bytes\n", precopy::to_string(b.compression),
                b.xbzrle_cache_bytes ? format_bytes(double(b.xbzrle_cache_bytes)).c_str() : "off", b.write_bytes);
    if (p.dirty_limit)
        std::printf(
            "  dirty limit %.0f pages/s (%s/s) per vCPU, period %lld ms, once the guest dirties more than half "
            "of what is sent; %s\n",
            p.dirty_limit->quota, format_bytes(p.dirty_limit->quota * double(p.page_size)).c_str(),
            (long long)p.dirty_limit->period.count(),
            p.ring_full_entries
                ? ("sleeping when a " + std::to_string(*p.ring_full_entries) + "-entry ring fills").c_str()
                : "sleeping a share of each 10 ms slice");
    if (p.period && o.auto_converge)
        std::printf("  periodic sync (QEMU 9.2's timer) every %lld ms beside it\n", (long long)p.period->count());
    std::printf("  harvest %s\n", p.harvest.why.c_str());
    if (p.sender_pace.pages_per_s > 0)
        std::printf("  the sender prepares at most %s pages/s\n", format_count(p.sender_pace.pages_per_s).c_str());
    if (p.sender_pace.digest_bytes_per_s > 0)
        std::printf("  switchover's digest hashes %s/s\n", format_bytes(p.sender_pace.digest_bytes_per_s).c_str());
    print_table(cols);
    std::printf("left out of the simulation:\n");
    for (const std::string& l : left_out) std::printf("  - %s\n", l.c_str());
}

int run_simulate(const SimulateOptions& o) {
    auto plan = plan_simulate(o);
    if (!plan) return usage_error(plan.error());
    SimulatePlan& p = *plan;
    GuestToSimulate guest;
    if (const int code = open_guest(o, p, guest); code != exit_ok) return code;
    auto harvest = choose_harvest(o.harvest, guest.recording ? &guest.recording->header().method : nullptr);
    if (!harvest) return usage_error(harvest.error());
    p.harvest = *harvest;

    std::vector<Column> cols;
    if (o.auto_converge && p.threshold) cols.push_back({"with background sync", p.threshold, {}, {}});
    if (o.auto_converge && p.period) cols.push_back({"periodic sync", p.period, SyncTrigger::periodic, {}});
    if (p.dirty_limit) cols.push_back({"dirty limit", std::nullopt, {}, {}, true});
    cols.push_back({"without", std::nullopt, {}, {}});
    for (Column& c : cols) {
        auto r = simulate(guest, o, p, c);
        if (!r && r.error().errno_value == EFBIG) {  // a recording over --max-memory: no usage error
            std::fprintf(stderr, "dtrack simulate: %s\n", r.error().message().c_str());
            return exit_failure;
        }
        if (!r) return usage_error(r.error());
        c.result = *r;
    }
    bool failed = false;
    for (const Column& c : cols) failed |= c.result.verdict == SimulationResult::Verdict::failed;

    const auto left_out = precopy::simulation_leaves_out(
        {.sender_pages_per_s = p.sender_pace.pages_per_s, .digest_bytes_per_s = p.sender_pace.digest_bytes_per_s});
    if (o.json) print_json(o, p, guest.description, cols, left_out);
    else print_text(o, p, guest.description, cols, left_out);
    return failed ? exit_failure : exit_ok;
}

// --trace and what describes the recorded guest.
void add_trace_options(CLI::App* cmd, SimulateOptions& o) {
    cmd->add_option("--trace", o.trace, "a recording of the guest (dtrack record) to replay");
    cmd->add_option("--peak", o.peak,
                    "--trace: one vCPU's write rate flat out, bytes/s (default: the vCPUs were busy writing)");
    cmd->add_option("--vcpus", o.vcpus, "--trace: the guest's vCPUs, for --peak (default: the recording's)");
    cmd->add_option("--zero-pages", o.zero_pages,
                    "--trace: guest memory all zeros when the migration starts (QEMU's info migrate 'zero pages' of a "
                    "previous attempt, x the page size): round 1 sends it as flags unless the guest writes it first; "
                    "default 0")
        ->type_name("SIZE");
    cmd->add_option("--start-at", o.start_at,
                    "--trace: the migration starts this far into the recording (e.g. the guest's warmup): earlier "
                    "intervals are not replayed, and their pages are not --zero-pages; default 0")
        ->type_name("TIME");
    cmd->add_option("--harvest", o.harvest,
                    "sync: the source's record is read at syncs only (KVM's dirty log, QEMU's bitmap), so a page "
                    "written during a round waits for the next; continuous: as it is written (KVM's ring with a "
                    "reaper, userfaultfd), so a page ahead of the sender goes in the same round. Default: --trace "
                    "from the recording's method (kvm-ring, uffd, bpf: continuous), --model sync")
        ->type_name("sync|continuous");
    add_sender_pace_options(cmd, o.sender_pace);
}

}  // namespace

void add_simulate_command(CLI::App& app, ChosenCommand& chosen) {
    auto o = std::make_shared<SimulateOptions>();
    CLI::App* cmd = add_command(app, chosen, "simulate", "Simulate a precopy migration of a modelled or recorded guest",
                                o, run_simulate);
    cmd->add_option("--model", o->model,
                    "the guest: mem=SIZE,wss=SIZE,rate=BYTES/s[,vcpus=N][,hot=SIZE|PCT,hot-share=PCT]"
                    "[,peak=BYTES/s per vCPU flat out][,zero=SIZE of never-written memory]");
    add_trace_options(cmd, *o);
    cmd->add_option(
        "--bandwidth", o->bandwidth,
        "the link: bytes/s (10G = 10 GiB/s, binary) or bits/s as links are sold (10Gbit, 10Gbps: 1.25e9 bytes/s)");
    cmd->add_option("--downtime", o->downtime, "switch over once the rest fits in this pause")->capture_default_str();
    cmd->add_flag("--auto-converge", o->auto_converge, "throttle the vCPUs as QEMU does (20%, +10%, at most 99%)");
    cmd->add_option("--background-sync", o->background_sync,
                    "the watcher's threshold (e.g. 5s), simulated side by side with none; or off")
        ->capture_default_str();
    cmd->add_flag("--defer-hot", o->defer_hot,
                  "keep pages dirtied in each of the last K rounds back for the final round, as many as it "
                  "carries within --downtime (--trace: page by page, as the sender decides)");
    cmd->add_option("--defer-hot-rounds", o->defer_hot_rounds,
                    "K for --defer-hot: rounds a page must have been dirty in a row, 1 to 8 (default 2)");
    cmd->add_option("--background-sync-every", o->background_sync_every,
                    "QEMU 9.2's periodic sync: a timer every DUR (e.g. 5s) that syncs unless a sync happened since "
                    "its previous tick, simulated as a column of its own")
        ->type_name("DUR");
    cmd->add_option("--max-time", o->max_time, "give up on a simulated migration after this long")
        ->capture_default_str();
    cmd->add_option("--max-memory", o->max_memory,
                    "--trace: about the most memory the replay may take (its dirty bitmaps, 2 bits per page of the "
                    "recording's regions, half of it); a recording that needs more is refused, naming it")
        ->type_name("SIZE")
        ->capture_default_str();
    cmd->add_option("--compress", o->compress, "compressed page batches, as dtvm's: zstd or zlib; default none")
        ->expected(0, 1);
    cmd->add_option("--compress-level", o->compress_level, "zstd 1..19, zlib 1..9; 0 = the default (1)")
        ->capture_default_str();
    cmd->add_option(
           "--xbzrle-cache", o->xbzrle_cache,
           "the sent-page cache (e.g. 64M): a page sent again costs its delta when the cache holds it; 0 = off")
        ->capture_default_str();
    cmd->add_option("--write-bytes", o->write_bytes,
                    "bytes a page write changes, 8..4096 (recordings and models carry no contents): what a delta and "
                    "compression leave of a page; 4096 = no gain from either")
        ->capture_default_str();
    cmd->add_option("--dirty-limit", o->dirty_limit,
                    "hold each vCPU's dirty rate to RATE as dtvm's --dirty-limit: pages/s (1000, 50k) or bytes/s "
                    "(4M/s), per vCPU, once the guest dirties more than half of what is sent; simulated beside a run "
                    "without. --trace needs per-vCPU counts (the KVM dirty ring's) or --vcpus N (writes then spread "
                    "evenly). Not with --auto-converge")
        ->type_name("RATE");
    cmd->add_option("--dirty-limit-period", o->dirty_limit_period,
                    "measure each vCPU's rate and adjust its sleep this often (1ms-1s, as QEMU's); the watcher syncs "
                    "every period")
        ->capture_default_str();
    add_limit_sleep_options(cmd, o->limit_sleep);
    cmd->add_flag("--json", o->json, "one JSON document");
    cmd->footer(
        "The engine's own Rounds, Watcher (its tick() decision), Throttle and the sender's switchover decision run "
        "on a simulated clock; the link and the guest are simulated. --model: writes land uniformly at random on "
        "the working set (or its hot part, hot-share of them), so t seconds of writes at rate r dirty "
        "wss * (1 - exp(-r t / wss)); the throttle holds each vCPU pct% of the time, so the guest writes at "
        "min(rate, vcpus * peak * (1 - pct/100)) (peak defaults to rate / vcpus: busy vCPUs). --trace: each "
        "interval's pages are replayed through the interval, its rate r slowed by the throttle to "
        "min(r, vcpus * peak * (1 - pct/100)) (without --peak: r * (1 - pct/100)); the recording starts again when "
        "it ends. --dirty-limit: the engine's DirtyLimit decides each vCPU's sleep share from the pages reported "
        "for it at the watcher's sync every period, and the vCPU runs (1 - share) of the time (--model: each vCPU "
        "writes rate / vcpus; --trace: each interval's pages split over the vCPUs by the recording's per-vCPU "
        "counts, or evenly over --vcpus). The output says what the simulation leaves out.\n"
        "Example: dtrack simulate --model mem=1T,vcpus=128,wss=200G,rate=3G --bandwidth 10G --auto-converge\n"
        "Exit codes: 0 the simulation ran (converged or not: see the verdict), 1 it failed (a damaged recording, "
        "or one that needs more than --max-memory), 2 bad input (the message names the cause and the fix).");
}

}  // namespace dtrack::cli
