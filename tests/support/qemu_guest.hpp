// QEMU under TCG running tests/qemu/dirtying_guest.S: a real third-party VMM
// with a known dirty set, on machines with or without KVM.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dtrack_test {

// What the guest writes (dirtying_guest.S): one word in each of these pages,
// new contents every pass, many passes a second.
inline constexpr uint64_t kQemuGuestDirtyPages = 8192;
// What QEMU itself writes in an interval (timers, TCG state, its heap):
// 50-350 pages here. A margin for the checks, not a figure under test.
inline constexpr double kQemuOwnPages = 0.08 * kQemuGuestDirtyPages;

class QemuGuest {
public:
    // Why QEMU cannot run here ("" when it can): the binary is missing.
    static std::string unavailable_reason();

    // Starts qemu-system-x86_64 (TCG, 128 MiB, no devices but the boot floppy)
    // and waits until its guest has begun writing. `program` runs it under
    // another name (a symlink: its comm is that name), with `extra_args`
    // after the others (e.g. libvirt's -name guest=DOMAIN).
    QemuGuest();
    explicit QemuGuest(const std::vector<std::string>& extra_args, const std::string& program = "");
    ~QemuGuest();
    QemuGuest(const QemuGuest&) = delete;
    QemuGuest& operator=(const QemuGuest&) = delete;

    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
};

}  // namespace dtrack_test

// Skips the test, with the reason, where QEMU is not installed.
#define DTRACK_REQUIRE_QEMU()                                                 \
    do {                                                                      \
        const std::string why = dtrack_test::QemuGuest::unavailable_reason(); \
        if (!why.empty()) GTEST_SKIP() << why;                                \
    } while (0)
