#include "support/qemu_guest.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

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

QemuGuest::QemuGuest() : QemuGuest(std::vector<std::string>{}) {}

QemuGuest::QemuGuest(const std::vector<std::string>& extra_args, const std::string& program) {
    const std::string drive = "format=raw,if=floppy,file=" + guest_image();
    const std::string run = program.empty() ? kQemu : program;
    // TCG even where /dev/kvm works: the same VMM on every machine.
    std::vector<std::string> args{run,        "-accel", "tcg",         "-m",     "128",
                                  "-display", "none",   "-nodefaults", "-drive", drive};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
        ::execvp(run.c_str(), argv.data());
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
