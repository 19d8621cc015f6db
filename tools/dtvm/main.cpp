// dtvm: the reference VMM. Runs a real KVM guest that writes stamped pages,
// tracks it with libdtrack, and checks every interval that no written page
// was missed (the oracle), printing harvested pages next to the guest's own
// count of what it wrote.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <thread>

#include "dtrack/units.hpp"
#include "oracle.hpp"
#include "tracking.hpp"

namespace {

constexpr int exit_bad_input = 2;
constexpr int exit_lost_pages = 1;

struct Args {
    std::string mem = "256M", wss = "64M", rate = "0", duration = "10s", interval = "1s";
    std::string workload = "hotcold", track = "ring";
    uint32_t vcpus = 2, slots = 3, ring_entries = 4096, exit_every = 256;
    double hot_fraction = 0.1, hot_share = 0.9;
    uint64_t seed = 1;
    bool emulated = false;
    bool json = false;
};

int bad_input(const dtrack::Error& e) {
    std::fprintf(stderr, "dtvm: %s\n", e.message().c_str());
    return exit_bad_input;
}

std::string rate_text(double per_second) {
    char buf[32];
    if (per_second >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", per_second / 1e6);
    else if (per_second >= 1e3) std::snprintf(buf, sizeof buf, "%.1fk", per_second / 1e3);
    else std::snprintf(buf, sizeof buf, "%.0f", per_second);
    return buf;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    CLI::App app{"dtvm: a small KVM VMM whose guest writes stamped pages; tracks them with libdtrack and checks "
                 "that no written page is missed"};
    app.add_option("--mem", a.mem, "guest memory (e.g. 256M)")->capture_default_str();
    app.add_option("--vcpus", a.vcpus, "vCPUs (1-255)")->capture_default_str();
    app.add_option("--slots", a.slots, "memslots to split the memory into; the last is not a multiple of 64 pages")
        ->capture_default_str();
    app.add_option("--workload", a.workload, "sequential | random | hotcold")->capture_default_str();
    app.add_option("--wss", a.wss, "working set, split evenly between the vCPUs")->capture_default_str();
    app.add_option("--rate", a.rate, "page writes/s per vCPU (e.g. 50k); 0 = as fast as it runs")
        ->capture_default_str();
    app.add_option("--hot-fraction", a.hot_fraction, "hotcold: share of the working set that is hot")
        ->capture_default_str();
    app.add_option("--hot-share", a.hot_share, "hotcold: share of the writes that go to the hot part")
        ->capture_default_str();
    app.add_option("--track", a.track, "ring (KVM dirty ring) | log (KVM dirty log)")->capture_default_str();
    app.add_option("--ring-size", a.ring_entries, "dirty ring entries per vCPU (power of two)")->capture_default_str();
    app.add_option("--duration", a.duration, "how long to run (e.g. 10s)")->capture_default_str();
    app.add_option("--interval", a.interval, "how often to check and print")->capture_default_str();
    app.add_option("--seed", a.seed, "guest PRNG seed")->capture_default_str();
    app.add_option("--exit-every", a.exit_every, "guest exits to the VMM every K writes")->capture_default_str();
    app.add_flag("--json", a.json, "one JSON object per interval instead of the table");
    app.add_flag("--emulated", a.emulated, "run the guest under KVM's instruction emulator (slow; provokes ring jams)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : exit_bad_input;
    }

    auto mem = dtrack::parse_size(a.mem);
    if (!mem) return bad_input(mem.error());
    auto wss = dtrack::parse_size(a.wss);
    if (!wss) return bad_input(wss.error());
    auto rate = dtrack::parse_count(a.rate);
    if (!rate) return bad_input(rate.error());
    auto duration = dtrack::parse_duration(a.duration);
    if (!duration) return bad_input(duration.error());
    auto interval = dtrack::parse_duration(a.interval);
    if (!interval) return bad_input(interval.error());
    auto pattern = dtvm::parse_pattern(a.workload);
    if (!pattern) return bad_input(pattern.error());
    auto mode = dtvm::parse_track_mode(a.track);
    if (!mode) return bad_input(mode.error());
    if (a.vcpus < 1 || a.vcpus > 255)
        return bad_input({EINVAL, "--vcpus " + std::to_string(a.vcpus) + " is out of range", "use 1 to 255"});
    if (a.slots < 1 || a.slots > 32)
        return bad_input({EINVAL, "--slots " + std::to_string(a.slots) + " is out of range", "use 1 to 32"});
    if (a.ring_entries < 256 || (a.ring_entries & (a.ring_entries - 1)))
        return bad_input({EINVAL, "--ring-size " + std::to_string(a.ring_entries) + " is not a power of two >= 256",
                          "use e.g. 4096 or 65536"});
    if (*interval <= std::chrono::nanoseconds(0))
        return bad_input({EINVAL, "--interval must be positive", "use e.g. 1s"});
    if (a.exit_every < 1) return bad_input({EINVAL, "--exit-every must be at least 1", "use e.g. 256"});
    if (!(a.hot_fraction > 0 && a.hot_fraction < 1 && a.hot_share >= 0 && a.hot_share <= 1))
        return bad_input({EINVAL, "--hot-fraction must be in (0,1) and --hot-share in [0,1]", "use e.g. 0.1 and 0.9"});

    dtvm::VmOptions vm_options{.mem_bytes = *mem, .slots = a.slots, .vcpus = a.vcpus, .emulated = a.emulated};
    dtvm::Workload workload{.pattern = *pattern,
                            .wss_pages = *wss / 4096,
                            .rate_per_vcpu = *rate,
                            .hot_fraction = a.hot_fraction,
                            .hot_share = a.hot_share,
                            .seed = a.seed,
                            .exit_every = a.exit_every};

    auto tracking = dtvm::Tracking::create(vm_options, {.mode = *mode, .ring_entries = a.ring_entries});
    if (!tracking) return bad_input(tracking.error());
    dtvm::Vm& vm = tracking.value()->vm();
    if (workload.wss_pages < a.vcpus || workload.wss_pages > vm.workload_max_pages())
        return bad_input({EINVAL,
                          "--wss " + a.wss + " does not fit: the guest has room for " +
                              dtrack::format_bytes(double(vm.workload_max_pages()) * 4096) +
                              " of working set, at least one page per vCPU",
                          "lower --wss or raise --mem"});
    if (dtrack::Status s = vm.start(workload); !s) return bad_input(s.error());

    if (!a.json) std::printf("dtvm: %s in %u slots, %u vCPUs (%s%s), workload %s over %s, %s per vCPU, tracking: %s\n",
                dtrack::format_bytes(double(*mem)).c_str(), a.slots, a.vcpus, a.emulated ? "emulated" : "native",
                dtvm::host_is_pvm() ? ", PVM host" : "", a.workload.c_str(), dtrack::format_bytes(double(*wss)).c_str(),
                *rate ? (rate_text(double(*rate)) + " writes/s").c_str() : "unlimited writes/s",
                *mode == dtvm::TrackMode::ring
                    ? ("KVM dirty ring, " + std::to_string(a.ring_entries) + " entries" +
                       (tracking.value()->ring()->acq_rel() ? ", acq_rel" : ""))
                          .c_str()
                    : (std::string("KVM dirty log") +
                       (tracking.value()->log()->manual_protect() ? ", manual protect" : ""))
                          .c_str());
    if (!a.json)
        std::printf("%7s %5s %10s %10s %10s   %s\n", "time", "vcpu", "writes/s", "distinct", "reported",
                "(distinct: pages the guest wrote; reported: ring entries per vCPU, distinct pages under 'all')");

    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    std::vector<uint64_t> last_writes(a.vcpus, 0), last_ring(a.vcpus, 0);
    auto last = start;
    uint64_t total_lost = 0, total_written = 0, total_taken = 0, intervals = 0;
    while (clock::now() - start < *duration) {
        std::this_thread::sleep_for(*interval);
        if (!vm.failure().empty()) {
            std::fprintf(stderr, "dtvm: the guest stopped: %s\n", vm.failure().c_str());
            return 3;
        }
        auto check = dtvm::check_epoch(*tracking.value(), workload.wss_pages);
        if (!check) {
            std::fprintf(stderr, "dtvm: %s\n", check.error().message().c_str());
            return 3;
        }
        const auto now = clock::now();
        const double secs = std::chrono::duration<double>(now - last).count();
        const double t = std::chrono::duration<double>(now - start).count();
        last = now;
        const dtrack::Counters c = tracking.value()->tracker().counters();
        nlohmann::json line{{"time_s", t},
                            {"written", check->written},
                            {"harvested", check->taken - check->outside_workload},
                            {"lost", check->lost},
                            {"false_positives", check->false_positives},
                            {"outside_workload", check->outside_workload},
                            {"per_slot", check->taken_per_slot},
                            {"vcpus", nlohmann::json::array()}};
        for (uint32_t v = 0; v < a.vcpus; ++v) {
            const uint64_t w = vm.stats(v).writes;
            const uint64_t ring = v < c.sources[0].pages_per_vcpu.size() ? c.sources[0].pages_per_vcpu[v] : 0;
            std::string harvested = *mode == dtvm::TrackMode::ring ? std::to_string(ring - last_ring[v]) : "-";
            line["vcpus"].push_back({{"vcpu", v},
                                     {"writes_per_s", (w - last_writes[v]) / secs},
                                     {"distinct", check->written_per_vcpu[v]},
                                     {"ring_entries", ring - last_ring[v]}});
            if (!a.json)
                std::printf("%6.1fs %5u %10s %10" PRIu64 " %10s\n", t, v, rate_text((w - last_writes[v]) / secs).c_str(),
                        check->written_per_vcpu[v], harvested.c_str());
            last_writes[v] = w;
            last_ring[v] = ring;
        }
        std::string slots;
        for (uint64_t n : check->taken_per_slot) slots += (slots.empty() ? "" : "/") + std::to_string(n);
        if (a.json) std::printf("%s\n", line.dump().c_str());
        else std::printf("%6.1fs %5s %10s %10" PRIu64 " %10" PRIu64 "   lost %" PRIu64 ", extra %" PRIu64
                    " (+%" PRIu64 " outside the working set), per slot %s\n",
                    t, "all", "", check->written, check->taken - check->outside_workload, check->lost,
                    check->false_positives, check->outside_workload, slots.c_str());
        if (check->lost && !a.json)
            std::printf("        LOST PAGES: %" PRIu64 " written pages were not reported (first: guest page %" PRIu64
                        ")\n",
                        check->lost, check->first_lost_page);
        std::fflush(stdout);
        total_lost += check->lost;
        total_written += check->written;
        total_taken += check->taken;
        ++intervals;
    }
    vm.stop();

    const dtrack::Counters c = tracking.value()->tracker().counters();
    const double run = std::chrono::duration<double>(clock::now() - start).count();
    const double cost_ms = std::chrono::duration<double, std::milli>(c.sources[0].cost).count();
    if (a.json) {
        std::printf("%s\n", nlohmann::json{{"summary",
                                             {{"intervals", intervals},
                                              {"written", total_written},
                                              {"reported", total_taken},
                                              {"lost", total_lost},
                                              {"harvest_cost_ms", cost_ms},
                                              {"syncs", c.syncs()}}}}
                                 .dump()
                                 .c_str());
        return total_lost ? exit_lost_pages : 0;
    }
    std::printf("summary: %" PRIu64 " intervals, %" PRIu64 " distinct pages written, %" PRIu64
                " reported, %" PRIu64 " lost; harvest cost %.3f ms (%.3f%% of the run), %" PRIu64 " syncs\n",
                intervals, total_written, total_taken, total_lost, cost_ms, 100.0 * cost_ms / 1000 / run, c.syncs());
    if (auto* ring = tracking.value()->ring()) {
        const dtrack::KvmRingCounters rc = ring->ring_counters();
        std::printf("ring: %" PRIu64 " full exits, %" PRIu64 " resets, %" PRIu64 " reaper passes, %" PRIu64
                    " jams recovered (slots marked wholly dirty)\n",
                    rc.full_exits, rc.resets, rc.reaper_passes, rc.jams);
    }
    return total_lost ? exit_lost_pages : 0;
}
