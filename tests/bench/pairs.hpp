// What `make bench` prints after Google Benchmark's own lines: one table of
// ratios measured side by side in this run (never a bare time across runs)
// and of figures read from a benchmark's counters, each with its target
// where the project has one.
#pragma once

#include <string>
#include <vector>

namespace dtrack_bench {

struct Pair {
    std::string label;      // "take 0.1% dirty of 64 GiB: summary vs word scan"
    std::string baseline;   // benchmark name
    std::string candidate;  // benchmark name; ratio = baseline time / candidate time
    double target = 0;      // the ratio should be at least this; 0: no target
};

struct Figure {
    std::string label;      // "ring harvest, entries/s per core"
    std::string benchmark;  // benchmark name
    std::string counter;    // one of its counters (a rate counter reads per second)
    double target = 0;      // the figure should be at least this; 0: no target
};

std::vector<Pair>& pairs();
std::vector<Figure>& figures();

struct RegisterPair {
    RegisterPair(std::string label, std::string baseline, std::string candidate, double target = 0) {
        pairs().push_back({std::move(label), std::move(baseline), std::move(candidate), target});
    }
};

struct RegisterFigure {
    RegisterFigure(std::string label, std::string benchmark, std::string counter, double target = 0) {
        figures().push_back({std::move(label), std::move(benchmark), std::move(counter), target});
    }
};

}  // namespace dtrack_bench
