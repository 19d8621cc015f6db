// What DirtyRingReader costs per ring entry: entries moved from KVM-style
// dirty rings (the model of tests/ring_model, no /dev/kvm) into the bitmaps,
// the model's reset included, against a straightforward reader that marks
// each page as it reads the entry (no staging, no jam detection, and wrong:
// it publishes before the reset).
#include <benchmark/benchmark.h>

#include <random>

#include "bench/pairs.hpp"
#include "ring_model/kernel_ring_model.hpp"
#include "sources/dirty_ring_reader.hpp"

namespace {

constexpr uint32_t ring_entries = 65536;
constexpr uint64_t slot_pages = 1ULL << 18;  // 1 GiB of 4 KiB pages
constexpr uint32_t entries_per_harvest = 16384;

// One vCPU writing distinct random pages of one slot; the consumer takes the
// bitmap after each harvest. Only the harvest is timed.
struct RingBench {
    ring_model::KernelRingModel kernel{{{.id = 0, .pages = slot_pages}}, 1, ring_entries};
    dtrack::Tracker tracker;
    std::vector<uint64_t> pages;

    RingBench() {
        tracker.add_region({.name = "slot 0", .slot = 0, .page_count = slot_pages}).value();
        std::mt19937_64 rng(7);
        std::vector<uint8_t> used(slot_pages, 0);
        while (pages.size() < entries_per_harvest)
            if (uint64_t p = rng() % slot_pages; !std::exchange(used[p], 1)) pages.push_back(p);
    }
    void dirty() {
        for (uint64_t p : pages) kernel.write(0, 0, p);
    }
    void take() {
        tracker.bitmap(0).take_all([](uint64_t, uint64_t) {});
    }
};

void report(benchmark::State& state) {
    state.counters["entries/s"] =
        benchmark::Counter(double(state.iterations()) * entries_per_harvest, benchmark::Counter::kIsRate);
}

void BM_RingHarvestReader(benchmark::State& state) {
    RingBench b;
    dtrack::DirtyRingReader reader(b.kernel, b.tracker, {});
    reader.add_ring(b.kernel.ring(0));
    for (auto _ : state) {
        state.PauseTiming();
        b.take();
        b.dirty();
        state.ResumeTiming();
        auto r = reader.harvest();
        if (!r || r->pages != entries_per_harvest) state.SkipWithError("the reader missed entries");
    }
    report(state);
}

// Baseline: read an entry, mark its page, flag it; reset at the end.
void BM_RingHarvestNaive(benchmark::State& state) {
    RingBench b;
    const dtrack::DirtyRingMemory ring = b.kernel.ring(0);
    uint32_t fetch = 0;
    for (auto _ : state) {
        state.PauseTiming();
        b.take();
        b.dirty();
        state.ResumeTiming();
        uint64_t read = 0;
        for (;; ++fetch, ++read) {
            kvm_dirty_gfn& g = ring.gfns[fetch & (ring.entries - 1)];
            if (!(__atomic_load_n(&g.flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY)) break;
            dtrack::RegionId id;
            if (b.tracker.find_slot(g.slot, &id)) b.tracker.bitmap(id).mark(g.offset);
            __atomic_store_n(&g.flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
        }
        if (b.kernel.reset()->count != read) state.SkipWithError("reset out of step");
    }
    report(state);
}

BENCHMARK(BM_RingHarvestReader)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RingHarvestNaive)->Unit(benchmark::kMicrosecond);

dtrack_bench::RegisterPair ring_pair("harvest 16k ring entries: reader vs naive", "BM_RingHarvestNaive",
                                     "BM_RingHarvestReader");

}  // namespace
