#include "support/qemu_vm.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/free_loopback_port.hpp"
#include "support/run_command.hpp"

namespace dtrack_test {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* kQemu = "qemu-system-x86_64";
constexpr int kDebugconPort = 0xe9;  // the images' port (0x402 carries SeaBIOS's log)
// SeaBIOS under KVM's instruction emulator takes 4-12 s to reach the boot
// sector on the PVM hosts (more while the machine is busy).
constexpr auto kStartDeadline = std::chrono::seconds(60);
constexpr auto kPollEvery = std::chrono::milliseconds(20);

std::string image_path(QemuImage image) {
    return binary(image == QemuImage::native ? "tests/qemu/native_guest.img" : "tests/qemu/dirtying_guest.img");
}

uint64_t file_size(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

std::string QemuVm::kvm_unavailable_reason() {
    const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) return "/dev/kvm does not open (" + std::string(std::strerror(errno)) + ")";
    const int version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
    ::close(fd);
    if (version != 12) return "/dev/kvm answers KVM_GET_API_VERSION with " + std::to_string(version) + ", not 12";
    return "";
}

std::string QemuVm::qemu_unavailable_reason() {
    if (run(std::string("command -v ") + kQemu + " >/dev/null").exit_code != 0)
        return std::string(kQemu) +
               " is not installed (Debian's qemu-system-x86; `make deps` installs it "
               "where the package is available)";
    for (QemuImage image : {QemuImage::native, QemuImage::emulated})
        if (::access(image_path(image).c_str(), R_OK) != 0)
            return "no guest image at " + image_path(image) + " (run make)";
    return "";
}

QemuVm::QemuVm(const QemuVmOptions& options) : options_(options) {
    char dir[] = "/tmp/dtrack-qemu-XXXXXX";
    if (!::mkdtemp(dir)) throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
    dir_ = dir;
    try {
        start();
        const auto deadline = Clock::now() + kStartDeadline;
        connect_qmp(deadline);
        if (!options_.incoming) wait_for_guest(deadline);
    } catch (...) {
        stop();  // the destructor does not run for a constructor that throws
        throw;
    }
}

QemuVm::~QemuVm() { stop(); }

void QemuVm::stop() {
    if (qmp_ >= 0) ::close(qmp_);
    qmp_ = -1;
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
    if (!dir_.empty()) {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    dir_.clear();
}

void QemuVm::start() {
    // Each VM boots its own copy: a source and its destination never share
    // an image (QEMU locks the files it opens).
    const std::string image = dir_ + "/guest.img";
    std::filesystem::copy_file(image_path(options_.image), image);

    std::string accel = options_.accel == QemuAccel::kvm ? "kvm" : "tcg";
    if (options_.accel == QemuAccel::kvm && options_.dirty_ring_size > 0)
        accel += ",dirty-ring-size=" + std::to_string(options_.dirty_ring_size);
    std::vector<std::string> args = {
        kQemu,
        "-accel",
        accel,
        "-m",
        std::to_string(options_.ram_mib),
        "-smp",
        "1",
        "-display",
        "none",
        "-nodefaults",
        "-no-user-config",
        // IDE, not a floppy: SeaBIOS's floppy read times out under KVM's emulator.
        "-drive",
        "format=raw,if=ide,file=" + image,
        "-chardev",
        "file,id=debugcon,path=" + dir_ + "/debugcon",
        "-device",
        "isa-debugcon,iobase=" + std::to_string(kDebugconPort) + ",chardev=debugcon",
        "-qmp",
        "unix:" + dir_ + "/qmp.sock,server=on,wait=off",
    };
    if (options_.incoming) {
        incoming_port_ = free_loopback_port();
        args.push_back("-incoming");
        args.push_back("tcp:127.0.0.1:" + std::to_string(incoming_port_));
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log_path = dir_ + "/qemu.log";

    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test leaves no QEMU behind
        const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (log >= 0) {
            ::dup2(log, STDOUT_FILENO);
            ::dup2(log, STDERR_FILENO);
        }
        ::execvp(kQemu, argv.data());
        ::_exit(127);
    }
}

std::string QemuVm::log() const {
    std::ifstream in(dir_ + "/qemu.log");
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
}

void QemuVm::throw_if_exited(const std::string& while_doing) {
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("QEMU exited (status " + std::to_string(status) + ") " + while_doing + ": " + log());
    }
}

void QemuVm::connect_qmp(Clock::time_point deadline) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = dir_ + "/qmp.sock";
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    for (;;) {
        throw_if_exited("before its QMP socket opened");
        qmp_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::connect(qmp_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
        ::close(qmp_);
        qmp_ = -1;
        if (Clock::now() > deadline) throw std::runtime_error("QEMU's QMP socket did not open in time: " + log());
        std::this_thread::sleep_for(kPollEvery);
    }
    const json greeting = read_message(deadline);
    if (!greeting.contains("QMP")) throw std::runtime_error("QMP greeting expected, got " + greeting.dump());
    call("qmp_capabilities");
}

void QemuVm::wait_for_guest(Clock::time_point deadline) {
    const std::string debugcon = dir_ + "/debugcon";
    while (file_size(debugcon) == 0) {
        throw_if_exited("before its guest reached its loop");
        if (Clock::now() > deadline)
            throw std::runtime_error("the guest wrote nothing to debugcon in time (run state " + run_state() +
                                     "): " + log());
        std::this_thread::sleep_for(kPollEvery);
    }
}

uint64_t QemuVm::marks() const {
    const uint64_t bytes = file_size(dir_ + "/debugcon");
    return bytes > 0 ? bytes - 1 : 0;  // the first byte is the 'L' of the loop's start
}

void QemuVm::send(const json& message) {
    const std::string line = message.dump() + "\n";
    for (std::size_t done = 0; done < line.size();) {
        const ssize_t n = ::send(qmp_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error("QMP send: " + std::string(std::strerror(errno)));
        done += static_cast<std::size_t>(n);
    }
}

json QemuVm::read_message(Clock::time_point deadline) {
    for (;;) {
        const std::size_t eol = pending_.find('\n');
        if (eol != std::string::npos) {
            const std::string line = pending_.substr(0, eol);
            pending_.erase(0, eol + 1);
            if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
            return json::parse(line);
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) throw std::runtime_error("QMP: no answer in time: " + log());
        pollfd p{qmp_, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue;  // the deadline check above ends it
        char buf[4096];
        const ssize_t n = ::recv(qmp_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error("QMP: QEMU closed the socket: " + log());
        pending_.append(buf, static_cast<std::size_t>(n));
    }
}

json QemuVm::execute(const std::string& command, const json& arguments, std::chrono::milliseconds deadline) {
    json message = {{"execute", command}};
    if (!arguments.empty()) message["arguments"] = arguments;
    send(message);
    const auto until = Clock::now() + deadline;
    for (;;) {
        json reply = read_message(until);
        if (reply.contains("return") || reply.contains("error")) return reply;
        // anything else is an asynchronous event ({"event": ...}): skipped
    }
}

json QemuVm::call(const std::string& command, const json& arguments) {
    const json reply = execute(command, arguments);
    if (reply.contains("error")) throw std::runtime_error("QMP " + command + ": " + reply["error"].dump());
    return reply["return"];
}

std::string QemuVm::run_state() { return call("query-status").value("status", ""); }

void QemuVm::migrate_to(const QemuVm& destination, uint64_t max_bandwidth_bytes_per_s) {
    if (destination.incoming_port() == 0) throw std::runtime_error("migrate_to: the destination has no -incoming");
    call("migrate-set-parameters", {{"max-bandwidth", max_bandwidth_bytes_per_s}});
    call("migrate", {{"uri", "tcp:127.0.0.1:" + std::to_string(destination.incoming_port())}});
}

MigrationInfo QemuVm::query_migrate() {
    MigrationInfo info;
    info.reply = call("query-migrate");
    info.status = info.reply.value("status", "");
    if (info.reply.contains("ram")) {
        const json& ram = info.reply["ram"];
        info.dirty_pages_rate = ram.value("dirty-pages-rate", uint64_t{0});
        info.dirty_sync_count = ram.value("dirty-sync-count", uint64_t{0});
        info.transferred = ram.value("transferred", uint64_t{0});
    }
    return info;
}

void QemuVm::migrate_cancel() { call("migrate_cancel"); }

void QemuVm::calc_dirty_rate(int seconds, const std::string& mode) {
    call("calc-dirty-rate", {{"calc-time", seconds}, {"mode", mode}});
}

json QemuVm::query_dirty_rate() { return call("query-dirty-rate"); }

}  // namespace dtrack_test
