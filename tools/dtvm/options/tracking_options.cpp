// --track, --ring-size.
#include <string>

#include "dtvm/options/option_groups.hpp"

namespace dtvm::option_groups {

void add_tracking_options(CLI::App& app, TrackingFlags& f) {
    app.add_option("--track", f.mode,
                   "ring (KVM dirty ring) | log (KVM dirty log) | uffd (userfaultfd + PAGEMAP_SCAN, process "
                   "backend) | auto (ring on kvm, uffd on process)")
        ->capture_default_str();
    app.add_option("--ring-size", f.ring_entries, "dirty ring entries per vCPU (power of two)")->capture_default_str();
}

dtrack::Status check_tracking_flags(const TrackingFlags& f) {
    const uint32_t ring = f.ring_entries;
    if (ring < 256 || (ring & (ring - 1)))
        return dtrack::Error{EINVAL, "--ring-size " + std::to_string(ring) + " is not a power of two >= 256",
                             "use e.g. 4096 or 65536"};
    if (f.mode != "auto" && f.mode != "ring" && f.mode != "log" && f.mode != "uffd")
        return dtrack::Error{EINVAL, "unknown tracking mode '" + f.mode + "'", "use --track ring, log, uffd or auto"};
    return dtrack::Ok{};
}

dtrack::Result<TrackingOptions> parse_tracking(const TrackingFlags& f, Backend backend) {
    auto mode = parse_track_mode(f.mode, backend);
    if (!mode) return mode.error();
    TrackingOptions tracking;
    tracking.mode = *mode;
    tracking.ring_entries = f.ring_entries;
    return tracking;
}

}  // namespace dtvm::option_groups
