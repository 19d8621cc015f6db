// What DirtyRingReader costs per ring entry: entries moved from KVM-style
// dirty rings (the model of tests/ring_model, no /dev/kvm) into the tracker's
// bitmaps, against a reader written the obvious way.
//
// The load: 4 vCPUs, each ring holding 16k entries (a quarter of a 64k ring,
// where the reaper drains it), over 4 memslots of 1, 2, 2 and 3 GiB. Half of
// the entries come from bursts of 2-64 neighbouring pages, half are lone pages
// anywhere; every entry names a different page, as KVM pushes a page once
// until its reset.
//
// Only the harvest is timed, and within it not the model's reset: that stands
// in for KVM_RESET_DIRTY_RINGS, whose cost is the kernel's and the same for
// both readers.
#include <benchmark/benchmark.h>

#include <random>
#include <unordered_map>

#include "pairs.hpp"
#include "support/kernel_ring_model.hpp"
#include "sources/dirty_ring_reader.hpp"

namespace {

constexpr uint32_t vcpus = 4;
constexpr uint32_t ring_entries = 65536;
constexpr uint32_t entries_per_ring = ring_entries / 4;
constexpr uint64_t entries_per_harvest = uint64_t(vcpus) * entries_per_ring;
constexpr uint64_t gib_pages = 1ULL << 18;  // 4 KiB pages
const std::vector<ring_model::ModelSlot> slots = {
    {.id = 0, .pages = 1 * gib_pages},
    {.id = 1, .pages = 2 * gib_pages},
    {.id = 2, .pages = 2 * gib_pages},
    {.id = 3, .pages = 3 * gib_pages},
};

// The model's reset with the clock stopped.
class UntimedReset final : public dtrack::DirtyRingKernel {
public:
    UntimedReset(ring_model::KernelRingModel& model, benchmark::State& state) : model_(model), state_(state) {}
    dtrack::Result<dtrack::RingResetResult> reset() override {
        state_.PauseTiming();
        auto result = model_.reset();
        state_.ResumeTiming();
        return result;
    }

private:
    ring_model::KernelRingModel& model_;
    benchmark::State& state_;
};

struct GuestWrite {
    uint32_t slot;
    uint64_t page;
};

// Each vCPU's writes for one harvest: the same every iteration (the reset
// write-protects the pages again, so they are pushed again).
std::vector<std::vector<GuestWrite>> make_writes() {
    std::mt19937_64 rng(7);
    uint64_t total_pages = 0;
    for (const auto& s : slots) total_pages += s.pages;
    std::vector<std::vector<uint8_t>> used;
    for (const auto& s : slots) used.emplace_back(s.pages, 0);
    auto pick_slot = [&] {  // weighted by size
        uint64_t r = rng() % total_pages;
        size_t i = 0;
        while (r >= slots[i].pages) r -= slots[i++].pages;
        return i;
    };
    std::vector<std::vector<GuestWrite>> writes(vcpus);
    uint64_t burst_entries = 0, lone_entries = 0;
    for (auto& mine : writes) {
        auto add = [&](size_t s, uint64_t page) {
            if (mine.size() == entries_per_ring || std::exchange(used[s][page], 1)) return false;
            mine.push_back({slots[s].id, page});
            return true;
        };
        while (mine.size() < entries_per_ring) {
            const size_t s = pick_slot();
            if (burst_entries <= lone_entries) {
                const uint64_t len = 2 + rng() % 63;
                const uint64_t first = rng() % (slots[s].pages - len);
                for (uint64_t p = first; p < first + len; ++p) burst_entries += add(s, p);
            } else {
                lone_entries += add(s, rng() % slots[s].pages);
            }
        }
    }
    return writes;
}

struct RingBench {
    explicit RingBench(benchmark::State& state) : kernel(model, state) {
        for (const auto& s : slots)
            tracker.add_region({.name = "slot " + std::to_string(s.id), .slot = s.id, .page_count = s.pages}).value();
    }
    void dirty() {
        for (uint32_t v = 0; v < vcpus; ++v)
            for (const GuestWrite& w : writes[v]) model.write(v, w.slot, w.page);
    }
    void take() {
        for (dtrack::RegionId id = 0; id < tracker.region_count(); ++id)
            tracker.bitmap(id).take_all([](uint64_t, uint64_t) {});
    }

    ring_model::KernelRingModel model{slots, vcpus, ring_entries};
    UntimedReset kernel;
    dtrack::Tracker tracker;
    std::vector<std::vector<GuestWrite>> writes = make_writes();
};

void report(benchmark::State& state) {
    state.counters["entries/s"] =
        benchmark::Counter(double(state.iterations()) * entries_per_harvest, benchmark::Counter::kIsRate);
}

void BM_RingHarvestReader(benchmark::State& state) {
    RingBench b(state);
    dtrack::DirtyRingReader reader(b.kernel, b.tracker, {});
    for (uint32_t v = 0; v < vcpus; ++v) reader.add_ring(b.model.ring(v));
    for (auto _ : state) {
        state.PauseTiming();
        b.take();
        b.dirty();
        state.ResumeTiming();
        auto r = reader.harvest();
        if (!r || r->pages != entries_per_harvest || r->new_dirty != entries_per_harvest)
            state.SkipWithError("the reader missed entries");
    }
    report(state);
}

// Baseline, the obvious way, in the protocol's order: read each entry (flags
// with acquire), stage it, flag it RESET; reset; then for each staged entry
// look its slot up in a hash map and set its bit with one atomic OR.
void BM_RingHarvestPerEntry(benchmark::State& state) {
    RingBench b(state);
    struct Target {
        dtrack::DirtyBitmap* bitmap;
        uint64_t pages;
    };
    std::unordered_map<uint32_t, Target> by_slot;
    for (dtrack::RegionId id = 0; id < b.tracker.region_count(); ++id)
        by_slot[b.tracker.region(id).slot] = {&b.tracker.bitmap(id), b.tracker.region(id).page_count};
    struct Staged {
        uint32_t slot;
        uint64_t offset;
        uint32_t vcpu;
    };
    std::vector<Staged> staged;
    std::vector<uint32_t> fetch(vcpus, 0);
    for (auto _ : state) {
        state.PauseTiming();
        b.take();
        b.dirty();
        state.ResumeTiming();
        for (uint32_t v = 0; v < vcpus; ++v) {
            const dtrack::DirtyRingMemory ring = b.model.ring(v);
            for (;; ++fetch[v]) {
                kvm_dirty_gfn& g = ring.gfns[fetch[v] & (ring.entries - 1)];
                if (!(__atomic_load_n(&g.flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY)) break;
                staged.push_back({g.slot, g.offset, v});
                __atomic_store_n(&g.flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
            }
        }
        if (b.kernel.reset()->count != staged.size()) state.SkipWithError("reset out of step");
        uint64_t pages = 0, new_dirty = 0;
        std::vector<uint64_t> per_vcpu(vcpus, 0);
        for (const Staged& e : staged) {
            auto it = by_slot.find(e.slot);
            if (it == by_slot.end() || e.offset >= it->second.pages) continue;
            ++pages;
            ++per_vcpu[e.vcpu];
            new_dirty += it->second.bitmap->mark(e.offset);
        }
        staged.clear();
        if (pages != entries_per_harvest || new_dirty != entries_per_harvest)
            state.SkipWithError("the baseline missed entries");
        benchmark::DoNotOptimize(per_vcpu.data());
    }
    report(state);
}

BENCHMARK(BM_RingHarvestReader)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RingHarvestPerEntry)->Unit(benchmark::kMicrosecond);

// No target: the 200 M entries/s and 4x once asked are retired (BENCHMARKS.md):
// one vCPU dirties at most a few hundred thousand new pages a second, one
// write fault each, so the reader is already over 100x what can feed it.
dtrack_bench::RegisterPair ring_pair("ring harvest, 4 rings x 16k entries over 4 memslots: reader vs per-entry",
                                     "BM_RingHarvestPerEntry", "BM_RingHarvestReader");
dtrack_bench::RegisterFigure ring_figure("ring harvest, entries/s per core", "BM_RingHarvestReader", "entries/s");

}  // namespace
