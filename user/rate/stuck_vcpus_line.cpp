#include "stuck_vcpus_line.hpp"

#include <cmath>
#include <cstdio>

namespace dtrack::cli {

namespace {

// 150000 -> "150,000": an exit count is read exactly, not as "150.0k".
std::string grouped(uint64_t n) {
    std::string digits = std::to_string(n);
    for (int i = int(digits.size()) - 3; i > 0; i -= 3) digits.insert(size_t(i), ",");
    return digits;
}

// Tenths of a second, as the JSON carries them.
double tenths(double seconds) { return std::round(seconds * 10) / 10; }

}  // namespace

std::vector<std::string> stuck_vcpu_lines(const std::vector<StuckVcpu>& stuck) {
    std::vector<std::string> lines;
    for (const StuckVcpu& s : stuck) {
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%.1f", tenths(s.seconds()));
        lines.push_back("vCPU " + std::to_string(s.vcpu) + ": stuck for " + seconds +
                        " s: " + grouped(s.full_exits_since) +
                        (s.full_exits_since == 1 ? " ring-full exit" : " ring-full exits") +
                        " and no ring reset (the VMM does not harvest its dirty ring; a jammed ring)");
    }
    return lines;
}

nlohmann::json stuck_vcpus_json(const std::vector<StuckVcpu>& stuck) {
    nlohmann::json out = nlohmann::json::array();
    for (const StuckVcpu& s : stuck)
        out.push_back({{"vcpu", s.vcpu}, {"stuck_s", tenths(s.seconds())}, {"ring_full_exits", s.full_exits_since}});
    return out;
}

}  // namespace dtrack::cli
