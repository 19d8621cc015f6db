// --dirty-limit-sleep and --ring-size for dtrack simulate (limit_sleep.hpp).
#include "simulate/limit_sleep.hpp"

#include <bit>
#include <cerrno>

namespace dtrack::cli {

void add_limit_sleep_options(CLI::App* cmd, LimitSleepFlags& f) {
    cmd->add_option("--dirty-limit-sleep", f.sleep,
                    "where a limited vCPU sleeps: slice (its share of every 10 ms slice) or ring-full (when its "
                    "dirty ring fills, for share/(1-share) of the time since it last woke, the rings emptied at "
                    "syncs: QEMU 8.1's actuator, dtvm's --dirty-limit-sleep ring-full; --trace only)")
        ->capture_default_str();
    cmd->add_option("--ring-size", f.ring_size, "ring-full: dirty ring entries per vCPU, as dtvm's --ring-size")
        ->capture_default_str();
}

Result<std::optional<uint64_t>> parse_limit_sleep(const LimitSleepFlags& f, bool limited) {
    if (f.sleep != "slice" && f.sleep != "ring-full")
        return Error{EINVAL, "--dirty-limit-sleep " + f.sleep + " is not a place to sleep",
                     "use --dirty-limit-sleep slice or ring-full"};
    if (f.ring_size < 256 || f.ring_size > (1u << 20) || !std::has_single_bit(f.ring_size))
        return Error{EINVAL, "--ring-size " + std::to_string(f.ring_size) + " is not a power of two from 256 to 1M",
                     "give the VMM's ring size, e.g. 4096 (dtvm's and QEMU's dirty-ring-size default)"};
    if (f.sleep == "slice") return std::optional<uint64_t>();
    if (!limited)
        return Error{EINVAL,
                     "--dirty-limit-sleep ring-full says where the dirty limit's vCPUs sleep, and there is no "
                     "--dirty-limit",
                     "add --dirty-limit RATE"};
    return std::optional<uint64_t>(f.ring_size);
}

}  // namespace dtrack::cli
