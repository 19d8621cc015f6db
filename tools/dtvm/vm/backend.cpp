#include "dtvm/vm/backend.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <cerrno>

namespace dtvm {
namespace {

constexpr int kKvmApiVersion = 12;

}  // namespace

dtrack::Result<dtrack::UniqueFd> open_kvm() {
    const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT || err == ENXIO || err == ENODEV)
            return dtrack::Error{err, "no /dev/kvm: this kernel offers no KVM",
                                 "use --backend process (no KVM needed), or load the kvm module (modprobe kvm_intel "
                                 "or kvm_amd) on a host with virtualization"};
        if (err == EACCES || err == EPERM)
            return dtrack::errno_error("open /dev/kvm", err, "run as root or join group kvm, or use --backend process");
        return dtrack::errno_error("open /dev/kvm", err, "use --backend process");
    }
    dtrack::UniqueFd kvm(fd);
    if (::ioctl(fd, KVM_GET_API_VERSION, 0) != kKvmApiVersion)
        return dtrack::Error{0, "/dev/kvm does not speak KVM API 12 (not a KVM device?)",
                             "use --backend process, or a Linux kernel with KVM"};
    return kvm;
}

dtrack::Status kvm_usable() {
    auto kvm = open_kvm();
    if (!kvm) return kvm.error();
    return dtrack::Ok{};
}

dtrack::Result<BackendChoice> choose_backend(const std::string& name) {
    if (name == "kvm") return BackendChoice{Backend::kvm, ""};
    if (name == "process") return BackendChoice{Backend::process, ""};
    if (name != "auto")
        return dtrack::Error{EINVAL, "unknown backend '" + name + "'", "use --backend kvm, process or auto"};
    if (dtrack::Status s = kvm_usable(); !s)
        return BackendChoice{Backend::process,
                             "KVM is not usable here (" + s.error().what +
                                 "); worker threads run the workload over userfaultfd-tracked memory"};
    return BackendChoice{Backend::kvm, "/dev/kvm works"};
}

std::string backend_name(Backend backend) { return backend == Backend::kvm ? "kvm" : "process"; }

}  // namespace dtvm
