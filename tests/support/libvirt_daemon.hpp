// The system libvirt daemon for a test (qemu:///system): the one running
// already, or libvirtd (Debian 12's daemon; its virtlogd too) started here in
// the background and stopped afterwards. Tests that use it run one at a time
// (a lock file), so one test's teardown never stops another's daemon.
#pragma once

#include <sys/types.h>

#include <string>

namespace dtrack_test {

class LibvirtDaemon {
public:
    // "" where a libvirt test can run: root, libvirtd, virtlogd and virsh
    // installed; else why not.
    static std::string unavailable_reason();

    // Takes the lock, starts the daemons unless they run, and destroys any
    // domain named kDomainPrefix* a crashed run left. Throws
    // std::runtime_error with the daemon's log when it does not answer.
    LibvirtDaemon();
    // Stops what it started, puts /dev/kvm's mode back, frees the lock.
    ~LibvirtDaemon();
    LibvirtDaemon(const LibvirtDaemon&) = delete;
    LibvirtDaemon& operator=(const LibvirtDaemon&) = delete;

    // Where libvirt's QEMU driver keeps NAME.pid for each running domain.
    static constexpr const char* kPidDir = "/run/libvirt/qemu";
    // The tests' domains are named so, and only they are cleaned up.
    static constexpr const char* kDomainPrefix = "dtrack-test-";

    bool started_here() const { return libvirtd_ > 0; }
    // What the daemons started here wrote, for failure messages.
    std::string log() const;

private:
    void give_kvm_to_the_qemu_user();
    void start_daemons();
    void destroy_leftover_domains();
    void stop();

    int lock_ = -1;
    std::string dir_;  // the daemons' logs
    pid_t virtlogd_ = -1;
    pid_t libvirtd_ = -1;
    // /dev/kvm's group and mode before give_kvm_to_the_qemu_user changed them.
    bool kvm_changed_ = false;
    gid_t kvm_gid_ = 0;
    unsigned kvm_mode_ = 0;
};

// virsh against the system daemon: `virsh -c qemu:///system ARGS 2>&1`.
std::string virsh_command(const std::string& args);

}  // namespace dtrack_test

// Skips the test, with the reason, where libvirt cannot run here.
#define DTRACK_REQUIRE_LIBVIRT()                                                  \
    do {                                                                          \
        const std::string why = dtrack_test::LibvirtDaemon::unavailable_reason(); \
        if (!why.empty()) GTEST_SKIP() << why;                                    \
    } while (0)
