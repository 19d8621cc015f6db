// Who may use what: this process's capabilities, access to /dev/kvm, and the
// sysctls that lock BPF, perf and userfaultfd away from unprivileged users.
#include <fcntl.h>
#include <grp.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "probe/probes.hpp"
#include "dtrack/unique_fd.hpp"

namespace dtrack::probe {
namespace {

constexpr FeatureText privileges_text{
    feature_id::privileges,
    "Privileges",
    "loading BPF (CAP_BPF+CAP_PERFMON), mounting tracefs (CAP_SYS_ADMIN), "
    "reading other processes (CAP_SYS_PTRACE)",
    "run dtrack as root, or give it CAP_BPF and CAP_PERFMON (setcap "
    "cap_bpf,cap_perfmon+ep build/dtrack)",
    "privileges.md",
};
constexpr FeatureText kvm_device_text{
    feature_id::kvm_device,
    "/dev/kvm access",
    "creating VMs: the KVM sources, dtvm, embedding VMMs",
    "run as root or join the group that owns /dev/kvm (usually kvm)",
    "privileges.md",
};
constexpr FeatureText sysctl_text{
    feature_id::sysctl_limits,
    "Sysctl limits",
    "tells whether BPF and userfaultfd are locked away from this user",
    "run dtrack as root, or give it CAP_BPF and CAP_PERFMON: tracing BPF needs "
    "them whatever the sysctls say",
    "privileges.md",
};

struct Capability {
    int number;
    const char* name;
};
// The capabilities dtrack's mechanisms care about.
constexpr Capability relevant_capabilities[] = {
    {CAP_SYS_ADMIN, "CAP_SYS_ADMIN"},       {CAP_BPF, "CAP_BPF"},
    {CAP_PERFMON, "CAP_PERFMON"},           {CAP_SYS_PTRACE, "CAP_SYS_PTRACE"},
    {CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE"},
};

std::optional<long> read_sysctl(const char* path) {
    std::ifstream in(path);
    long value = 0;
    if (!(in >> value)) return std::nullopt;
    return value;
}

std::string value_text(const std::optional<long>& value) { return value ? std::to_string(*value) : "?"; }

Feature probe_capabilities() {
    std::uint64_t caps = effective_capabilities();
    std::vector<std::string> held, lacking;
    for (const Capability& cap : relevant_capabilities)
        (has_capability(caps, cap.number) ? held : lacking).push_back(cap.name);
    std::string detail = "uid " + std::to_string(::geteuid()) + "; has " +
                         (held.empty() ? std::string("none of them") : join(held, " "));
    if (!lacking.empty()) detail += "; lacks " + join(lacking, " ");
    if (!may_load_tracing_bpf()) return unavailable(privileges_text, detail + ": cannot load tracing BPF programs");
    return available(privileges_text, detail);
}

Feature probe_kvm_device() {
    struct stat st {};
    if (::stat("/dev/kvm", &st) != 0) {
        Feature f = unavailable(kvm_device_text, errno_error("stat /dev/kvm", errno).what);
        f.fix = "load KVM (modprobe kvm_intel or kvm_amd) or build the kernel with CONFIG_KVM";
        return f;
    }
    std::ostringstream owner;
    const passwd* user = ::getpwuid(st.st_uid);
    const group* grp = ::getgrgid(st.st_gid);
    owner << "mode " << std::oct << (st.st_mode & 07777) << std::dec << ", owner "
          << (user ? user->pw_name : std::to_string(st.st_uid)) << ":"
          << (grp ? grp->gr_name : std::to_string(st.st_gid));

    UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
    if (!kvm.valid())
        return unavailable(kvm_device_text,
                           errno_error("open /dev/kvm read-write", errno).what + " (" + owner.str() + ")");
    // A node that opens is not yet KVM (a container may bind another device there).
    if (::ioctl(kvm.get(), KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        Feature f = unavailable(kvm_device_text, "/dev/kvm opens (" + owner.str() +
                                                     ") but does not answer KVM_GET_API_VERSION with 12: not KVM");
        f.fix =
            "make /dev/kvm the KVM device (character 10:232); without KVM, dtvm runs its process backend and a VMM can "
            "track its RAM with UffdSource";
        return f;
    }
    return available(kvm_device_text, owner.str() + "; opens read-write, KVM API 12");
}

Feature probe_sysctls() {
    auto bpf_disabled = read_sysctl("/proc/sys/kernel/unprivileged_bpf_disabled");
    auto paranoid = read_sysctl("/proc/sys/kernel/perf_event_paranoid");
    auto userfaultfd = read_sysctl("/proc/sys/vm/unprivileged_userfaultfd");
    std::string values = "kernel.unprivileged_bpf_disabled=" + value_text(bpf_disabled) +
                         ", kernel.perf_event_paranoid=" + value_text(paranoid) +
                         ", vm.unprivileged_userfaultfd=" + value_text(userfaultfd);

    // What they mean for this process (the kernel's own checks). The perf
    // sysctl is only reported: tracing BPF needs CAP_PERFMON anyway, and
    // with it the sysctl does not apply.
    std::uint64_t caps = effective_capabilities();
    if (bpf_disabled.value_or(0) != 0 && !has_capability(caps, CAP_BPF) && !has_capability(caps, CAP_SYS_ADMIN))
        return unavailable(sysctl_text, values + ": BPF is for CAP_BPF holders only");
    std::string detail = values + ": no limit for this process";
    if (userfaultfd.value_or(1) == 0 && !has_capability(caps, CAP_SYS_PTRACE))
        detail += " (userfaultfd: user-mode faults only, enough for write tracking)";
    return available(sysctl_text, detail);
}

}  // namespace

std::vector<Feature> probe_privileges() { return {probe_capabilities(), probe_kvm_device(), probe_sysctls()}; }

}  // namespace dtrack::probe
