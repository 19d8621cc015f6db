#include "ring_comparison.hpp"

#include <unistd.h>

#include <bpf/bpf.h>

#include <bit>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <cstdio>
#include <random>
#include <thread>

#include "dtrack/unique_fd.hpp"

namespace dtrack_test {

namespace {

// Every dirty page of a region, taken (and cleared) from a tracker, in order.
std::vector<uint64_t> take_pages(dtrack::Tracker& tracker, dtrack::RegionId id) {
    std::vector<uint64_t> pages;
    auto n = tracker.take(id, 0, tracker.region(id).page_count, [&](uint64_t w, uint64_t bits) {
        for (; bits; bits &= bits - 1) pages.push_back(w * 64 + std::countr_zero(bits));
    });
    if (!n) pages.clear();
    return pages;
}

// "slot 1: 812 pages in the ring, 811 from BPF; first difference: page 77 (ring only)"
std::string describe_difference(const std::string& where, const std::vector<uint64_t>& ring,
                                const std::vector<uint64_t>& bpf) {
    size_t i = 0;
    while (i < ring.size() && i < bpf.size() && ring[i] == bpf[i]) ++i;
    std::string first;
    if (i == ring.size()) first = "page " + std::to_string(bpf[i]) + " (BPF only)";
    else if (i == bpf.size() || ring[i] < bpf[i]) first = "page " + std::to_string(ring[i]) + " (ring only)";
    else first = "page " + std::to_string(bpf[i]) + " (BPF only)";
    return where + ": " + std::to_string(ring.size()) + " pages in the ring, " + std::to_string(bpf.size()) +
           " from BPF; first difference: " + first;
}

// Run count and total run time of this process's loaded push handler
// (bpf_enable_stats must be on while it runs). {0, 0} if there is none.
std::pair<uint64_t, uint64_t> push_handler_stats() {
    for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        if (std::filesystem::read_symlink(fd.path(), ec).string() != "anon_inode:bpf-prog") continue;
        bpf_prog_info info{};
        __u32 len = sizeof info;
        const int prog_fd = std::stoi(fd.path().filename().string());
        if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) continue;
        // Names are cut to 15 characters: dirty_ring_push_raw / _tp.
        if (std::strcmp(info.name, "dirty_ring_push") == 0) return {info.run_cnt, info.run_time_ns};
    }
    return {0, 0};
}

double mean_cost_us(const dtrack::SourceCounters& c) {
    return c.harvests ? std::chrono::duration<double, std::micro>(c.cost).count() / double(c.harvests) : 0;
}

}  // namespace

std::string RingComparison::summary() const {
    char line[256];
    std::snprintf(line, sizeof line,
                  "%llu dirty pages compared, %llu ring pushes, %llu full exits; hooked with %s; "
                  "BPF harvest %.1f us, ring harvest %.1f us (per sync, reaper passes included)",
                  (unsigned long long)pages_compared, (unsigned long long)pushes, (unsigned long long)full_exits,
                  hooked_with.c_str(), bpf_harvest_us, ring_harvest_us);
    std::string text = line;
    if (push_handler_runs) {
        std::snprintf(line, sizeof line, "; push handler %.0f ns a run (%llu runs)", push_handler_ns,
                      (unsigned long long)push_handler_runs);
        text += line;
    }
    return text;
}

RingComparison compare_bpf_with_ring(const RingComparisonCase& c) {
    RingComparison out;
    auto failed = [&](std::string why) {
        out.mismatches.push_back(std::move(why));
        return out;
    };

    // 3 slots, the last one an odd number of pages.
    const dtvm::VmOptions vm_options{.mem_bytes = (64ULL << 20) + 5 * 4096, .slots = 3, .vcpus = c.vcpus};
    auto tracking = dtvm::Tracking::create(
        vm_options, {.mode = dtvm::TrackMode::ring, .ring_entries = c.ring_entries, .reaper = c.reaper});
    if (!tracking) return failed("dtvm: " + tracking.error().message());
    dtvm::Tracking& t = *tracking.value();
    dtvm::Vm& vm = t.vm();
    dtrack::Tracker& ring_tracker = t.tracker();

    // The BPF view: the same regions in a tracker of its own, attached before
    // the guest runs so that it sees every push.
    dtrack::Tracker bpf_tracker;
    for (dtrack::RegionId id = 0; id < ring_tracker.region_count(); ++id)
        bpf_tracker.add_region(ring_tracker.region(id)).value();
    auto bpf = dtrack::BpfSource::attach(::getpid(), bpf_tracker, {.hooks = c.hooks});
    if (!bpf) return failed("BpfSource::attach: " + bpf.error().message());
    dtrack::BpfSource& source = *bpf.value();
    out.hooked_with = source.hooked_with();
    out.notes = source.notes();
    bpf_tracker.add_source(std::move(bpf.value()));

    // Run-time statistics of every BPF program, while this fd is open.
    const dtrack::UniqueFd stats(c.measure_push_cost ? bpf_enable_stats(BPF_STATS_RUN_TIME) : -1);
    if (c.measure_push_cost && !stats.valid())
        return failed("bpf_enable_stats failed: " + std::string(strerror(errno)));

    std::mt19937_64 rng(std::random_device{}());
    const uint64_t wss = vm.workload_max_pages() - rng() % 64;
    const dtvm::Workload workload{
        .pattern = c.pattern, .wss_pages = wss, .seed = rng() | 1, .exit_every = uint32_t(64 + rng() % 512)};
    if (dtrack::Status s = vm.start(workload); !s) return failed("dtvm start: " + s.error().message());

    for (int e = 0; e < c.epochs; ++e) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 50));
        if (!vm.failure().empty()) return failed("the guest failed: " + vm.failure());
        vm.pause();
        const std::string epoch = "epoch " + std::to_string(vm.epoch());
        // The final sync of both views; every push happened before the pause.
        for (dtrack::Tracker* tracker : {&ring_tracker, &bpf_tracker}) {
            const dtrack::SyncReport r = tracker->sync();
            if (!r.ok()) return failed(epoch + ": sync: " + r.errors.front().message());
        }
        if (t.ring()->ring_counters().jams)
            return failed(epoch + ": the KVM ring jammed (it then marks everything dirty): nothing to compare");

        const uint64_t first = vm.workload_first_page(), end = first + wss;
        for (size_t i = 0; i < vm.slots().size(); ++i) {
            const dtvm::Slot& slot = vm.slots()[i];
            const auto id = static_cast<dtrack::RegionId>(i);
            const std::vector<uint64_t> ring_pages = take_pages(ring_tracker, id);
            const std::vector<uint64_t> bpf_pages = take_pages(bpf_tracker, id);
            const std::string where = epoch + " slot " + std::to_string(slot.id);
            if (ring_pages != bpf_pages) out.mismatches.push_back(describe_difference(where, ring_pages, bpf_pages));
            out.pages_compared += bpf_pages.size();

            // Ground truth too: every page stamped this epoch was reported.
            std::vector<bool> reported(slot.pages);
            for (uint64_t p : bpf_pages) reported[p] = true;
            for (uint64_t p = 0; p < slot.pages; ++p) {
                const uint64_t guest_page = slot.gpa / 4096 + p;
                if (guest_page < first || guest_page >= end) continue;
                if (vm.stamp(slot, p) >> 8 == vm.epoch() && !reported[p]) {
                    out.mismatches.push_back(where + ": page " + std::to_string(p) +
                                             " was written this epoch but BPF did not report it");
                    break;
                }
            }
        }

        // Ring entries per vCPU: what the ring source read vs what BPF counted.
        const dtrack::Counters ring_counters = ring_tracker.counters(), bpf_counters = bpf_tracker.counters();
        const std::vector<uint64_t>& ring_vcpus = ring_counters.sources.at(0).pages_per_vcpu;
        const std::vector<uint64_t>& bpf_vcpus = bpf_counters.sources.at(0).pages_per_vcpu;
        if (ring_vcpus != bpf_vcpus) {
            std::string text = epoch + ": ring entries per vCPU differ:";
            for (size_t v = 0; v < std::max(ring_vcpus.size(), bpf_vcpus.size()); ++v)
                text += " vCPU " + std::to_string(v) + " ring " +
                        std::to_string(v < ring_vcpus.size() ? ring_vcpus[v] : 0) + " BPF " +
                        std::to_string(v < bpf_vcpus.size() ? bpf_vcpus[v] : 0);
            out.mismatches.push_back(text);
        }
        if (bpf_counters.sources.at(0).lost)
            out.mismatches.push_back(epoch + ": BPF lost " + std::to_string(bpf_counters.sources.at(0).lost) +
                                     " pushes (every slot is tracked, none should be)");
        vm.set_epoch(vm.epoch() + 1);
        vm.resume();
    }
    vm.stop();
    // The reaper may still be resetting what the vCPUs pushed after the last
    // resume; stop it so both reset counts below are read at rest.
    if (t.ring()) t.ring()->stop_reaper();
    if (stats.valid()) {
        const auto [runs, ns] = push_handler_stats();
        out.push_handler_runs = runs;
        out.push_handler_ns = runs ? double(ns) / double(runs) : 0;
    }
    out.slot_usage = source.slot_usage();

    // Full exits: what the vCPU threads handled vs what kvm_dirty_ring_exit
    // saw. Without kernel BTF the raw_tp handler cannot read the vCPU id
    // (unknown_vcpu_events): then only the totals can agree.
    const dtrack::BpfCompanionCounters companion = source.companion_counters();
    uint64_t vmm_exits = 0;
    for (uint32_t v = 0; v < vm.vcpu_count(); ++v) {
        const uint64_t vmm = vm.stats(v).ring_full_exits;
        const uint64_t seen = v < companion.full_exits_per_vcpu.size() ? companion.full_exits_per_vcpu[v] : 0;
        vmm_exits += vmm;
        out.full_exits += seen;
        if (vmm != seen && companion.unknown_vcpu_events == 0)
            out.mismatches.push_back("vCPU " + std::to_string(v) + ": " + std::to_string(vmm) +
                                     " ring-full exits in dtvm, " + std::to_string(seen) + " seen by BPF");
    }
    out.full_exits += companion.unknown_vcpu_events;
    if (vmm_exits != out.full_exits)
        out.mismatches.push_back(std::to_string(vmm_exits) + " ring-full exits in dtvm, " +
                                 std::to_string(out.full_exits) + " seen by BPF");
    // Resets: each KVM_RESET_DIRTY_RINGS walks every vCPU's ring, unless it
    // was cut short (then the rings after that one were not walked, and the
    // source called again).
    const dtrack::KvmRingCounters rc = t.ring()->ring_counters();
    for (uint32_t v = 0; v < vm.vcpu_count(); ++v) {
        const uint64_t seen = v < companion.resets_per_ring.size() ? companion.resets_per_ring[v] : 0;
        if (seen > rc.resets || seen + rc.short_resets < rc.resets)
            out.mismatches.push_back("ring " + std::to_string(v) + ": " + std::to_string(rc.resets) +
                                     " KVM_RESET_DIRTY_RINGS calls (" + std::to_string(rc.short_resets) +
                                     " cut short), " + std::to_string(seen) + " resets seen by BPF");
    }
    const dtrack::Counters ring_counters = ring_tracker.counters(), bpf_counters = bpf_tracker.counters();
    for (uint64_t n : bpf_counters.sources.at(0).pages_per_vcpu) out.pushes += n;
    out.bpf_harvest_us = mean_cost_us(bpf_counters.sources.at(0));
    out.ring_harvest_us = mean_cost_us(ring_counters.sources.at(0));
    return out;
}

}  // namespace dtrack_test
