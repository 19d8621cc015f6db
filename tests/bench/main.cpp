// `make bench`: Google Benchmark runs, then each pair is printed as a ratio
// measured side by side in this one run (never a bare time across runs).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>

#include "bench/pairs.hpp"

namespace {

// Keeps each run's time per iteration so pairs can be compared after.
class RecordingReporter : public benchmark::ConsoleReporter {
public:
    std::map<std::string, double> ns_per_iter;
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& r : runs)
            if (r.run_type == Run::RT_Iteration) ns_per_iter[r.benchmark_name()] = r.GetAdjustedRealTime();
        ConsoleReporter::ReportRuns(runs);
    }
};

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    RecordingReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    std::printf("\n%-52s %12s\n", "comparison (same run)", "ratio");
    for (const auto& pair : dtrack_bench::pairs()) {
        auto a = reporter.ns_per_iter.find(pair.baseline), b = reporter.ns_per_iter.find(pair.candidate);
        if (a == reporter.ns_per_iter.end() || b == reporter.ns_per_iter.end()) continue;
        std::printf("%-52s %11.1fx\n", pair.label.c_str(), a->second / b->second);
    }
    benchmark::Shutdown();
}
