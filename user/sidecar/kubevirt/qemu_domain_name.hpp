// The libvirt domain a QEMU process runs, from its command line: libvirt
// starts QEMU with "-name guest=DOMAIN,debug-threads=on" (older: "-name
// DOMAIN"), doubling any ',' in DOMAIN. KubeVirt names the domain
// NAMESPACE_VMNAME (a namespace cannot hold '_', so the first '_' splits it).
// The command line is the process's own (untrusted): callers bound it, and
// the names are checked by kubevirt_vm.hpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dtrack::cli::sidecar {

// From /proc/PID/cmdline (NUL-separated arguments): the domain, or nullopt
// where there is no -name.
std::optional<std::string> qemu_domain_name(std::string_view cmdline);

struct NamespacedName {
    std::string namespace_;
    std::string name;
};

// "ns_vm-1" -> {ns, vm-1}; nullopt without a '_' or with an empty part.
std::optional<NamespacedName> split_kubevirt_domain(std::string_view domain);

}  // namespace dtrack::cli::sidecar
