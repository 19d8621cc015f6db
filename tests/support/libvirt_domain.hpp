// A transient libvirt domain (`virsh create`) running
// tests/qemu/dirtying_guest.S: libvirt starts QEMU, writes
// /run/libvirt/qemu/NAME.pid, and the guest rewrites the same
// kQemuGuestDirtyPages pages many times a second.
#pragma once

#include <sys/types.h>

#include <string>

#include "support/libvirt_daemon.hpp"

namespace dtrack_test {

// What `virsh domstats --dirtyrate` said after `virsh domdirtyrate-calc`.
struct LibvirtDirtyRate {
    std::string mode;            // dirtyrate.calc_mode
    int period_s = 0;            // dirtyrate.calc_period
    double mib_per_second = -1;  // dirtyrate.megabytes_per_second (MiB/s); -1: not reported
    std::string stats;           // the whole output, for messages
};

class LibvirtDomain {
public:
    // Creates domain `name` (LibvirtDaemon::kDomainPrefix...) on `daemon`
    // and waits until its guest writes. Throws std::runtime_error with
    // virsh's words when libvirt refuses it.
    LibvirtDomain(const LibvirtDaemon& daemon, std::string name);
    // Destroys it if it still runs.
    ~LibvirtDomain();
    LibvirtDomain(const LibvirtDomain&) = delete;
    LibvirtDomain& operator=(const LibvirtDomain&) = delete;

    const std::string& name() const { return name_; }
    const std::string& uuid() const { return uuid_; }
    pid_t pid() const { return pid_; }  // QEMU's, from the pid file
    // "kvm" or "qemu" (TCG): what runs the guest here, and why.
    const std::string& type() const { return type_; }

    // `virsh destroy`: QEMU is killed and libvirt removes NAME.pid.
    void destroy();
    // `virsh domdirtyrate-calc --seconds S --mode M`, then `virsh domstats --dirtyrate` once it is done.
    LibvirtDirtyRate dirty_rate(int seconds, const std::string& mode);

private:
    std::string name_;
    std::string dir_;  // the domain's XML and the image's copy
    std::string uuid_;
    std::string type_;
    pid_t pid_ = -1;
    bool running_ = false;
};

}  // namespace dtrack_test
