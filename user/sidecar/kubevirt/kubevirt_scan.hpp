// Finds KubeVirt's QEMU processes on this node: one pass over /proc (the
// sidecar runs with hostPID), reading for each process its comm, and only
// for a QEMU its cgroup, command line and its container's config.json from
// the runtime's state directory. Everything read is bounded: processes per
// pass, bytes per file, and a deadline for the pass; a config.json is read
// once per container (they do not change) and forgotten with the container.
//
// Why a periodic pass and not events: no event says "a QEMU started in a
// pod" to an unprivileged reader. The proc connector (fork/exec events)
// needs CAP_NET_ADMIN in the host's network namespace (hostNetwork), and
// its exec event comes before virt-launcher's QEMU has its command line
// checked here anyway; a runtime directory watch sees containers, not the
// QEMU that virt-launcher starts in one later. A VM runs for minutes to
// months, so a few seconds to find it costs nothing, and a pass reads one
// 16-byte comm per process (about 10 ms for 3,000 processes). Exits are
// seen at once anyway: each target's harvester holds a pidfd.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "cgroup_pod.hpp"
#include "kubevirt_vm.hpp"
#include "oci_annotations.hpp"

namespace dtrack::cli::sidecar {

struct KubevirtScanOptions {
    std::string proc_root = "/proc";
    std::string containerd_root = "/run/containerd/io.containerd.runtime.v2.task/k8s.io";  // ID/config.json
    std::string crio_root = "/run/containers/storage/overlay-containers";                  // ID/userdata/config.json
    size_t max_processes = 100000;  // per pass (pid_max's default is 4 Mi; a node runs far fewer)
    std::chrono::milliseconds deadline{1000};
    size_t max_cmdline_bytes = 16 * 1024;  // libvirt puts -name first; the rest is not read
    size_t max_cgroup_bytes = 4 * 1024;
    size_t max_config_bytes = 1024 * 1024;  // a config.json with a seccomp profile is some 30 KiB
};

struct FoundVm {
    pid_t pid = 0;
    KubevirtVm vm;
};

struct SkippedProcess {
    pid_t pid = 0;
    std::string why;
};

struct KubevirtScan {
    std::vector<FoundVm> found;
    std::vector<SkippedProcess> skipped;  // QEMUs in a compute container whose facts did not hold
    bool cut_short = false;               // the process limit or the deadline ended the pass
};

class KubevirtScanner {
public:
    explicit KubevirtScanner(KubevirtScanOptions options) : options_(std::move(options)) {}

    KubevirtScan scan();
    const KubevirtScanOptions& options() const { return options_; }

private:
    // One process: a VM, nothing (not a QEMU in a pod), or why it was skipped.
    Result<std::optional<KubevirtVm>> inspect(int proc_dir, const std::string& comm);
    Result<PodAnnotations> annotations(const std::string& container_id, ContainerRuntime runtime);

    const KubevirtScanOptions options_;
    std::map<std::string, Result<PodAnnotations>> config_cache_;  // container ID -> its config.json's verdict
    std::map<std::string, bool> seen_;                            // container IDs seen in this pass
};

}  // namespace dtrack::cli::sidecar
