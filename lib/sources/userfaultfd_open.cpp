#include "sources/userfaultfd_open.hpp"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "common/installed_docs.hpp"
#include "common/linux_compat.h"

namespace dtrack {

namespace {

const std::string wp_async_note = "see " + installed_doc("kconfig-notes/userfaultfd-wp-async.md");
constexpr const char* instead = "or track with SampleSource (page hashing: works on any kernel, any process)";

int read_sysctl(const char* path) {
    std::ifstream f(path);
    int v = -1;
    return (f >> v) ? v : -1;
}

}  // namespace

// A userfaultfd, however this process may open one: plainly (root, or
// vm.unprivileged_userfaultfd=1); with UFFD_USER_MODE_ONLY, which any user
// may (5.11+) and which is all write tracking needs, since async
// write-protect faults are resolved before the user-mode check; or through
// /dev/userfaultfd (6.1+).
Result<UniqueFd> open_userfaultfd(std::string& how) {
    const int flags = O_CLOEXEC | O_NONBLOCK;
    UniqueFd fd(static_cast<int>(::syscall(SYS_userfaultfd, flags)));
    if (fd.valid()) {
        how = "userfaultfd()";
        return fd;
    }
    const int plain_err = errno;
    if (plain_err == ENOSYS)
        return Error{ENOSYS, "this kernel has no userfaultfd (CONFIG_USERFAULTFD is off)",
                     std::string("use a kernel built with it, ") + wp_async_note + "; " + instead};
    fd.reset(static_cast<int>(::syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY)));
    if (fd.valid()) {
        how = "userfaultfd(UFFD_USER_MODE_ONLY)";
        return fd;
    }
    UniqueFd device(::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC));
    if (device.valid()) {
        fd.reset(::ioctl(device.get(), USERFAULTFD_IOC_NEW, flags));
        if (fd.valid()) {
            how = "/dev/userfaultfd";
            return fd;
        }
    }
    if (plain_err == EPERM) {
        const int unprivileged = read_sysctl("/proc/sys/vm/unprivileged_userfaultfd");
        return Error{EPERM,
                     "userfaultfd refused: vm.unprivileged_userfaultfd=" + std::to_string(unprivileged) +
                         " and this process lacks CAP_SYS_PTRACE; UFFD_USER_MODE_ONLY and /dev/userfaultfd were "
                         "refused too (a seccomp filter, such as a container's default profile?)",
                     "run as root, or sysctl vm.unprivileged_userfaultfd=1, or allow userfaultfd in the "
                     "seccomp profile; " +
                         wp_async_note};
    }
    return errno_error("userfaultfd", plain_err, wp_async_note);
}

Result<uint64_t> userfaultfd_features() {
    std::string how;
    auto fd = open_userfaultfd(how);
    if (!fd) return fd.error();
    uffdio_api api{};
    api.api = UFFD_API;
    if (::ioctl(fd->get(), UFFDIO_API, &api) != 0) return errno_error("UFFDIO_API", errno, wp_async_note);
    return static_cast<uint64_t>(api.features);
}

}  // namespace dtrack
