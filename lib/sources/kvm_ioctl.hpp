// ioctl on a KVM fd, retried when a signal interrupts it (vCPU kicks use
// signals), and what its failure on a caller's VM fd means.
#pragma once

#include <sys/ioctl.h>

#include <cerrno>
#include <string>

#include "dtrack/error.hpp"

namespace dtrack::kvm {

template <typename Arg>
int ioctl_retry(int fd, unsigned long request, Arg arg) {
    int r;
    do r = ::ioctl(fd, request, arg);
    while (r < 0 && errno == EINTR);
    return r;
}

// Why `call` on `vm_fd`, given as a KVM VM's fd, failed with `err`: the
// caller's fd is not open (EBADF) or not a KVM fd (ENOTTY), else the errno.
inline Error vm_fd_error(int vm_fd, const std::string& call, int err) {
    const std::string fd = "vm_fd " + std::to_string(vm_fd);
    const std::string fix = "pass the fd KVM_CREATE_VM returned, while the VM is open";
    if (err == EBADF) return Error{err, fd + " is not an open file descriptor (" + call + ": EBADF)", fix};
    if (err == ENOTTY) return Error{err, fd + " is not a KVM VM (" + call + ": ENOTTY)", fix};
    return errno_error(call + " on " + fd, err);
}

}  // namespace dtrack::kvm
