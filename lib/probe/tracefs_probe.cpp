// tracefs: where the kernel publishes tracepoint ids. libbpf needs it to
// attach tp/ programs (raw_tp/ programs do without it).
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>

#include "probe/probes.hpp"

namespace dtrack::probe {
namespace {

constexpr FeatureText text{
    feature_id::tracefs,
    "tracefs",
    "ids for tp/ BPF programs; event formats",
    "mount -t tracefs tracefs /sys/kernel/tracing (as root), or use raw "
    "tracepoints, which need no tracefs",
    "tracefs.md",
};

}  // namespace

Outcome run_with_tracefs(const std::function<Outcome()>& work) {
    if (!mounted_tracefs().empty()) return work();
    return run_in_child(work, ChildSetup::private_tracefs);
}

Feature probe_tracefs() {
    std::string where = mounted_tracefs();
    if (!where.empty()) return available(text, "mounted at " + where);

    // Not mounted: can it be? Mount it where nobody else sees it.
    Outcome mountable = run_in_child(
        [] {
            if (::access("/sys/kernel/tracing/events", R_OK) != 0)
                return Outcome{false, "tracefs mounted but has no events/ directory"};
            return Outcome{true, ""};
        },
        ChildSetup::private_tracefs);
    if (!mountable.ok) return unavailable(text, mountable.text);
    return available(text,
                     "not mounted; mounting works (tried in a private mount namespace): "
                     "dtrack mounts it at /sys/kernel/tracing or uses raw tracepoints");
}

}  // namespace dtrack::probe
