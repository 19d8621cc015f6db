// Which Kubernetes pod and container a process runs in, from its
// /proc/PID/cgroup: the kubelet puts each pod in a cgroup named for the
// pod's UID, and the runtime each container in one named for its ID.
//   systemd driver: /kubepods.slice/kubepods-burstable.slice/
//                   kubepods-burstable-pod<UID, '_' for '-'>.slice/cri-containerd-<ID>.scope
//                   (CRI-O: crio-<ID>.scope)
//   cgroupfs driver: /kubepods/burstable/pod<UID>/<ID>
// (read from a pod, relative to its own cgroup: /../../pod<UID>/<ID>)
// A process may sit in a cgroup below its container's (KubeVirt makes some,
// and a container may make its own), so the first pod segment and the
// container segment right below it are taken, and only what matches exactly.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dtrack::cli::sidecar {

enum class ContainerRuntime { unknown, containerd, crio };  // unknown: the cgroupfs driver does not say

struct PodContainer {
    std::string pod_uid;       // 8-4-4-4-12 lowercase hex
    std::string container_id;  // 64 lowercase hex
    ContainerRuntime runtime = ContainerRuntime::unknown;
    bool operator==(const PodContainer&) const = default;
};

// From the text of /proc/PID/cgroup (its cgroup v2 line "0::PATH"):
// nullopt when the process is not in a pod's container.
std::optional<PodContainer> pod_container_of(std::string_view proc_cgroup);

}  // namespace dtrack::cli::sidecar
