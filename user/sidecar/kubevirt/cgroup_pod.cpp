#include "cgroup_pod.hpp"

#include <vector>

namespace dtrack::cli::sidecar {

namespace {

bool lower_hex(std::string_view s) { return s.find_first_not_of("0123456789abcdef") == std::string_view::npos; }

bool container_id(std::string_view s) { return s.size() == 64 && lower_hex(s); }

// "0123abcd-..." (or with '_' for '-', as the systemd driver writes it) ->
// the UID with '-'; "" when it is not one.
std::string pod_uid(std::string_view s) {
    if (s.size() != 36) return "";
    std::string uid(s);
    for (size_t i = 0; i < uid.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash && (uid[i] == '-' || uid[i] == '_')) {
            uid[i] = '-';
            continue;
        }
        if (dash || !lower_hex(uid.substr(i, 1))) return "";
    }
    return uid;
}

bool strip(std::string_view& s, std::string_view prefix, std::string_view suffix = {}) {
    if (s.size() < prefix.size() + suffix.size() || !s.starts_with(prefix) || !s.ends_with(suffix)) return false;
    s = s.substr(prefix.size(), s.size() - prefix.size() - suffix.size());
    return true;
}

// The pod's UID in one path segment: "kubepods-besteffort-pod<UID>.slice",
// "kubepods-pod<UID>.slice" or "pod<UID>".
std::string pod_uid_of_segment(std::string_view seg) {
    if (strip(seg, "kubepods-", ".slice")) {
        const size_t at = seg.rfind("pod");
        return at == std::string_view::npos ? "" : pod_uid(seg.substr(at + 3));
    }
    return strip(seg, "pod") ? pod_uid(seg) : "";
}

std::optional<std::pair<std::string, ContainerRuntime>> container_of_segment(std::string_view seg) {
    std::string_view id = seg;
    if (strip(id, "cri-containerd-", ".scope") && container_id(id))
        return std::pair{std::string(id), ContainerRuntime::containerd};
    id = seg;
    if (strip(id, "crio-", ".scope") && container_id(id)) return std::pair{std::string(id), ContainerRuntime::crio};
    if (container_id(seg)) return std::pair{std::string(seg), ContainerRuntime::unknown};
    return std::nullopt;
}

std::vector<std::string_view> segments(std::string_view path) {
    std::vector<std::string_view> out;
    for (size_t at = 0; at <= path.size();) {
        const size_t end = std::min(path.find('/', at), path.size());
        if (end > at) out.push_back(path.substr(at, end - at));
        at = end + 1;
    }
    return out;
}

}  // namespace

std::optional<PodContainer> pod_container_of(std::string_view proc_cgroup) {
    // cgroup v2: the one line "0::PATH" (a v1 or hybrid host has others too).
    std::string_view path;
    for (size_t at = 0; at < proc_cgroup.size();) {
        const size_t end = std::min(proc_cgroup.find('\n', at), proc_cgroup.size());
        const std::string_view line = proc_cgroup.substr(at, end - at);
        if (line.starts_with("0::")) path = line.substr(3);
        at = end + 1;
    }
    std::vector<std::string_view> segs = segments(path);
    // Read from inside a pod (a cgroup namespace of its own), another pod's
    // path is relative to the reader's: "/../../kubepods-…-pod<UID>.slice/…".
    // Only the kubelet makes cgroups beside a pod's, so the pod's segment is
    // still the first that names a pod.
    const bool relative = !segs.empty() && segs[0] == "..";
    while (!segs.empty() && segs.front() == "..") segs.erase(segs.begin());
    if (segs.empty() || (!relative && !segs[0].starts_with("kubepods"))) return std::nullopt;
    // The first pair: the kubelet's and the runtime's cgroups. Below them
    // the container may make its own, named as it likes.
    for (size_t i = 1; i < segs.size(); ++i) {
        const std::string uid = pod_uid_of_segment(segs[i - 1]);
        const auto container = uid.empty() ? std::nullopt : container_of_segment(segs[i]);
        if (container) return PodContainer{uid, container->first, container->second};
    }
    return std::nullopt;
}

}  // namespace dtrack::cli::sidecar
