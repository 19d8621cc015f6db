// Whether a process is a KubeVirt VM's QEMU, and its labels, from the facts
// read about it (pure: the scan reads, this decides). In a virt-launcher pod
// the container named "compute" runs virt-launcher, which runs
// virtqemud (libvirtd before) and that QEMU; libvirt names the domain
// NAMESPACE_VMNAME. Every fact is the pod's own doing, so each name must be
// a Kubernetes name (DNS-1123: what the API server admits, so nothing a
// label could be confused by), and the namespace in QEMU's -name must be
// the pod's: a pod cannot label itself as another namespace's VM.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dtrack/error.hpp"
#include "oci_annotations.hpp"
#include "sidecar/targets/target_labels.hpp"

namespace dtrack::cli::sidecar {

inline constexpr std::string_view kubevirt_container = "compute";

struct KubevirtVm {
    std::string target;   // the domain, NAMESPACE_VMNAME (libvirt's pid file in the pod is named so)
    TargetLabels labels;  // pod, namespace, vm
};

// A QEMU's comm: "qemu-kvm" (KubeVirt's images) or "qemu-system-*".
bool is_qemu_comm(std::string_view comm);

// DNS-1123 subdomain (lowercase alphanumerics, '-', '.'; alphanumeric at
// both ends) of at most `max` characters; a label allows no '.'.
bool kubernetes_name(std::string_view name, size_t max = 253, bool label = false);

// nullopt: the process is in another container than compute (not a VM of
// KubeVirt's; not worth a word). An error: it claims to be one, and its
// facts do not hold (the message says which).
Result<std::optional<KubevirtVm>> kubevirt_vm(const PodAnnotations& pod, std::string_view cmdline);

}  // namespace dtrack::cli::sidecar
