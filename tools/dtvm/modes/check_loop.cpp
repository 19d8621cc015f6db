#include "dtvm/modes/check_loop.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <thread>

#include "dtrack/recording.hpp"
#include "dtrack/units.hpp"
#include "dtvm/modes/tracked_guest.hpp"
#include "dtvm/options/options.hpp"
#include "dtvm/tracking/oracle.hpp"
#include "dtvm/modes/vcpu_dirty_limit.hpp"

namespace dtvm {

namespace {

// --record: a writer whose header describes this guest's slots and tracking.
std::unique_ptr<dtrack::recording::Writer> open_recording(Tracking& tracking, const Options& o) {
    std::vector<dtrack::Region> regions;
    for (dtrack::RegionId id = 0; id < tracking.tracker().region_count(); ++id)
        regions.push_back(tracking.tracker().region(id));
    const std::string method = tracking.ring() ? "kvm-ring" : tracking.log() ? "kvm-log" : "uffd";
    auto header = dtrack::recording::make_header(
        std::move(regions), method, true, "dtvm " + backend_name(o.vm.backend) + " backend, " +
                                               pattern_name(o.workload.pattern) + " workload",
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

}  // namespace

int run_check_loop(const Options& o) {
    int exit_code = exit_ok;
    auto tracking = start_tracked_guest(o.vm, o.tracking, o.workload, exit_code);
    if (!tracking) return exit_code;
    std::unique_ptr<dtrack::recording::Writer> recording;
    if (!o.check.record.empty() && !(recording = open_recording(*tracking, o))) return exit_bad_input;
    Vm& vm = tracking->vm();
    const uint32_t vcpus = vm.vcpu_count();  // the writers, then the readers
    vm.set_throttle(o.check.throttle_pct);
    // --dirty-limit: each vCPU held to the quota from the first check on.
    std::optional<VcpuDirtyLimit> limit;
    if (o.dirty_limit) limit.emplace(*o.dirty_limit, vm, tracking->tracker(), VcpuDirtyLimit::Start::now);
    const bool per_vcpu_counts = tracking->ring() || tracking->thread_faults();

    // One line on which backend auto chose; on stderr with --json, whose stdout is JSON only.
    if (!o.backend_why.empty()) std::fprintf(o.check.json ? stderr : stdout, "%s\n", backend_line(o).c_str());
    if (!o.check.json) {
        std::printf("dtvm: %s in %u slots, %s (%s), workload %s over %s, %s per vCPU, tracking: %s\n",
                    dtrack::format_bytes(double(o.vm.mem_bytes)).c_str(), o.vm.slots,
                    vcpu_count_description(o.vm).c_str(), vcpu_description(o.vm).c_str(),
                    pattern_name(o.workload.pattern).c_str(),
                    dtrack::format_bytes(double(o.workload.wss_pages) * 4096).c_str(),
                    o.workload.rate_per_vcpu ? (dtrack::format_count(double(o.workload.rate_per_vcpu)) + " writes/s").c_str()
                                             : "unlimited writes/s",
                    tracking_description(*tracking, o.tracking).c_str());
        if (limit)
            std::printf("      dirty limit %.0f pages/s (%s/s) per vCPU from the start, period %lld ms, sleeping %s\n",
                        o.dirty_limit->pages_per_s, dtrack::format_bytes(o.dirty_limit->pages_per_s * 4096).c_str(),
                        (long long)o.dirty_limit->period.count(),
                        o.vm.share_at == ShareAt::ring_full ? "at ring-full exits" : "a share of each 10 ms slice");
        std::printf("%7s %5s %10s %10s %10s   %s\n", "time", "vcpu", "writes/s", "distinct", "reported",
                    tracking->ring() ? "(distinct: pages the guest wrote; reported: ring entries per vCPU, distinct "
                                       "pages under 'all')"
                    : tracking->thread_faults()
                        ? "(distinct: pages the guest wrote; reported: the vCPU thread's write faults, distinct pages "
                          "under 'all')"
                        : "(distinct: pages the guest wrote; reported: distinct pages, under 'all')");
    }

    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    std::vector<uint64_t> last_writes(vcpus, 0), last_reads(vcpus, 0), last_counted(vcpus, 0);
    auto last = start;
    uint64_t total_lost = 0, total_written = 0, total_taken = 0, intervals = 0, last_source_lost = 0;
    while (clock::now() - start < o.check.duration) {
        std::this_thread::sleep_for(o.check.interval);
        if (!vm.failure().empty()) {
            std::fprintf(stderr, "dtvm: the guest stopped: %s\n", vm.failure().c_str());
            return exit_guest_failed;
        }
        auto check = check_epoch(*tracking, o.workload.wss_pages);
        if (!check) {
            std::fprintf(stderr, "dtvm: %s\n", check.error().message().c_str());
            return exit_guest_failed;
        }
        const auto now = clock::now();
        const double secs = std::chrono::duration<double>(now - last).count();
        const double t = std::chrono::duration<double>(now - start).count();
        if (limit) limit->on_period({.kind = dtrack::SyncKind::round, .at = now});
        const dtrack::Counters c = tracking->tracker().counters();
        const std::vector<uint64_t> vcpu_pages = c.pages_per_vcpu();
        dtrack::recording::Interval recorded;
        recorded.index = intervals;
        recorded.start_ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count() -
                                     std::chrono::duration_cast<std::chrono::nanoseconds>(now - last).count());
        recorded.end_ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count());
        for (size_t slot = 0; slot < check->taken_words.size(); ++slot)
            for (size_t w = 0; w < check->taken_words[slot].size(); ++w)
                if (check->taken_words[slot][w])
                    recorded.add_word(dtrack::RegionId(slot), w, check->taken_words[slot][w]);
        uint64_t lost_now = 0;
        for (const auto& source : c.sources) lost_now += source.lost;
        recorded.lost = lost_now - last_source_lost;
        last_source_lost = lost_now;
        nlohmann::json line{{"time_s", t},
                            {"written", check->written},
                            {"harvested", check->taken - check->outside_workload},
                            {"lost", check->lost},
                            {"false_positives", check->false_positives},
                            {"outside_workload", check->outside_workload},
                            {"per_slot", check->taken_per_slot},
                            {"vcpus", nlohmann::json::array()}};
        double reads_per_s = 0;  // all readers together
        for (uint32_t v = 0; v < vcpus; ++v) {
            const VcpuStats stats = vm.stats(v);
            const double vcpu_reads_per_s = (stats.reads - last_reads[v]) / secs;
            reads_per_s += vcpu_reads_per_s;
            // Ring entries, or the vCPU thread's write faults.
            const uint64_t counted = per_vcpu_counts && v < vcpu_pages.size() ? vcpu_pages[v] : 0;
            const uint64_t counted_now = counted - last_counted[v];
            const std::string reported = per_vcpu_counts ? std::to_string(counted_now) : "-";
            const std::string sleep =
                limit ? "   sleeps " + format_share(vm.vcpu_share(v)) : std::string();
            line["vcpus"].push_back({{"vcpu", v},
                                     {"role", role_name(vm.role(v))},
                                     {"writes_per_s", (stats.writes - last_writes[v]) / secs},
                                     {"reads_per_s", vcpu_reads_per_s},
                                     {"distinct", check->written_per_vcpu[v]},
                                     {"ring_entries", tracking->ring() ? counted_now : 0},
                                     // from the kernel, per vCPU: ring entries, or its thread's write faults
                                     {"vcpu_pages", counted_now}});
            if (limit) line["vcpus"].back()["sleep_share"] = vm.vcpu_share(v);
            // The recording's header has vCPUs only for the ring (open_recording).
            if (tracking->ring()) recorded.vcpu_pages.push_back(counted_now);
            if (!o.check.json && vm.role(v) == VcpuRole::writer)
                std::printf("%6.1fs %5u %10s %10" PRIu64 " %10s%s\n", t, v,
                            dtrack::format_count((stats.writes - last_writes[v]) / secs).c_str(),
                            check->written_per_vcpu[v], reported.c_str(), sleep.c_str());
            if (!o.check.json && vm.role(v) == VcpuRole::reader)
                std::printf("%6.1fs %5u %10s %10" PRIu64 " %10s   reader: %s reads/s%s\n", t, v, "-",
                            check->written_per_vcpu[v], reported.c_str(),
                            dtrack::format_count(vcpu_reads_per_s).c_str(), sleep.c_str());
            last_writes[v] = stats.writes;
            last_reads[v] = stats.reads;
            last_counted[v] = counted;
        }
        line["reads_per_s"] = reads_per_s;
        last = now;
        if (recording) {
            line["recorded"] = recording->push(std::move(recorded)) ? "queued" : "dropped";
        }
        std::string slots;
        for (uint64_t n : check->taken_per_slot) slots += (slots.empty() ? "" : "/") + std::to_string(n);
        const std::string readers = o.vm.readers ? "; readers " + dtrack::format_count(reads_per_s) + " reads/s" : "";
        if (o.check.json) {
            std::printf("%s\n", line.dump().c_str());
        } else {
            std::printf("%6.1fs %5s %10s %10" PRIu64 " %10" PRIu64 "   lost %" PRIu64 ", extra %" PRIu64
                        " (+%" PRIu64 " outside the working set), per slot %s%s\n",
                        t, "all", "", check->written, check->taken - check->outside_workload, check->lost,
                        check->false_positives, check->outside_workload, slots.c_str(), readers.c_str());
            if (check->lost)
                std::printf("        LOST PAGES: %" PRIu64 " written pages were not reported (first: guest page %" PRIu64
                            ")\n",
                            check->lost, check->first_lost_page);
        }
        std::fflush(stdout);
        total_lost += check->lost;
        total_written += check->written;
        total_taken += check->taken;
        ++intervals;
    }
    vm.stop();
    if (limit && !o.check.json) limit->report_and_lift(start);
    nlohmann::json recorded;
    if (recording) {
        const dtrack::Status closed = recording->close();
        const dtrack::recording::WriterStats ws = recording->stats();
        recorded = {{"file", o.check.record}, {"intervals", ws.intervals}, {"dropped", ws.dropped}, {"bytes", ws.bytes}};
        if (!closed) {
            std::fprintf(stderr, "dtvm: --record: %s\n", closed.error().message().c_str());
            return exit_guest_failed;
        }
        if (!o.check.json)
            std::printf("recorded: %" PRIu64 " intervals (%" PRIu64 " dropped) in %s, %s\n", ws.intervals, ws.dropped,
                        o.check.record.c_str(), dtrack::format_bytes(double(ws.bytes)).c_str());
    }

    const dtrack::Counters c = tracking->tracker().counters();
    const double run = std::chrono::duration<double>(clock::now() - start).count();
    double cost_ms = 0;
    for (const auto& source : c.sources) cost_ms += std::chrono::duration<double, std::milli>(source.cost).count();
    const int code = total_lost ? exit_lost_pages : exit_ok;
    if (o.check.json) {
        nlohmann::json summary{{"intervals", intervals},
                               {"written", total_written},
                               {"reported", total_taken},
                               {"lost", total_lost},
                               {"backend", backend_name(o.vm.backend)},
                               {"tracking", track_mode_name(o.tracking.mode)},
                               {"harvest_cost_ms", cost_ms},
                               {"syncs", c.syncs()},
                               {"run_s", run},
                               {"recording", recorded}};
        if (auto* ring = tracking->ring()) {
            const dtrack::KvmRingCounters rc = ring->ring_counters();
            summary["ring"] = {{"full_exits", rc.full_exits}, {"resets", rc.resets},
                               {"reaper_passes", rc.reaper_passes}, {"jams", rc.jams}};
        }
        std::printf("%s\n", nlohmann::json{{"summary", summary}}.dump().c_str());
        return code;
    }
    std::printf("summary: %" PRIu64 " intervals, %" PRIu64 " distinct pages written, %" PRIu64
                " reported, %" PRIu64 " lost; harvest cost %.3f ms (%.3f%% of the run), %" PRIu64 " syncs\n",
                intervals, total_written, total_taken, total_lost, cost_ms, 100.0 * cost_ms / 1000 / run, c.syncs());
    if (auto* ring = tracking->ring()) {
        const dtrack::KvmRingCounters rc = ring->ring_counters();
        std::printf("ring: %" PRIu64 " full exits, %" PRIu64 " resets, %" PRIu64 " reaper passes, %" PRIu64
                    " jams recovered (slots marked wholly dirty)\n",
                    rc.full_exits, rc.resets, rc.reaper_passes, rc.jams);
    }
    return code;
}

}  // namespace dtvm
