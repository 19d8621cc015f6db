#include "kubevirt_vm.hpp"

#include "qemu_domain_name.hpp"

namespace dtrack::cli::sidecar {

namespace {

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// What a log line may quote of an untrusted name.
std::string quoted(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return "'" + out + (text.size() > 64 ? "...'" : "'");
}

Error refused(const std::string& why) {
    return Error{EINVAL, why, "a KubeVirt VM's pod, namespace and VM names are Kubernetes names; this one was skipped"};
}

}  // namespace

bool is_qemu_comm(std::string_view comm) { return comm == "qemu-kvm" || comm.starts_with("qemu-system-"); }

bool kubernetes_name(std::string_view name, size_t max, bool label) {
    if (name.empty() || name.size() > max || !alnum(name.front()) || !alnum(name.back())) return false;
    for (char c : name)
        if (!alnum(c) && c != '-' && (label || c != '.')) return false;
    return true;
}

Result<std::optional<KubevirtVm>> kubevirt_vm(const PodAnnotations& pod, std::string_view cmdline) {
    if (pod.container != kubevirt_container) return std::optional<KubevirtVm>{};
    if (!kubernetes_name(pod.pod)) return refused("its pod name " + quoted(pod.pod) + " is not a Kubernetes name");
    if (!kubernetes_name(pod.namespace_, 63, true))
        return refused("its namespace " + quoted(pod.namespace_) + " is not a Kubernetes namespace name");
    const std::optional<std::string> domain = qemu_domain_name(cmdline);
    if (!domain) return refused("its command line has no -name guest=NAMESPACE_VMNAME (libvirt's)");
    const std::optional<NamespacedName> vm = split_kubevirt_domain(*domain);
    if (!vm) return refused("its domain " + quoted(*domain) + " is not NAMESPACE_VMNAME (KubeVirt's)");
    if (vm->namespace_ != pod.namespace_)
        return refused("its domain " + quoted(*domain) + " names namespace " + quoted(vm->namespace_) +
                       ", but the pod is in " + pod.namespace_);
    if (!kubernetes_name(vm->name)) return refused("its VM name " + quoted(vm->name) + " is not a Kubernetes name");
    KubevirtVm found{.target = *domain};
    found.labels.add("pod", pod.pod);
    found.labels.add("namespace", pod.namespace_);
    found.labels.add("vm", vm->name);
    return std::optional<KubevirtVm>{std::move(found)};
}

}  // namespace dtrack::cli::sidecar
