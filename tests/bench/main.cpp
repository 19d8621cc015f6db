// `make bench`: Google Benchmark runs, then one table: each pair as a ratio
// measured side by side in this one run (never a bare time across runs), and
// each figure from its benchmark's counters, with the target and whether it
// is met.
#include <benchmark/benchmark.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>

#include "pairs.hpp"

namespace {

// Keeps each run's time per iteration and counters so pairs and figures can
// be read after. No colour (the output goes to files and CI logs), and its
// own context line: Debian builds Google Benchmark without NDEBUG, so the
// library's context warns "built as DEBUG"; the timed loops are dtrack's
// code, built with the Makefile's optimisation.
class TableReporter : public benchmark::ConsoleReporter {
public:
    TableReporter() : ConsoleReporter(OO_Tabular) {}
    std::map<std::string, double> ns_per_iter;
    std::map<std::string, std::map<std::string, double>> counters;

    bool ReportContext(const Context& context) override {
        const auto& cpu = benchmark::CPUInfo::Get();
        utsname u{};
        ::uname(&u);
        std::printf("dtrack_bench: %d CPUs at %.0f MHz, Linux %s, /dev/kvm %s; optimised build (%s)\n", cpu.num_cpus,
                    cpu.cycles_per_second / 1e6, u.release,
                    ::access("/dev/kvm", R_OK | W_OK) == 0 ? "present" : "absent", DTRACK_BENCH_CXXFLAGS);
        name_field_width_ = context.name_field_width;  // as ConsoleReporter's own does
        printed_header_ = false;
        return true;
    }
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& r : runs) {
            if (r.run_type != Run::RT_Iteration) continue;
            ns_per_iter[r.benchmark_name()] = r.GetAdjustedRealTime();
            for (const auto& [name, c] : r.counters) counters[r.benchmark_name()][name] = c.value;
        }
        ConsoleReporter::ReportRuns(runs);
    }
};

std::string verdict(double value, double target) {
    if (target <= 0) return "";
    return value >= target ? "met" : "MISSED";
}

// 56.7M, 41.6G: figures run from thousands (pages/s) to tens of billions (bytes/s).
std::string figure_text(double v) {
    char b[32];
    if (v >= 1e9) std::snprintf(b, sizeof b, "%.1fG", v / 1e9);
    else if (v >= 1e6) std::snprintf(b, sizeof b, "%.1fM", v / 1e6);
    else if (v >= 1e3) std::snprintf(b, sizeof b, "%.1fk", v / 1e3);
    else std::snprintf(b, sizeof b, "%.1f", v);
    return b;
}

std::string target_text(double target, bool ratio) {
    if (target <= 0) return "-";
    char b[32];
    if (ratio) std::snprintf(b, sizeof b, ">= %.0fx", target);
    else std::snprintf(b, sizeof b, ">= %s", figure_text(target).c_str());
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    TableReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    std::printf("\n%-74s %10s %10s %s\n", "comparison (same run)", "ratio", "target", "");
    for (const auto& p : dtrack_bench::pairs()) {
        auto a = reporter.ns_per_iter.find(p.baseline), b = reporter.ns_per_iter.find(p.candidate);
        if (a == reporter.ns_per_iter.end() || b == reporter.ns_per_iter.end()) continue;
        const double ratio = a->second / b->second;
        std::printf("%-74s %9.1fx %10s %s\n", p.label.c_str(), ratio, target_text(p.target, true).c_str(),
                    verdict(ratio, p.target).c_str());
    }
    bool header = false;
    for (const auto& f : dtrack_bench::figures()) {
        auto run = reporter.counters.find(f.benchmark);
        if (run == reporter.counters.end()) continue;
        auto c = run->second.find(f.counter);
        if (c == run->second.end()) continue;
        if (!header) std::printf("\n%-74s %10s %10s %s\n", "figure", "value", "target", ""), header = true;
        std::printf("%-74s %10s %10s %s\n", f.label.c_str(), figure_text(c->second).c_str(),
                    target_text(f.target, false).c_str(), verdict(c->second, f.target).c_str());
    }
    benchmark::Shutdown();
}

namespace dtrack_bench {
std::vector<Pair>& pairs() {
    static std::vector<Pair> all;
    return all;
}
std::vector<Figure>& figures() {
    static std::vector<Figure> all;
    return all;
}
}  // namespace dtrack_bench
