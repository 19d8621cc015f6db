// Benchmarks register pairs (baseline, candidate) to be printed as a ratio.
#pragma once

#include <string>
#include <vector>

namespace dtrack_bench {

struct Pair {
    std::string label;      // "take 0.1% dirty of 64 GiB: summary vs word scan"
    std::string baseline;   // benchmark name
    std::string candidate;  // benchmark name; ratio = baseline time / candidate time
};

std::vector<Pair>& pairs();

struct RegisterPair {
    RegisterPair(std::string label, std::string baseline, std::string candidate) {
        pairs().push_back({std::move(label), std::move(baseline), std::move(candidate)});
    }
};

}  // namespace dtrack_bench
