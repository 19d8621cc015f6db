#include "pid_file_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "pid_file_trust.hpp"

namespace dtrack::cli::sidecar {

namespace {

// Reads per read_changes() call: 16 x 16 KiB, some 16k events of short names.
constexpr int max_reads_per_batch = 16;

PidFileReading skipped(PidFileSkip skip, const Error& e) { return {std::nullopt, skip, e.message()}; }

// The PID in an opened pid file: decimal digits, surrounding whitespace allowed.
Result<pid_t> read_pid(int fd, const std::string& path) {
    char buf[64];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    if (n < 0) return errno_error("read " + path, errno);
    std::string text(buf, size_t(n));
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.erase(0, 1);
    const bool digits = !text.empty() && text.size() <= 10 && text.find_first_not_of("0123456789") == std::string::npos;
    const long long pid = digits ? std::atoll(text.c_str()) : 0;
    if (pid <= 0 || pid > INT_MAX)
        return Error{EINVAL, path + " does not hold a PID ('" + text.substr(0, 20) + "')",
                     "write the process id alone, in decimal (as QEMU's -pidfile does)"};
    return pid_t(pid);
}

// The user process `pid` runs as, when its real, effective and saved uids
// and its /proc entry's owner (root for a process that may not be dumped)
// all are that one user: what the kernel asks before letting a user trace it.
std::optional<uid_t> process_owner(pid_t pid) {
    const std::string proc = "/proc/" + std::to_string(pid);
    struct stat st {};
    if (::stat(proc.c_str(), &st) != 0) return std::nullopt;
    std::ifstream status(proc + "/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("Uid:", 0) != 0) continue;
        uid_t real, effective, saved;
        std::istringstream in(line.substr(4));
        if (in >> real >> effective >> saved && real == st.st_uid && effective == st.st_uid && saved == st.st_uid)
            return st.st_uid;
        return std::nullopt;
    }
    return std::nullopt;
}

// libvirt keeps its QEMU driver's lock, driver.pid naming libvirtd (or
// virtqemud) itself, beside the domains' pid files in /run/libvirt/qemu:
// a daemon, not a VM, so no target (measuring it would put a "driver"
// series beside every domain's).
bool is_libvirt_daemon(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    std::getline(in, comm);
    return comm == "libvirtd" || comm == "virtqemud";
}

}  // namespace

Result<PidFileDir> PidFileDir::watch(const std::string& dir) {
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK));
    if (!dir_fd.valid() && errno == ENOTDIR)
        return Error{ENOTDIR, "--pid-file-dir " + dir + " is not a directory",
                     "give the directory that holds the NAME.pid files, not a file"};
    if (!dir_fd.valid())
        return errno_error("--pid-file-dir " + dir, errno,
                           "give the directory the VMM writes its pid files to (libvirt: /run/libvirt/qemu)");
    struct stat st {};
    if (::fstat(dir_fd.get(), &st) != 0) return errno_error("fstat " + dir, errno);
    if (Status s = judge_pid_file_dir(dir, st.st_uid, st.st_mode, ::geteuid()); !s) return s.error();
    UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!fd.valid()) return errno_error("inotify_init1", errno, "raise fs.inotify.max_user_instances");
    // IN_ATTRIB: a chmod or chown changes whether a file (or, on the
    // directory itself, every file) is trusted.
    const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB | IN_DELETE_SELF |
                          IN_MOVE_SELF | IN_ONLYDIR;
    const std::string opened = "/proc/self/fd/" + std::to_string(dir_fd.get());  // the directory checked above
    if (::inotify_add_watch(fd.get(), opened.c_str(), mask) < 0)
        return errno_error("inotify_add_watch on " + dir, errno,
                           "check that the sidecar may read the directory (and fs.inotify.max_user_watches)");
    return PidFileDir(dir, std::move(dir_fd), std::move(fd));
}

std::string PidFileDir::target_of(const std::string& file_name) {
    constexpr std::string_view ext = ".pid";
    if (file_name.size() <= ext.size() || file_name.compare(file_name.size() - ext.size(), ext.size(), ext) != 0)
        return {};
    return file_name.substr(0, file_name.size() - ext.size());
}

std::vector<std::string> PidFileDir::targets() const {
    std::vector<std::string> out;
    // A description of its own: readdir from the start, whatever read before.
    DIR* d = ::fdopendir(::openat(dir_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d) return out;
    while (const dirent* e = ::readdir(d)) {
        std::string target = target_of(e->d_name);
        if (!target.empty()) out.push_back(std::move(target));
    }
    ::closedir(d);
    return out;
}

PidFileChanges PidFileDir::read_changes() {
    PidFileChanges out;
    alignas(inotify_event) char buf[16384];
    for (int reads = 0; reads < max_reads_per_batch; ++reads) {
        const ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
        if (n <= 0) break;  // EAGAIN: nothing more for now
        for (ssize_t at = 0; at < n;) {
            const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
            at += ssize_t(sizeof(inotify_event) + e->len);
            if (e->mask & IN_Q_OVERFLOW) out.overflowed = true;
            if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) out.directory_gone = true;
            if (e->len == 0) {  // the directory itself
                out.directory_changed |= (e->mask & IN_ATTRIB) != 0;
                continue;
            }
            std::string target = target_of(e->name);
            if (!target.empty() && !(e->mask & IN_ISDIR)) out.targets.insert(std::move(target));
        }
    }
    return out;
}

std::optional<PidFileReading> PidFileDir::read(const std::string& target) const {
    const std::string path = path_of(target);
    // Non-blocking and regular files only: a FIFO named NAME.pid would block
    // the sidecar's main loop in open() (no more signals, no more pid files).
    UniqueFd fd(::openat(dir_fd_.get(), (target + ".pid").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd.valid() && errno == ENOENT) return std::nullopt;
    if (!fd.valid()) return skipped(PidFileSkip::no_pid, errno_error("open " + path, errno));
    // Judged on the opened file: what is checked is what is read.
    struct stat file {
    }, dir{};
    if (::fstat(fd.get(), &file) != 0 || ::fstat(dir_fd_.get(), &dir) != 0)
        return skipped(PidFileSkip::no_pid, errno_error("fstat " + path, errno));
    if (!S_ISREG(file.st_mode))
        return skipped(PidFileSkip::no_pid,
                       Error{EINVAL, path + " is not a regular file (a FIFO, a socket or a device)",
                             "a pid file is a regular file holding a PID; remove this one"});
    auto pid = read_pid(fd.get(), path);
    if (!pid) return skipped(PidFileSkip::no_pid, pid.error());
    const PidFileFacts facts{.path = path,
                             .file_owner = file.st_uid,
                             .file_mode = file.st_mode,
                             .file_links = file.st_nlink,
                             .dir_owner = dir.st_uid,
                             .dir_mode = dir.st_mode,
                             .sidecar_user = ::geteuid(),
                             .pid = *pid,
                             .pid_owner = process_owner(*pid)};
    if (Status trusted = judge_pid_file(facts); !trusted) return skipped(PidFileSkip::untrusted, trusted.error());
    if (is_libvirt_daemon(*pid)) return std::nullopt;  // as if it were not there
    return PidFileReading{.pid = *pid};
}

}  // namespace dtrack::cli::sidecar
