// dtvm --migrate-to: the running guest's memory sent to a dtvm --incoming.
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <optional>
#include <thread>

#include "dtrack/precopy/sender.hpp"
#include "dtrack/precopy/tcp.hpp"
#include "dtrack/throttle.hpp"
#include "dtrack/units.hpp"
#include "dtrack/watcher.hpp"
#include "dtvm/modes/migrate.hpp"
#include "dtvm/modes/migration_summary.hpp"
#include "dtvm/modes/tracked_guest.hpp"
#include "dtvm/modes/vcpu_dirty_limit.hpp"
#include "dtvm/options/options.hpp"
#include "dtvm/tracking/vm_precopy.hpp"

namespace dtvm {

namespace {

using namespace std::chrono_literals;

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// Every vCPU's page reads so far (a writer's: 0) and when: two of them give
// each reader's reads/s in between.
struct ReadCounts {
    std::chrono::steady_clock::time_point at;
    std::vector<uint64_t> reads;
};

ReadCounts read_counts(const Vm& vm) {
    ReadCounts counts{std::chrono::steady_clock::now(), {}};
    for (uint32_t v = 0; v < vm.vcpu_count(); ++v) counts.reads.push_back(vm.stats(v).reads);
    return counts;
}

double reads_per_s(const ReadCounts& from, const ReadCounts& to, uint32_t vcpu) {
    const double secs = seconds(to.at - from.at);
    return secs > 0 ? double(to.reads[vcpu] - from.reads[vcpu]) / secs : 0;
}

// The read counts the report compares: over the warm-up's second half, and
// over the migration. Not the whole warm-up: in its first moments the guest
// touches its memory for the first time, and each first touch is a fault to
// the host (tens of microseconds nested), which would make a reader's
// undisturbed rate look lower than it is.
struct ReaderProgress {
    ReadCounts warmup_half, warmed_up, migration_started, migration_ended;
};

// "reader vCPU 2: 1.2M reads/s over the migration, 2.4M reads/s over the
// warm-up before it (50%)": what the throttle cost the vCPUs that dirty
// nothing. The migration's time ends where the guest stopped for good.
// Returns the rates printed, for the JSON summary.
std::vector<ReaderRate> print_reader_rates(const Vm& vm, const ReaderProgress& r) {
    std::vector<ReaderRate> rates;
    for (uint32_t v = 0; v < vm.vcpu_count(); ++v) {
        if (vm.role(v) != VcpuRole::reader) continue;
        const double during = reads_per_s(r.migration_started, r.migration_ended, v);
        const double before = reads_per_s(r.warmup_half, r.warmed_up, v);
        rates.push_back({v, during, before});
        const std::string share = before > 0 ? " (" + std::to_string(std::lround(100 * during / before)) + "%)" : "";
        std::printf("reader vCPU %u: %s reads/s over the migration, %s reads/s over the warm-up before it%s\n", v,
                    dtrack::format_count(during).c_str(), dtrack::format_count(before).c_str(), share.c_str());
    }
    return rates;
}

// What is migrated where, and how: printed before the warm-up.
void print_plan(const Options& o, Tracking& tracking) {
    const MigrationOptions& m = *o.migrate;
    if (!o.backend_why.empty()) std::printf("%s\n", backend_line(o).c_str());
    std::printf("dtvm: migrating %s (%s, workload %s over %s, %s writes/s per vCPU, %s) to %s\n",
                dtrack::format_bytes(double(o.vm.mem_bytes)).c_str(), vcpu_count_description(o.vm).c_str(),
                pattern_name(o.workload.pattern).c_str(),
                dtrack::format_bytes(double(o.workload.wss_pages) * 4096).c_str(),
                o.workload.rate_per_vcpu ? dtrack::format_count(double(o.workload.rate_per_vcpu)).c_str() : "unlimited",
                tracking_description(tracking, o.tracking).c_str(), m.to.c_str());
    std::printf(
        "      bandwidth %s/s, downtime limit %lld ms, auto-converge %s, background sync %s, hot-page deferral %s, "
        "TLS %s\n",
        m.bandwidth ? dtrack::format_bytes(double(m.bandwidth)).c_str() : "unlimited", (long long)m.downtime.count(),
        m.auto_converge ? "on" : "off",
        m.background_sync && m.auto_converge
            ? ((m.background_sync_trigger == dtrack::SyncTrigger::periodic ? "every " : "") +
               std::to_string(m.background_sync->count()) + " ms")
                  .c_str()
            : (m.background_sync && !o.dirty_limit ? "off (nothing consumes it without --auto-converge)" : "off"),
        m.defer_hot ? ("pages dirty " + std::to_string(m.defer_hot->rounds) + " rounds running").c_str() : "off",
        o.tls.credentials ? o.tls.credentials->description().c_str() : "off");
    if (o.dirty_limit)
        std::printf(
            "      dirty limit %.0f pages/s (%s/s) per vCPU, period %lld ms, sleeping %s, once the guest "
            "dirties more than half of what is sent\n",
            o.dirty_limit->pages_per_s, dtrack::format_bytes(o.dirty_limit->pages_per_s * 4096).c_str(),
            (long long)o.dirty_limit->period.count(),
            o.vm.share_at == ShareAt::ring_full ? "at ring-full exits" : "a share of each 10 ms slice");
    std::fflush(stdout);
}

// The Sender's options, with a progress line per round.
dtrack::precopy::SenderOptions sender_options(const Options& o, const std::string& peer, bool terminal,
                                              const dtrack::Throttle& throttle, const dtrack::Rounds& rounds) {
    const MigrationOptions& m = *o.migrate;
    dtrack::precopy::SenderOptions so{.bandwidth = m.bandwidth,
                                      .downtime_limit = m.downtime,
                                      .max_time = m.max_time,
                                      .compression = m.compression,
                                      .compression_level = m.compression_level,
                                      .xbzrle_cache_bytes = m.xbzrle_cache_bytes,
                                      .tls = o.tls.credentials,
                                      .tls_peer_name = peer};
    so.defer_hot = m.defer_hot;
    so.progress = [terminal, &throttle, &rounds](const dtrack::precopy::Progress& p) {
        std::printf("%sround %3" PRIu64 "  remaining %8" PRIu64
                    " pages  bandwidth %9s/s  est. downtime %7.0f ms  "
                    "throttle %2d%%  background syncs %" PRIu64 "%s",
                    terminal ? "\r" : "  ", p.round, p.remaining_pages, dtrack::format_bytes(p.bandwidth).c_str(),
                    seconds(p.estimated_downtime) * 1000, throttle.pct(), rounds.syncs(dtrack::SyncKind::background),
                    terminal ? "" : "\n");
        std::fflush(stdout);
    };
    return so;
}

// What the migration did and what the throttle did meanwhile.
void print_outcome(const dtrack::precopy::Outcome& out, const std::vector<dtrack::ThrottleStep>& timeline,
                   std::chrono::steady_clock::time_point migration_start, uint64_t guest_bytes) {
    std::printf("migration: %s after %.2f s: %" PRIu64 " rounds, %" PRIu64 " round syncs, %" PRIu64
                " background syncs, %" PRIu64 " pages sent (%" PRIu64
                " zero), %s on the wire, %.2f bytes per byte of guest memory\n",
                dtrack::precopy::to_string(out.status), seconds(out.total_time), out.rounds, out.round_syncs,
                out.background_syncs, out.pages_sent, out.zero_pages,
                dtrack::format_bytes(double(out.bytes_on_wire)).c_str(),
                bytes_per_guest_byte(out.bytes_on_wire, guest_bytes));
    if (out.cache_hits + out.cache_misses + out.cache_overflows > 0)
        std::printf("xbzrle cache: %" PRIu64 " delta pages; %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64
                    " overflows\n",
                    out.delta_pages, out.cache_hits, out.cache_misses, out.cache_overflows);
    std::printf("throttle:");
    if (timeline.empty()) std::printf(" never engaged");
    for (const auto& s : timeline)
        std::printf(" %d%% at %.1f s (%s sync)", s.pct, seconds(s.at - migration_start),
                    s.after == dtrack::SyncKind::background ? "background" : "round");
    std::printf("\n");
}

// Pages the tracking reported so far, summed over its sources: each one a
// write the guest made to a page protected again since (a write fault, or a
// ring entry), the cost deferral can spare on the dirty log.
uint64_t pages_reported(const dtrack::Tracker& tracker) {
    uint64_t n = 0;
    for (const dtrack::SourceCounters& s : tracker.counters().sources) n += s.pages;
    return n;
}

// What the tracking reported meanwhile and, with --defer-hot, what was deferred.
void print_tracking_cost(const MigrationOptions& m, const dtrack::precopy::Outcome& out, uint64_t reported) {
    std::printf("tracking: %" PRIu64 " pages reported during the migration (each a write after re-protection)\n",
                reported);
    if (m.defer_hot)
        std::printf("hot-page deferral: %" PRIu64
                    " pages deferred (page-rounds: a page kept back in 3 rounds counts 3); the "
                    "pages still kept went in the final round\n",
                    out.deferred_pages);
}

// The migration proper, the guest warmed up and the destination connected:
// the engine's pieces wired as a VMM would, the Sender run, the report.
int migrate(const Options& o, Tracking& tracking, int socket, const std::string& peer, ReaderProgress& progress) {
    const MigrationOptions& m = *o.migrate;
    Vm& vm = tracking.vm();
    dtrack::Tracker& tracker = tracking.tracker();
    dtrack::Rounds rounds(tracker);
    dtrack::Throttle throttle({}, [&vm](int pct) { vm.set_throttle(pct); });
    if (m.auto_converge) rounds.on_period([&throttle](const dtrack::Period& p) { throttle.on_period(p); });
    std::optional<VcpuDirtyLimit> limit;
    if (o.dirty_limit) {
        limit.emplace(*o.dirty_limit, vm, tracker, VcpuDirtyLimit::Start::on_trigger);
        rounds.on_period([&limit](const dtrack::Period& p) { limit->on_period(p); });
    }
    // The watcher serves auto-converge (a sync when a round runs past
    // --background-sync, or at --background-sync-every's timer ticks) or the
    // dirty limit (a sync every period, its rates).
    const bool background = (m.background_sync && m.auto_converge) || o.dirty_limit;
    // Poll at least four times per threshold, and every second at most (docs/ARCHITECTURE.md §4).
    const auto threshold = o.dirty_limit ? o.dirty_limit->period : m.background_sync.value_or(5000ms);
    dtrack::Watcher watcher(rounds,
                            {.poll = std::min<std::chrono::milliseconds>(1000ms, threshold / 4),
                             .threshold = threshold,
                             .trigger = o.dirty_limit ? dtrack::SyncTrigger::round_time : m.background_sync_trigger},
                            [&throttle, &o] { return o.dirty_limit || !throttle.at_max(); });
    const bool terminal = ::isatty(STDOUT_FILENO);
    VmPauser control(vm);
    dtrack::precopy::Sender sender(tracker, rounds, guest_memory(vm), control,
                                   sender_options(o, peer, terminal, throttle, rounds));

    progress.migration_started = read_counts(vm);
    const auto migration_start = progress.migration_started.at;
    if (background) watcher.start();
    const uint64_t reported_before = pages_reported(tracker);
    const dtrack::precopy::Outcome out = sender.run(socket);
    const uint64_t reported = pages_reported(tracker) - reported_before;
    progress.migration_ended = read_counts(vm);
    // A guest stopped for the switchover reads nothing: its readers' progress
    // is over the time it ran (the stop is the downtime, reported below).
    if (control.paused_since()) progress.migration_ended.at = *control.paused_since();
    watcher.stop();
    const std::vector<dtrack::ThrottleStep> timeline = throttle.timeline();
    throttle.reset();  // the migration is over: the throttle's life ends with it
    if (terminal) std::printf("\n");

    MigrationFacts facts{.guest_bytes = o.vm.mem_bytes,
                         .throttle_last_pct = timeline.empty() ? 0 : timeline.back().pct};
    print_outcome(out, timeline, migration_start, facts.guest_bytes);
    print_tracking_cost(m, out, reported);
    if (limit) limit->report_and_lift(migration_start);
    facts.readers = print_reader_rates(vm, progress);
    if (!out.completed()) std::printf("migration failed: %s; the guest runs on here\n", out.message.c_str());
    else
        std::printf("downtime: %.1f ms real (estimated %.1f ms): sync %.1f, final round %.1f (%" PRIu64
                    " pages), digest %.1f, acknowledgement %.1f; the destination's memory digest matches\n",
                    seconds(out.downtime) * 1000, seconds(out.estimated_downtime) * 1000,
                    seconds(out.downtime_parts.sync) * 1000, seconds(out.downtime_parts.final_round) * 1000,
                    out.downtime_parts.final_round_pages, seconds(out.downtime_parts.digest) * 1000,
                    seconds(out.downtime_parts.acknowledgement) * 1000);
    // Last, so that a script finds it with tail -n 1.
    if (m.json) std::printf("%s\n", migration_summary_json(out, facts).c_str());
    vm.stop();
    return out.completed() ? exit_ok : exit_migration_failed;
}

}  // namespace

int run_migration_source(const Options& o) {
    const MigrationOptions& m = *o.migrate;
    auto address = dtrack::precopy::parse_tcp_address(m.to);
    if (!address) {
        std::fprintf(stderr, "dtvm: %s\n", address.error().message().c_str());
        return exit_bad_input;
    }
    int exit_code = exit_ok;
    auto tracking = start_tracked_guest(o.vm, o.tracking, o.workload, exit_code);
    if (!tracking) return exit_code;
    print_plan(o, *tracking);
    ReaderProgress progress;
    std::this_thread::sleep_for(m.warmup / 2);  // let the guest dirty memory first
    progress.warmup_half = read_counts(tracking->vm());
    std::this_thread::sleep_for(m.warmup - m.warmup / 2);
    progress.warmed_up = read_counts(tracking->vm());

    auto connection = dtrack::precopy::tcp_connect(*address, 10s);
    if (!connection) {
        std::fprintf(stderr, "dtvm: %s\n", connection.error().message().c_str());
        return exit_migration_failed;
    }
    return migrate(o, *tracking, connection.value().get(), address->host, progress);
}

}  // namespace dtvm
