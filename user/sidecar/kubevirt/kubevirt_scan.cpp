#include "kubevirt_scan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "dtrack/unique_fd.hpp"
#include "sidecar/http/small_file.hpp"

namespace dtrack::cli::sidecar {

namespace {

// At most `max` bytes of a /proc file (whose size stat does not tell).
std::string read_prefix(int dir, const char* name, size_t max) {
    UniqueFd fd(::openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd.valid()) return "";
    std::string text(max, '\0');
    size_t got = 0;
    while (got < max) {
        const ssize_t n = ::read(fd.get(), text.data() + got, max - got);
        if (n <= 0) break;
        got += size_t(n);
    }
    text.resize(got);
    return text;
}

bool all_digits(const char* s) {
    if (!*s) return false;
    for (; *s; ++s)
        if (*s < '0' || *s > '9') return false;
    return true;
}

}  // namespace

KubevirtScan KubevirtScanner::scan() {
    KubevirtScan out;
    seen_.clear();
    const auto give_up = std::chrono::steady_clock::now() + options_.deadline;
    DIR* proc = ::opendir(options_.proc_root.c_str());
    if (!proc) return out;
    size_t processes = 0;
    while (const dirent* e = ::readdir(proc)) {
        if (!all_digits(e->d_name)) continue;
        if (++processes > options_.max_processes || std::chrono::steady_clock::now() > give_up) {
            out.cut_short = true;
            break;
        }
        // Every file of this process through one directory fd: a PID reused
        // meanwhile reads as nothing rather than as another process.
        UniqueFd dir(::openat(::dirfd(proc), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir.valid()) continue;
        std::string comm = read_prefix(dir.get(), "comm", 64);
        while (!comm.empty() && comm.back() == '\n') comm.pop_back();
        if (!is_qemu_comm(comm)) continue;
        const pid_t pid = pid_t(std::atoi(e->d_name));
        auto vm = inspect(dir.get(), comm);
        if (!vm) out.skipped.push_back({pid, vm.error().message()});
        else if (*vm) out.found.push_back({pid, std::move(**vm)});
    }
    ::closedir(proc);
    // Forget the containers gone (a cache bounded by the containers there are).
    std::erase_if(config_cache_, [&](const auto& entry) { return !seen_.contains(entry.first); });
    return out;
}

Result<std::optional<KubevirtVm>> KubevirtScanner::inspect(int proc_dir, const std::string& comm) {
    const auto pod = pod_container_of(read_prefix(proc_dir, "cgroup", options_.max_cgroup_bytes));
    if (!pod) return std::optional<KubevirtVm>{};  // not in a pod's container
    seen_[pod->container_id] = true;
    auto found = annotations(pod->container_id, pod->runtime);
    if (!found)
        return Error{found.error().errno_value,
                     comm + " in container " + pod->container_id.substr(0, 12) + " of pod " + pod->pod_uid + ": " +
                         found.error().what,
                     found.error().fix};
    auto vm = kubevirt_vm(*found, read_prefix(proc_dir, "cmdline", options_.max_cmdline_bytes));
    if (!vm)
        return Error{vm.error().errno_value,
                     comm + " in pod " + found->namespace_ + "/" + found->pod + ": " + vm.error().what, vm.error().fix};
    return vm;
}

Result<PodAnnotations> KubevirtScanner::annotations(const std::string& container_id, ContainerRuntime runtime) {
    if (const auto cached = config_cache_.find(container_id); cached != config_cache_.end()) return cached->second;
    // The ID is 64 hex digits (cgroup_pod.hpp): it cannot leave the root.
    std::vector<std::string> paths;
    if (runtime != ContainerRuntime::crio)
        paths.push_back(options_.containerd_root + "/" + container_id + "/config.json");
    if (runtime != ContainerRuntime::containerd)
        paths.push_back(options_.crio_root + "/" + container_id + "/userdata/config.json");
    Result<PodAnnotations> verdict =
        Error{ENOENT, "no config.json for it under " + options_.containerd_root + " or " + options_.crio_root,
              "give the runtime's state directory: --containerd-root or --crio-root (mounted read-only)"};
    for (const std::string& path : paths) {
        if (::access(path.c_str(), F_OK) != 0) continue;
        auto text = read_small_file(path, options_.max_config_bytes, "the container's config.json");
        if (!text) {
            verdict = text.error();
            break;
        }
        verdict = pod_annotations_of(*text);
        if (!verdict) verdict = Error{EINVAL, path + ": " + verdict.error().what, verdict.error().fix};
        break;
    }
    // Not there yet (a container being created) is asked again next pass.
    if (verdict || verdict.error().errno_value != ENOENT) config_cache_.emplace(container_id, verdict);
    return verdict;
}

}  // namespace dtrack::cli::sidecar
