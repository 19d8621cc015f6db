#include "support/libvirt_daemon.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/qemu_guest.hpp"
#include "support/run_command.hpp"

namespace dtrack_test {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kLockFile = "/run/dtrack-libvirt-test.lock";
constexpr const char* kVirtlogdSocket = "/run/libvirt/virtlogd-sock";
// libvirtd answers within a second or two; the first start on a machine
// probes QEMU's capabilities first (5-20 s under load).
constexpr auto kAnswerDeadline = std::chrono::seconds(60);

bool virsh_answers() { return run("virsh -c qemu:///system version >/dev/null 2>&1").exit_code == 0; }

bool socket_answers(const char* path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

// `program` in the background, its output to `log`; it gets SIGTERM if this
// test process dies first, so a crashed test leaves no daemon behind.
pid_t spawn(const char* program, const std::string& log) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ::dup2(fd, STDOUT_FILENO);
            ::dup2(fd, STDERR_FILENO);
        }
        ::execlp(program, program, static_cast<char*>(nullptr));
        ::_exit(127);
    }
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    return pid;
}

void terminate(pid_t& pid) {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (::waitpid(pid, nullptr, WNOHANG) == 0) {
        if (Clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pid = -1;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

std::string virsh_command(const std::string& args) { return "virsh -c qemu:///system " + args + " 2>&1"; }

std::string LibvirtDaemon::unavailable_reason() {
    if (::geteuid() != 0) return "libvirt's system daemon (qemu:///system, /run/libvirt/qemu) needs root";
    for (const char* program : {"libvirtd", "virtlogd", "virsh"})
        if (run(std::string("command -v ") + program + " >/dev/null").exit_code != 0)
            return std::string(program) +
                   " is not installed (Debian's libvirt-daemon-system and libvirt-clients; `make deps` installs "
                   "them where the packages are available)";
    return QemuGuest::unavailable_reason();
}

LibvirtDaemon::LibvirtDaemon() {
    lock_ = ::open(kLockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_ < 0 || ::flock(lock_, LOCK_EX) != 0)
        throw std::runtime_error(std::string("lock ") + kLockFile + ": " + std::strerror(errno));
    try {
        if (!virsh_answers()) start_daemons();
        destroy_leftover_domains();
    } catch (...) {
        stop();  // the destructor does not run for a constructor that throws
        throw;
    }
}

LibvirtDaemon::~LibvirtDaemon() { stop(); }

std::string LibvirtDaemon::log() const {
    if (dir_.empty()) return "(libvirtd was running already)";
    return "libvirtd:\n" + read_file(dir_ + "/libvirtd.log") + "virtlogd:\n" + read_file(dir_ + "/virtlogd.log");
}

// libvirt checks at each domain start that its QEMU user (libvirt-qemu) may
// open /dev/kvm; where it may not while the capabilities libvirt cached say
// QEMU has KVM, it throws the cache away and probes QEMU again: about 50 s
// of every `virsh create` on this PVM host. Debian's udev rule gives
// /dev/kvm to group kvm, mode 0660 (libvirt-qemu is in kvm); a machine
// without udev keeps the kernel's root-only 0600. Debian's mode while the
// test runs; the old one back after.
void LibvirtDaemon::give_kvm_to_the_qemu_user() {
    struct stat st {};
    const group* kvm = ::getgrnam("kvm");
    // Only the KVM device itself (10:232): /dev/kvm may be /dev/null bound over it.
    if (!kvm || ::stat("/dev/kvm", &st) != 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(10, 232)) return;
    if (st.st_gid == kvm->gr_gid && (st.st_mode & 060) == 060) return;
    kvm_gid_ = st.st_gid;
    kvm_mode_ = st.st_mode & 07777;
    kvm_changed_ = ::chown("/dev/kvm", 0, kvm->gr_gid) == 0 && ::chmod("/dev/kvm", 0660) == 0;
}

void LibvirtDaemon::start_daemons() {
    char dir[] = "/tmp/dtrack-libvirtd-XXXXXX";
    if (!::mkdtemp(dir)) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    dir_ = dir;
    give_kvm_to_the_qemu_user();
    // libvirtd hands QEMU's output to virtlogd (qemu.conf's stdio_handler).
    if (!socket_answers(kVirtlogdSocket)) virtlogd_ = spawn("virtlogd", dir_ + "/virtlogd.log");
    libvirtd_ = spawn("libvirtd", dir_ + "/libvirtd.log");
    const auto deadline = Clock::now() + kAnswerDeadline;
    while (!virsh_answers()) {
        if (::waitpid(libvirtd_, nullptr, WNOHANG) == libvirtd_) {
            libvirtd_ = -1;
            throw std::runtime_error("libvirtd exited at start:\n" + log());
        }
        if (Clock::now() > deadline) throw std::runtime_error("libvirtd did not answer within 60 s:\n" + log());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

void LibvirtDaemon::destroy_leftover_domains() {
    std::istringstream names(run(virsh_command("list --name")).output);
    for (std::string name; std::getline(names, name);)
        if (name.starts_with(kDomainPrefix)) run(virsh_command("destroy " + name) + " >/dev/null");
}

void LibvirtDaemon::stop() {
    terminate(libvirtd_);
    terminate(virtlogd_);
    if (kvm_changed_) {
        (void)!::chown("/dev/kvm", 0, kvm_gid_);
        (void)!::chmod("/dev/kvm", kvm_mode_);
        kvm_changed_ = false;
    }
    if (!dir_.empty()) {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
        dir_.clear();
    }
    if (lock_ >= 0) ::close(lock_);
    lock_ = -1;
}

}  // namespace dtrack_test
