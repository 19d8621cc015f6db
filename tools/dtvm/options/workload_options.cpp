// --workload, --wss, --rate, --hot-fraction, --hot-share, --seed, --exit-every, --write-bytes.
#include <string>

#include "dtrack/units.hpp"
#include "dtvm/options/option_groups.hpp"

namespace dtvm::option_groups {

void add_workload_options(CLI::App& app, WorkloadFlags& f) {
    app.add_option("--workload", f.pattern, "sequential | random | hotcold")->capture_default_str();
    app.add_option("--wss", f.wss, "working set, split evenly between the vCPUs")->capture_default_str();
    app.add_option("--rate", f.rate, "page writes/s per vCPU (e.g. 50k); 0 = as fast as it runs")
        ->capture_default_str();
    app.add_option("--hot-fraction", f.values.hot_fraction, "hotcold: share of the working set that is hot")
        ->capture_default_str();
    app.add_option("--hot-share", f.values.hot_share, "hotcold: share of the writes that go to the hot part")
        ->capture_default_str();
    app.add_option("--seed", f.values.seed, "guest PRNG seed")->capture_default_str();
    app.add_option("--exit-every", f.values.exit_every, "guest exits to the VMM every K writes")->capture_default_str();
    app.add_option(
           "--write-bytes", f.write_bytes,
           "bytes rewritten per page write (e.g. 512, 4K): the 8-byte stamp, random words before it; 8 to 4096, a "
           "multiple of 8")
        ->capture_default_str();
}

dtrack::Result<Workload> parse_workload(const WorkloadFlags& f, const VmOptions& vm, bool incoming) {
    auto wss = dtrack::parse_size(f.wss, "--wss");
    if (!wss) return wss.error();
    auto rate = dtrack::parse_count(f.rate, "--rate");
    if (!rate) return rate.error();
    auto pattern = parse_pattern(f.pattern);
    if (!pattern) return pattern.error();
    if (*rate > 1'000'000'000)
        return dtrack::Error{EINVAL, "--rate " + f.rate + " is beyond any vCPU: at most 1G writes/s",
                             "give e.g. 50k, or 0 for as fast as it runs"};
    auto write_bytes = dtrack::parse_size(f.write_bytes, "--write-bytes");
    if (!write_bytes) return write_bytes.error();
    if (dtrack::Status s = check_write_bytes(*write_bytes); !s) return s.error();
    Workload w = f.values;
    w.write_bytes = uint32_t(*write_bytes);
    if (w.exit_every < 1) return dtrack::Error{EINVAL, "--exit-every must be at least 1", "use e.g. 256"};
    if (!(w.hot_fraction > 0 && w.hot_fraction < 1 && w.hot_share >= 0 && w.hot_share <= 1))
        return dtrack::Error{EINVAL, "--hot-fraction must be in (0,1) and --hot-share in [0,1]",
                             "use e.g. 0.1 and 0.9"};
    w.pattern = *pattern;
    w.wss_pages = *wss / 4096;
    w.rate_per_vcpu = *rate;
    const uint64_t room = workload_capacity(vm);
    if (!incoming && (w.wss_pages < vm.vcpus || w.wss_pages > room))
        return dtrack::Error{EINVAL,
                             "--wss " + dtrack::format_bytes(double(w.wss_pages) * 4096) +
                                 " does not fit: the guest has room for " + dtrack::format_bytes(double(room) * 4096) +
                                 " of working set, at least one page per vCPU",
                             "lower --wss or raise --mem"};
    return w;
}

}  // namespace dtvm::option_groups
