// What the summary level buys: taking a sparse bitmap costs in proportion to
// the dirty pages, where a plain word scan costs in proportion to the region.
#include <benchmark/benchmark.h>

#include <random>

#include "bench/pairs.hpp"
#include "dtrack/dirty_bitmap.hpp"

namespace {

constexpr uint64_t region_pages = 16ULL << 20;  // 64 GiB of 4 KiB pages

void dirty_some(dtrack::DirtyBitmap& b, uint64_t dirty, uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (uint64_t i = 0; i < dirty; ++i) b.mark(rng() % b.pages());
}

// Candidate: take_all walks the summary.
void BM_TakeWithSummary(benchmark::State& state) {
    dtrack::DirtyBitmap b(region_pages);
    uint64_t sink = 0;
    for (auto _ : state) {
        state.PauseTiming();
        dirty_some(b, state.range(0), 1);
        state.ResumeTiming();
        sink += b.take_all([&](uint64_t, uint64_t bits) { sink ^= bits; });
    }
    benchmark::DoNotOptimize(sink);
}

// Baseline: exchange every word, as a bitmap without a summary must.
void BM_TakeByWordScan(benchmark::State& state) {
    dtrack::DirtyBitmap b(region_pages);
    uint64_t sink = 0;
    for (auto _ : state) {
        state.PauseTiming();
        dirty_some(b, state.range(0), 1);
        state.ResumeTiming();
        for (uint64_t w = 0; w < b.words(); ++w) sink ^= b.take_word(w);
    }
    benchmark::DoNotOptimize(sink);
}

// Marking throughput: one page at a time versus a kernel bitmap OR-ed in.
void BM_MarkPages(benchmark::State& state) {
    dtrack::DirtyBitmap b(region_pages);
    for (auto _ : state)
        for (uint64_t p = 0; p < 64 * 1024; ++p) b.mark(p * 3);
    state.SetItemsProcessed(state.iterations() * 64 * 1024);
}

void BM_OrKernelWords(benchmark::State& state) {
    dtrack::DirtyBitmap b(region_pages);
    std::vector<uint64_t> kernel(3 * 1024, 0x4924924924924924ULL);  // every third page, as above
    for (auto _ : state) b.or_words(0, kernel);
    state.SetItemsProcessed(state.iterations() * 64 * 1024);
}

BENCHMARK(BM_TakeWithSummary)->Arg(16)->Arg(1 << 14)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TakeByWordScan)->Arg(16)->Arg(1 << 14)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MarkPages)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OrKernelWords)->Unit(benchmark::kMicrosecond);

dtrack_bench::RegisterPair sparse_pair("take 16 dirty pages of 64 GiB: summary vs scan", "BM_TakeByWordScan/16",
                                       "BM_TakeWithSummary/16");
dtrack_bench::RegisterPair take_pair("take 16k dirty pages of 64 GiB: summary vs scan", "BM_TakeByWordScan/16384",
                                     "BM_TakeWithSummary/16384");
dtrack_bench::RegisterPair mark_pair("mark 64k pages: kernel-bitmap OR vs one by one", "BM_MarkPages",
                                     "BM_OrKernelWords");

}  // namespace
