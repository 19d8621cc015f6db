#include "dtvm/modes/check_loop.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <thread>

#include "dtrack/recording.hpp"
#include "dtrack/units.hpp"
#include "dtvm/modes/tracked_guest.hpp"
#include "dtvm/modes/vcpu_dirty_limit.hpp"
#include "dtvm/options/options.hpp"
#include "dtvm/tracking/oracle.hpp"

namespace dtvm {

namespace {

using clock = std::chrono::steady_clock;

// --record: a writer whose header describes this guest's slots and tracking.
std::unique_ptr<dtrack::recording::Writer> open_recording(Tracking& tracking, const Options& o) {
    std::vector<dtrack::Region> regions;
    for (dtrack::RegionId id = 0; id < tracking.tracker().region_count(); ++id)
        regions.push_back(tracking.tracker().region(id));
    const std::string method = tracking.ring() ? "kvm-ring" : tracking.log() ? "kvm-log" : "uffd";
    auto header = dtrack::recording::make_header(
        std::move(regions), method, true,
        "dtvm " + backend_name(o.vm.backend) + " backend, " + pattern_name(o.workload.pattern) + " workload",
        uint64_t(o.check.interval.count()), tracking.ring() ? tracking.vm().vcpu_count() : 0);
    auto sink = dtrack::recording::file_sink(o.check.record);
    if (!sink) {
        std::fprintf(stderr, "dtvm: --record: %s\n", sink.error().message().c_str());
        return nullptr;
    }
    auto writer = dtrack::recording::Writer::create(std::move(*sink), header);
    if (!writer) {
        std::fprintf(stderr, "dtvm: --record: %s\n", writer.error().message().c_str());
        return nullptr;
    }
    return std::move(*writer);
}

std::string format_share(double share) {
    char text[16];
    std::snprintf(text, sizeof text, "%.1f%%", share * 100);
    return text;
}

// The check loop's guest and what it keeps from one interval to the next.
struct CheckRun {
    const Options& o;
    std::unique_ptr<Tracking> tracking;
    std::unique_ptr<dtrack::recording::Writer> recording;
    std::optional<VcpuDirtyLimit> limit;
    bool per_vcpu_counts = false;
    clock::time_point start, last;
    // The guest's running time: the checks' pauses left out, so that a
    // recording replays the guest at its own pace.
    clock::duration paused{};
    uint64_t recorded_end_ns = 0;                                 // the last recorded interval's end, in running time
    std::vector<uint64_t> last_writes, last_reads, last_counted;  // per vCPU, at the last check
    uint64_t total_lost = 0, total_written = 0, total_taken = 0, intervals = 0, last_source_lost = 0;

    Vm& vm() { return tracking->vm(); }
};

// The lines before the first check: the guest, the dirty limit, the columns.
void print_header(CheckRun& run) {
    const Options& o = run.o;
    // One line on which backend auto chose; on stderr with --json, whose stdout is JSON only.
    if (!o.backend_why.empty()) std::fprintf(o.check.json ? stderr : stdout, "%s\n", backend_line(o).c_str());
    if (o.check.json) return;
    std::printf("dtvm: %s in %u slots, %s (%s), workload %s over %s, %s per vCPU, tracking: %s\n",
                dtrack::format_bytes(double(o.vm.mem_bytes)).c_str(), o.vm.slots, vcpu_count_description(o.vm).c_str(),
                vcpu_description(o.vm).c_str(), pattern_name(o.workload.pattern).c_str(),
                dtrack::format_bytes(double(o.workload.wss_pages) * 4096).c_str(),
                o.workload.rate_per_vcpu
                    ? (dtrack::format_count(double(o.workload.rate_per_vcpu)) + " writes/s").c_str()
                    : "unlimited writes/s",
                tracking_description(*run.tracking, o.tracking).c_str());
    if (run.limit)
        std::printf("      dirty limit %.0f pages/s (%s/s) per vCPU from the start, period %lld ms, sleeping %s\n",
                    o.dirty_limit->pages_per_s, dtrack::format_bytes(o.dirty_limit->pages_per_s * 4096).c_str(),
                    (long long)o.dirty_limit->period.count(),
                    o.vm.share_at == ShareAt::ring_full ? "at ring-full exits" : "a share of each 10 ms slice");
    std::printf("%7s %5s %10s %10s %10s   %s\n", "time", "vcpu", "writes/s", "distinct", "reported",
                run.tracking->ring() ? "(distinct: pages the guest wrote; reported: ring entries per vCPU, distinct "
                                       "pages under 'all')"
                : run.tracking->thread_write_fault_source()
                    ? "(distinct: pages the guest wrote; reported: the vCPU thread's write faults, distinct pages "
                      "under 'all')"
                    : "(distinct: pages the guest wrote; reported: distinct pages, under 'all')");
}

// Setup: the tracked guest running, --record open, --throttle and
// --dirty-limit holding the vCPUs; nullptr (and `exit_code`) on failure.
std::unique_ptr<CheckRun> set_up(const Options& o, int& exit_code) {
    std::unique_ptr<CheckRun> run(new CheckRun{.o = o});
    run->tracking = start_tracked_guest(o.vm, o.tracking, o.workload, exit_code);
    if (!run->tracking) return nullptr;
    if (!o.check.record.empty() && !(run->recording = open_recording(*run->tracking, o))) {
        exit_code = exit_bad_input;
        return nullptr;
    }
    Vm& vm = run->vm();
    vm.set_throttle(o.check.throttle_pct);
    // --dirty-limit: each vCPU held to the quota from the first check on.
    if (o.dirty_limit) run->limit.emplace(*o.dirty_limit, vm, run->tracking->tracker(), VcpuDirtyLimit::Start::now);
    run->per_vcpu_counts = run->tracking->ring() || run->tracking->thread_write_fault_source();
    print_header(*run);
    const uint32_t vcpus = vm.vcpu_count();  // the writers, then the readers
    run->last_writes.assign(vcpus, 0);
    run->last_reads.assign(vcpus, 0);
    run->last_counted.assign(vcpus, 0);
    run->start = run->last = clock::now();
    return run;
}

// The interval's pages for --record, and the pages the sources lost since
// the last one; `paused_at`: when this check paused the guest.
dtrack::recording::Interval recorded_interval(CheckRun& run, const EpochResult& check, const dtrack::Counters& c,
                                              clock::time_point paused_at) {
    dtrack::recording::Interval recorded;
    recorded.index = run.intervals;
    recorded.start_ns = run.recorded_end_ns;
    recorded.end_ns = std::max<uint64_t>(
        run.recorded_end_ns,
        uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(paused_at - run.start - run.paused).count()));
    run.recorded_end_ns = recorded.end_ns;
    for (size_t slot = 0; slot < check.taken_words.size(); ++slot)
        for (size_t w = 0; w < check.taken_words[slot].size(); ++w)
            if (check.taken_words[slot][w]) recorded.add_word(dtrack::RegionId(slot), w, check.taken_words[slot][w]);
    uint64_t lost_now = 0;
    for (const auto& source : c.sources) lost_now += source.lost;
    recorded.lost = lost_now - run.last_source_lost;
    run.last_source_lost = lost_now;
    return recorded;
}

// One line per vCPU (and its JSON); returns the readers' reads/s, all together.
double report_vcpus(CheckRun& run, const EpochResult& check, const dtrack::Counters& c, double t, double secs,
                    nlohmann::json& line, dtrack::recording::Interval& recorded) {
    Vm& vm = run.vm();
    const std::vector<uint64_t> vcpu_pages = c.pages_per_vcpu();
    double reads_per_s = 0;  // all readers together
    for (uint32_t v = 0; v < vm.vcpu_count(); ++v) {
        const VcpuStats stats = vm.stats(v);
        const double vcpu_reads_per_s = (stats.reads - run.last_reads[v]) / secs;
        reads_per_s += vcpu_reads_per_s;
        // Ring entries, or the vCPU thread's write faults.
        const uint64_t counted = run.per_vcpu_counts && v < vcpu_pages.size() ? vcpu_pages[v] : 0;
        const uint64_t counted_now = counted - run.last_counted[v];
        const std::string reported = run.per_vcpu_counts ? std::to_string(counted_now) : "-";
        const std::string sleep = run.limit ? "   sleeps " + format_share(vm.vcpu_share(v)) : std::string();
        line["vcpus"].push_back({{"vcpu", v},
                                 {"role", role_name(vm.role(v))},
                                 {"writes_per_s", (stats.writes - run.last_writes[v]) / secs},
                                 {"reads_per_s", vcpu_reads_per_s},
                                 {"distinct", check.written_per_vcpu[v]},
                                 {"ring_entries", run.tracking->ring() ? counted_now : 0},
                                 // from the kernel, per vCPU: ring entries, or its thread's write faults
                                 {"vcpu_pages", counted_now}});
        if (run.limit) line["vcpus"].back()["sleep_share"] = vm.vcpu_share(v);
        // The recording's header has vCPUs only for the ring (open_recording).
        if (run.tracking->ring()) recorded.vcpu_pages.push_back(counted_now);
        if (!run.o.check.json && vm.role(v) == VcpuRole::writer)
            std::printf("%6.1fs %5u %10s %10" PRIu64 " %10s%s\n", t, v,
                        dtrack::format_count((stats.writes - run.last_writes[v]) / secs).c_str(),
                        check.written_per_vcpu[v], reported.c_str(), sleep.c_str());
        if (!run.o.check.json && vm.role(v) == VcpuRole::reader)
            std::printf("%6.1fs %5u %10s %10" PRIu64 " %10s   reader: %s reads/s%s\n", t, v, "-",
                        check.written_per_vcpu[v], reported.c_str(), dtrack::format_count(vcpu_reads_per_s).c_str(),
                        sleep.c_str());
        run.last_writes[v] = stats.writes;
        run.last_reads[v] = stats.reads;
        run.last_counted[v] = counted;
    }
    return reads_per_s;
}

// One interval's report: each vCPU, then the whole guest (a line, or JSON);
// the check paused the guest at `paused_at` and resumed it by `now`.
void report_interval(CheckRun& run, const EpochResult& check, clock::time_point paused_at, clock::time_point now) {
    const Options& o = run.o;
    const double secs = std::chrono::duration<double>(now - run.last).count();
    const double t = std::chrono::duration<double>(now - run.start).count();
    if (run.limit) run.limit->on_period({.kind = dtrack::SyncKind::round, .at = now});
    const dtrack::Counters c = run.tracking->tracker().counters();
    dtrack::recording::Interval recorded = recorded_interval(run, check, c, paused_at);
    run.paused += now - paused_at;
    nlohmann::json line{{"time_s", t},
                        {"written", check.written},
                        {"harvested", check.taken - check.outside_workload},
                        {"lost", check.lost},
                        {"false_positives", check.false_positives},
                        {"outside_workload", check.outside_workload},
                        {"per_slot", check.taken_per_slot},
                        {"vcpus", nlohmann::json::array()}};
    const double reads_per_s = report_vcpus(run, check, c, t, secs, line, recorded);
    line["reads_per_s"] = reads_per_s;
    run.last = now;
    if (run.recording) {
        line["recorded"] = run.recording->push(std::move(recorded)) ? "queued" : "dropped";
    }
    std::string slots;
    for (uint64_t n : check.taken_per_slot) slots += (slots.empty() ? "" : "/") + std::to_string(n);
    const std::string readers = o.vm.readers ? "; readers " + dtrack::format_count(reads_per_s) + " reads/s" : "";
    if (o.check.json) {
        std::printf("%s\n", line.dump().c_str());
    } else {
        std::printf("%6.1fs %5s %10s %10" PRIu64 " %10" PRIu64 "   lost %" PRIu64 ", extra %" PRIu64 " (+%" PRIu64
                    " outside the working set), per slot %s%s\n",
                    t, "all", "", check.written, check.taken - check.outside_workload, check.lost,
                    check.false_positives, check.outside_workload, slots.c_str(), readers.c_str());
        if (check.lost)
            std::printf("        LOST PAGES: %" PRIu64 " written pages were not reported (first: guest page %" PRIu64
                        ")\n",
                        check.lost, check.first_lost_page);
    }
    std::fflush(stdout);
}

// The loop: every interval, end the epoch, check it and report it, until
// --duration is over; exit_ok, or why the guest failed.
int check_every_interval(CheckRun& run) {
    Vm& vm = run.vm();
    while (clock::now() - run.start < run.o.check.duration) {
        std::this_thread::sleep_for(run.o.check.interval);
        if (!vm.failure().empty()) {
            std::fprintf(stderr, "dtvm: the guest stopped: %s\n", vm.failure().c_str());
            return exit_guest_failed;
        }
        const clock::time_point paused_at = clock::now();
        auto check = check_epoch(*run.tracking, run.o.workload.wss_pages);
        if (!check) {
            std::fprintf(stderr, "dtvm: %s\n", check.error().message().c_str());
            return exit_guest_failed;
        }
        report_interval(run, *check, paused_at, clock::now());
        run.total_lost += check->lost;
        run.total_written += check->written;
        run.total_taken += check->taken;
        ++run.intervals;
    }
    return exit_ok;
}

// --record: the file closed; what it holds, for the summary (null without
// --record), or nullopt when closing it failed.
std::optional<nlohmann::json> close_recording(CheckRun& run) {
    nlohmann::json recorded;
    if (!run.recording) return recorded;
    const Options& o = run.o;
    const dtrack::Status closed = run.recording->close();
    const dtrack::recording::WriterStats ws = run.recording->stats();
    recorded = {{"file", o.check.record}, {"intervals", ws.intervals}, {"dropped", ws.dropped}, {"bytes", ws.bytes}};
    if (!closed) {
        std::fprintf(stderr, "dtvm: --record: %s\n", closed.error().message().c_str());
        return std::nullopt;
    }
    if (!o.check.json)
        std::printf("recorded: %" PRIu64 " intervals (%" PRIu64 " dropped) in %s, %s\n", ws.intervals, ws.dropped,
                    o.check.record.c_str(), dtrack::format_bytes(double(ws.bytes)).c_str());
    return recorded;
}

void print_ring_counters(const dtrack::KvmRingSource& ring) {
    const dtrack::KvmRingCounters rc = ring.ring_counters();
    std::printf("ring: %" PRIu64 " full exits, %" PRIu64 " resets, %" PRIu64 " reaper passes, %" PRIu64
                " jams recovered (slots marked wholly dirty)\n",
                rc.full_exits, rc.resets, rc.reaper_passes, rc.jams);
}

// The report: the guest stopped, the dirty limit's story, --record closed,
// the summary; exit_lost_pages when any written page was not reported.
int report(CheckRun& run) {
    const Options& o = run.o;
    run.vm().stop();
    if (run.limit && !o.check.json) run.limit->report_and_lift(run.start);
    const std::optional<nlohmann::json> recorded = close_recording(run);
    if (!recorded) return exit_guest_failed;

    const dtrack::Counters c = run.tracking->tracker().counters();
    const double secs = std::chrono::duration<double>(clock::now() - run.start).count();
    double cost_ms = 0;
    for (const auto& source : c.sources) cost_ms += std::chrono::duration<double, std::milli>(source.cost).count();
    const int code = run.total_lost ? exit_lost_pages : exit_ok;
    if (o.check.json) {
        nlohmann::json summary{{"intervals", run.intervals},
                               {"written", run.total_written},
                               {"reported", run.total_taken},
                               {"lost", run.total_lost},
                               {"backend", backend_name(o.vm.backend)},
                               {"tracking", track_mode_name(o.tracking.mode)},
                               {"harvest_cost_ms", cost_ms},
                               {"syncs", c.syncs()},
                               {"run_s", secs},
                               {"recording", *recorded}};
        if (auto* ring = run.tracking->ring()) {
            const dtrack::KvmRingCounters rc = ring->ring_counters();
            summary["ring"] = {{"full_exits", rc.full_exits},
                               {"resets", rc.resets},
                               {"reaper_passes", rc.reaper_passes},
                               {"jams", rc.jams}};
        }
        std::printf("%s\n", nlohmann::json{{"summary", summary}}.dump().c_str());
        return code;
    }
    std::printf("summary: %" PRIu64 " intervals, %" PRIu64 " distinct pages written, %" PRIu64 " reported, %" PRIu64
                " lost; harvest cost %.3f ms (%.3f%% of the run), %" PRIu64 " syncs\n",
                run.intervals, run.total_written, run.total_taken, run.total_lost, cost_ms,
                100.0 * cost_ms / 1000 / secs, c.syncs());
    if (auto* ring = run.tracking->ring()) print_ring_counters(*ring);
    return code;
}

}  // namespace

int run_check_loop(const Options& o) {
    int exit_code = exit_ok;
    std::unique_ptr<CheckRun> run = set_up(o, exit_code);
    if (!run) return exit_code;
    if (int code = check_every_interval(*run); code != exit_ok) return code;
    return report(*run);
}

}  // namespace dtvm
