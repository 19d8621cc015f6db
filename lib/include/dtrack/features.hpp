// Which kernel mechanisms for dirty page tracking work on this machine.
//
// probe_features() finds out by using each mechanism once (create a VM and
// enable the dirty ring, load and attach a BPF program, write-protect a page
// with userfaultfd, ...), never by reading version numbers. `dtrack doctor`
// prints the result; a VMM embedding libdtrack can call it to choose a
// tracking source.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "dtrack/error.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

struct Feature {
    std::string id;    // stable snake_case key, one of feature_id::*
    std::string name;  // for people: "KVM dirty ring"
    bool available = false;
    std::string detail;   // what was found: "max 65536 entries (1 MiB per vCPU)"
    std::string enables;  // what it gives dtrack
    std::string reason;   // when not available: why, with the errno text
    std::string fix;      // when not available: what to do about it
    std::string note;     // "kconfig-notes/<file>.md": kernel options and versions
};

// The ids probe_features() reports.
namespace feature_id {
// KVM (for VMMs)
inline constexpr std::string_view kvm_dirty_ring = "kvm_dirty_ring";
inline constexpr std::string_view kvm_dirty_ring_acq_rel = "kvm_dirty_ring_acq_rel";
inline constexpr std::string_view kvm_dirty_log = "kvm_dirty_log";
// process memory
inline constexpr std::string_view userfaultfd_wp_async = "userfaultfd_wp_async";
inline constexpr std::string_view pagemap_scan = "pagemap_scan";
inline constexpr std::string_view soft_dirty = "soft_dirty";
// eBPF
inline constexpr std::string_view kernel_btf = "kernel_btf";
inline constexpr std::string_view tracefs = "tracefs";
inline constexpr std::string_view bpf_tracepoint = "bpf_tracepoint";
inline constexpr std::string_view bpf_raw_tracepoint = "bpf_raw_tracepoint";
inline constexpr std::string_view bpf_prog_test_run = "bpf_prog_test_run";
inline constexpr std::string_view kvm_dirty_ring_tracepoints = "kvm_dirty_ring_tracepoints";
inline constexpr std::string_view bpf_iterator = "bpf_iterator";
inline constexpr std::string_view bpf_fentry = "bpf_fentry";
inline constexpr std::string_view bpf_tp_btf = "bpf_tp_btf";
inline constexpr std::string_view bpf_kprobe = "bpf_kprobe";
// who may use what
inline constexpr std::string_view privileges = "privileges";
inline constexpr std::string_view kvm_device = "kvm_device";
inline constexpr std::string_view sysctl_limits = "sysctl_limits";

// Every id, in report order.
inline constexpr std::array all = {
    kvm_dirty_ring,    kvm_dirty_ring_acq_rel,
    kvm_dirty_log,     userfaultfd_wp_async,
    pagemap_scan,      soft_dirty,
    kernel_btf,        tracefs,
    bpf_tracepoint,    bpf_raw_tracepoint,
    bpf_prog_test_run, kvm_dirty_ring_tracepoints,
    bpf_iterator,      bpf_fentry,
    bpf_tp_btf,        bpf_kprobe,
    privileges,        kvm_device,
    sysctl_limits,
};
}  // namespace feature_id

// Probes every mechanism, one entry per feature_id, in that order. A missing
// feature is an entry with available == false and a reason, not an error;
// the Error case means nothing could be probed at all (e.g. no /proc).
//
// Changes nothing on the system: every fd, VM, mapping and BPF program is
// closed again; mounts happen only in a private mount namespace of a forked
// child; clear_refs is written only by a forked child for its own memory.
// Takes well under a second. Needs root (or CAP_BPF+CAP_PERFMON, /dev/kvm
// access) to find everything; without it the entries say what is missing.
//
// While it runs, libbpf's print callback (process-wide) is diverted; messages
// from other threads are passed on to the previous callback.
Result<std::vector<Feature>> probe_features();

// The entry with this id, or nullptr.
const Feature* find_feature(const std::vector<Feature>& features, std::string_view id);

}  // namespace dtrack

DTRACK_PUBLIC_END
