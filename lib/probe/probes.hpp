// Internal to lib/probe/: the probe of each mechanism family, and the small
// vocabulary they share. features.cpp runs them in order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/host_files.hpp"
#include "dtrack/features.hpp"

namespace dtrack::probe {

// The fixed texts of one feature; the probe adds what it found.
struct FeatureText {
    std::string_view id;
    const char* name;
    const char* enables;
    const char* fix;   // default fix when unavailable; a probe may refine it
    const char* note;  // file name under kconfig-notes/
};

// A Feature with the fixed texts filled in, not yet available.
Feature make_feature(const FeatureText& text);
Feature available(const FeatureText& text, std::string detail);
Feature unavailable(const FeatureText& text, std::string reason);
// From an Error: its what is the reason, its fix (if any) replaces the default.
Feature unavailable(const FeatureText& text, const Error& error);

// What one probe step found: ok, and a line of text (the detail when ok,
// the reason when not).
struct Outcome {
    bool ok = false;
    std::string text;
};

// Shared with the sources, in lib/common/: join(), mounted_tracefs(),
// effective_capabilities(), may_load_tracing_bpf(); errno text is
// dtrack::errno_text and dtrack::errno_error (dtrack/error.hpp).

// Runs `work` in a forked child and returns its Outcome. With
// private_tracefs the child first moves into its own mount namespace (all
// mounts private) and mounts tracefs at /sys/kernel/tracing there: the rest
// of the system never sees that mount. A child that dies is reported as a
// failed Outcome.
enum class ChildSetup { none, private_tracefs };
Outcome run_in_child(const std::function<Outcome()>& work, ChildSetup setup = ChildSetup::none);

// Runs `work` where libbpf finds tracefs: here when it is mounted, otherwise
// in a child with a private tracefs mount.
Outcome run_with_tracefs(const std::function<Outcome()>& work);

// --- the families, each in its own file ---------------------------------
std::vector<Feature> probe_kvm();                // kvm_probe.cpp
std::vector<Feature> probe_process_tracking();   // uffd_probe.cpp
Feature probe_soft_dirty();                      // soft_dirty_probe.cpp
Feature probe_kernel_btf();                      // btf_probe.cpp
Feature probe_tracefs();                         // tracefs_probe.cpp
std::vector<Feature> probe_bpf_program_types();  // bpf_probe.cpp
Feature probe_kvm_tracepoints();                 // kvm_tracepoint_probe.cpp
Feature probe_bpf_iterator();                    // bpf_iterator_probe.cpp
std::vector<Feature> probe_privileges();         // privilege_probe.cpp

}  // namespace dtrack::probe
