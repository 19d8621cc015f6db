#include "support/qemu_guest.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "support/run_command.hpp"

namespace dtrack_test {

namespace {

constexpr const char* kQemu = "qemu-system-x86_64";

std::string guest_image() { return binary("tests/qemu/dirtying_guest.img"); }

}  // namespace

std::string QemuGuest::unavailable_reason() {
    if (run(std::string("command -v ") + kQemu + " >/dev/null").exit_code != 0)
        return std::string(kQemu) +
               " is not installed (Debian's qemu-system-x86; `make deps` installs it "
               "where the package is available)";
    if (::access(guest_image().c_str(), R_OK) != 0) return "no guest image at " + guest_image() + " (run make)";
    return "";
}

QemuGuest::QemuGuest() {
    const std::string drive = "format=raw,if=floppy,file=" + guest_image();
    pid_ = ::fork();
    if (pid_ == 0) {
        // TCG even where /dev/kvm works: the same VMM on every machine.
        ::execlp(kQemu, kQemu, "-accel", "tcg", "-m", "128", "-display", "none", "-nodefaults", "-drive", drive.c_str(),
                 static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // SeaBIOS and the boot sector take a few hundred milliseconds under TCG.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
}

QemuGuest::~QemuGuest() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
}

}  // namespace dtrack_test
