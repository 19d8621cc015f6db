#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include "dtrack/error.hpp"
#include "dtrack/region.hpp"
#include "dtrack/export.hpp"
DTRACK_PUBLIC_BEGIN
namespace dtrack::recording {
inline constexpr uint32_t format_version = 1;
struct Header {
    uint32_t version = format_version;
    std::string method;          // "bpf", "sample", "sample-exact", "kvm-ring", "kvm-log", "uffd"
    bool exact = true;           // false: page sets are estimates (sampling)
    std::string target;          // what was recorded, for people
    std::string host;            // uname nodename
    std::string kernel;          // uname release
    uint64_t start_unix_ns = 0;  // wall-clock time of the first interval's start
    uint64_t interval_ns = 0;    // the nominal interval (each record has its real start and end)
    uint32_t vcpus = 0;          // 0: the method has no per-vCPU view
    std::vector<Region> regions;
};
struct PageRun { RegionId region = 0; uint64_t first = 0; uint64_t count = 0; };
struct Interval {
    uint64_t index = 0;
    uint64_t start_ns = 0;       // since Header::start_unix_ns
    uint64_t end_ns = 0;
    bool dropped = false;        // the writer fell behind: nothing is known of it
    std::vector<PageRun> dirty;  // distinct pages dirtied in the interval, sorted by region then page
    std::vector<uint64_t> vcpu_pages;
    double estimated_pages = 0;
    double bound_pages = 0;
    uint64_t lost = 0;
    uint64_t overapproximated = 0;
    uint64_t dirty_pages() const;  // sum of the runs' counts (define it inline in your copy if you need it)
};
struct ReadEnd {
    enum class Kind { complete, truncated, corrupt } kind = Kind::complete;
    uint64_t offset = 0;
    std::string problem;
};
}  // namespace dtrack::recording
DTRACK_PUBLIC_END
