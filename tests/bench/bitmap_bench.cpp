// What the summary levels buy: taking the dirty pages of a 1 TiB guest's
// bitmap (2^28 pages, 32 MiB of bits) should cost in proportion to the dirty
// pages, where a bitmap without a summary must exchange every word.
//
// Each density runs with uniform pages and with clustered runs of pages. Only
// the take is timed: the pages are marked again, between takes, from a list
// made once per density and layout. The counter s/dirty_page is the take's
// time over its dirty pages: flat across densities means cost in proportion
// to the dirty pages.
#include <benchmark/benchmark.h>

#include <atomic>
#include <bit>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "pairs.hpp"
#include "dtrack/dirty_bitmap.hpp"

namespace {

constexpr uint64_t guest_pages = 1ULL << 28;  // 1 TiB of 4 KiB pages
constexpr uint64_t guest_words = guest_pages / 64;

enum class Layout { uniform, clustered };

struct Density {
    const char* name;  // as it reads in a benchmark name: "0.01%"
    double fraction;
};

constexpr Density densities[] = {{"0.001%", 1e-5}, {"0.01%", 1e-4}, {"0.1%", 1e-3}, {"1%", 1e-2},
                                 {"10%", 0.1},     {"50%", 0.5},    {"100%", 1.0}};

// One word's worth of dirty pages, as a marker would OR it in.
struct DirtyWord {
    uint64_t index;
    uint64_t bits;
};

// The dirty pages of one density and layout, word by word in order.
struct DirtySet {
    std::vector<DirtyWord> words;
    uint64_t pages = 0;
};

class DirtySetBuilder {
public:
    void set(uint64_t page) {
        const uint64_t w = page / 64;
        if (set_.words.empty() || set_.words.back().index != w) set_.words.push_back({w, 0});
        set_.words.back().bits |= 1ULL << (page % 64);
        ++set_.pages;
    }
    DirtySet done() { return std::move(set_); }

private:
    DirtySet set_;
};

// Uniform: every page dirty with probability `fraction`, independently.
// Clustered: runs of 1..127 neighbouring pages (64 on average), with gaps
// that give the same density. At 100% both are every page.
DirtySet make_dirty_set(double fraction, Layout layout) {
    std::mt19937_64 rng(layout == Layout::uniform ? 1 : 2);
    DirtySetBuilder out;
    if (fraction == 1.0) {
        for (uint64_t p = 0; p < guest_pages; ++p) out.set(p);
    } else if (layout == Layout::uniform && fraction == 0.5) {
        for (uint64_t w = 0; w < guest_words; ++w)
            for (uint64_t bits = rng(); bits; bits &= bits - 1) out.set(w * 64 + std::countr_zero(bits));
    } else if (layout == Layout::uniform) {
        std::geometric_distribution<uint64_t> gap(fraction);
        for (uint64_t p = gap(rng); p < guest_pages; p += gap(rng) + 1) out.set(p);
    } else {
        constexpr double mean_run = 64;
        std::uniform_int_distribution<uint64_t> run(1, 2 * mean_run - 1);
        std::geometric_distribution<uint64_t> gap(fraction / (mean_run * (1 - fraction)));  // mean gap: run * (1-f) / f
        for (uint64_t p = gap(rng); p < guest_pages; p += gap(rng) + 1)
            for (uint64_t end = std::min(p + run(rng), guest_pages); p < end; ++p) out.set(p);
    }
    return out.done();
}

// The dirty set a benchmark asks for; only the latest is kept (the dense ones
// are 64 MiB each), and the benchmarks of one set run one after the other.
const DirtySet& dirty_set(const Density& d, Layout layout) {
    static std::string key;
    static DirtySet set;
    const std::string want = std::string(d.name) + (layout == Layout::uniform ? "u" : "c");
    if (key != want) {
        set = make_dirty_set(d.fraction, layout);
        key = want;
    }
    return set;
}

// The baseline: a bitmap without a summary, whose take exchanges every word.
class LinearBitmap {
public:
    explicit LinearBitmap(uint64_t pages) : words_(pages / 64), bits_(new std::atomic<uint64_t>[words_]()) {}
    void or_word(uint64_t w, uint64_t bits) { bits_[w].fetch_or(bits); }
    template <typename F>
    uint64_t take_all(F&& f) {
        uint64_t taken = 0;
        for (uint64_t w = 0; w < words_; ++w)
            if (uint64_t bits = bits_[w].exchange(0)) {
                taken += std::popcount(bits);
                f(w, bits);
            }
        return taken;
    }

private:
    uint64_t words_;
    std::unique_ptr<std::atomic<uint64_t>[]> bits_;
};

void or_into(dtrack::DirtyBitmap& b, const DirtySet& set) {
    for (const DirtyWord& d : set.words) b.or_words(d.index, std::span<const uint64_t>(&d.bits, 1));
}

void or_into(LinearBitmap& b, const DirtySet& set) {
    for (const DirtyWord& d : set.words) b.or_word(d.index, d.bits);
}

// Marks the set, takes it (timed), and checks the take returned every page.
template <typename Bitmap>
void take_benchmark(benchmark::State& state, const Density& d, Layout layout) {
    const DirtySet& set = dirty_set(d, layout);
    auto bitmap = std::make_unique<Bitmap>(guest_pages);
    uint64_t sink = 0;
    for (auto _ : state) {
        state.PauseTiming();
        or_into(*bitmap, set);
        state.ResumeTiming();
        const uint64_t taken = bitmap->take_all([&](uint64_t, uint64_t bits) { sink ^= bits; });
        if (taken != set.pages) {
            state.SkipWithError("the take did not return exactly the marked pages");
            break;
        }
    }
    benchmark::DoNotOptimize(sink);
    state.counters["dirty_pages"] = double(set.pages);
    state.counters["s/dirty_page"] = benchmark::Counter(
        double(set.pages), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

std::string take_name(const char* method, const Density& d, Layout layout) {
    return std::string("BM_Take") + method + "/1TiB/" + (layout == Layout::uniform ? "uniform/" : "clustered/") +
           d.name;
}

// Registers candidate and baseline side by side for every density and layout.
bool register_takes() {
    for (Layout layout : {Layout::uniform, Layout::clustered})
        for (const Density& d : densities) {
            const std::string candidate = take_name("All", d, layout);
            const std::string baseline = take_name("ByWordScan", d, layout);
            benchmark::RegisterBenchmark(candidate.c_str(), [&d, layout](benchmark::State& s) {
                take_benchmark<dtrack::DirtyBitmap>(s, d, layout);
            })->Unit(benchmark::kMicrosecond);
            benchmark::RegisterBenchmark(baseline.c_str(), [&d, layout](benchmark::State& s) {
                take_benchmark<LinearBitmap>(s, d, layout);
            })->Unit(benchmark::kMicrosecond);
            const bool target = layout == Layout::uniform && d.fraction == 1e-4;
            dtrack_bench::RegisterPair(std::string("take ") + d.name +
                                           (layout == Layout::uniform ? " uniform" : " clustered") +
                                           " of 1 TiB: take_all vs word scan",
                                       baseline, candidate, target ? 20 : 0);
        }
    return true;
}

const bool takes_registered = register_takes();

// Marking throughput: one page at a time versus a kernel bitmap OR-ed in.
constexpr uint64_t mark_region_pages = 16ULL << 20;  // 64 GiB

void BM_MarkPages(benchmark::State& state) {
    dtrack::DirtyBitmap b(mark_region_pages);
    for (auto _ : state)
        for (uint64_t p = 0; p < 64 * 1024; ++p) b.mark(p * 3);
    state.SetItemsProcessed(state.iterations() * 64 * 1024);
}

void BM_OrKernelWords(benchmark::State& state) {
    dtrack::DirtyBitmap b(mark_region_pages);
    std::vector<uint64_t> kernel(3 * 1024, 0x4924924924924924ULL);  // every third page, as above
    for (auto _ : state) b.or_words(0, kernel);
    state.SetItemsProcessed(state.iterations() * 64 * 1024);
}

// Marks that each flag a clean summary word (one page per 4096, across 1 TiB):
// what every summary level adds to a mark. The take between runs is not timed.
void BM_MarkFreshSummaryWords(benchmark::State& state) {
    dtrack::DirtyBitmap b(guest_pages);
    for (auto _ : state) {
        for (uint64_t p = 0; p < guest_pages; p += 4096) b.mark(p);
        state.PauseTiming();
        b.take_all([](uint64_t, uint64_t) {});
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * (guest_pages / 4096));
}

BENCHMARK(BM_MarkPages)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OrKernelWords)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MarkFreshSummaryWords)->Unit(benchmark::kMicrosecond);

dtrack_bench::RegisterPair mark_pair("mark 64k pages: kernel-bitmap OR vs one by one", "BM_MarkPages",
                                     "BM_OrKernelWords");

}  // namespace
