// ioctl on a KVM fd, retried when a signal interrupts it (vCPU kicks use signals).
#pragma once

#include <sys/ioctl.h>

#include <cerrno>

namespace dtrack::kvm {

template <typename Arg>
int ioctl_retry(int fd, unsigned long request, Arg arg) {
    int r;
    do r = ::ioctl(fd, request, arg);
    while (r < 0 && errno == EINTR);
    return r;
}

}  // namespace dtrack::kvm
