#include "pid_file_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>

namespace dtrack::cli::sidecar {

Result<PidFileDir> PidFileDir::watch(const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0)
        return errno_error("--pid-file-dir " + dir, errno,
                           "give the directory the VMM writes its pid files to (libvirt: /run/libvirt/qemu)");
    if (!S_ISDIR(st.st_mode))
        return Error{ENOTDIR, "--pid-file-dir " + dir + " is not a directory",
                     "give the directory that holds the NAME.pid files, not a file"};
    if ((st.st_mode & S_IWOTH) != 0)
        return Error{EPERM,
                     "--pid-file-dir " + dir + " is writable by every user: anybody could point the sidecar at any "
                                               "process",
                     "use a directory only the VMM's user can write (chmod o-w " + dir + ")"};
    UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!fd.valid()) return errno_error("inotify_init1", errno, "raise fs.inotify.max_user_instances");
    const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF;
    if (::inotify_add_watch(fd.get(), dir.c_str(), mask) < 0)
        return errno_error("inotify_add_watch on " + dir, errno,
                           "check that the sidecar may read the directory (and fs.inotify.max_user_watches)");
    return PidFileDir(dir, std::move(fd));
}

std::string PidFileDir::target_of(const std::string& file_name) {
    constexpr std::string_view ext = ".pid";
    if (file_name.size() <= ext.size() || file_name.compare(file_name.size() - ext.size(), ext.size(), ext) != 0)
        return {};
    return file_name.substr(0, file_name.size() - ext.size());
}

std::vector<PidFileChange> PidFileDir::current() const {
    std::vector<PidFileChange> out;
    DIR* d = ::opendir(dir_.c_str());
    if (!d) return out;
    while (const dirent* e = ::readdir(d)) {
        const std::string target = target_of(e->d_name);
        if (!target.empty()) out.push_back({PidFileChange::Kind::written, target, dir_ + "/" + e->d_name});
    }
    ::closedir(d);
    return out;
}

std::vector<PidFileChange> PidFileDir::read_changes() {
    std::vector<PidFileChange> out;
    alignas(inotify_event) char buf[16384];
    for (;;) {
        const ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
        if (n <= 0) break;  // EAGAIN: nothing more for now
        for (ssize_t at = 0; at < n;) {
            const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
            at += ssize_t(sizeof(inotify_event) + e->len);
            if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
                out.push_back({PidFileChange::Kind::directory_gone, {}, dir_});
                continue;
            }
            const std::string name = e->len ? e->name : "";
            const std::string target = target_of(name);
            if (target.empty() || (e->mask & IN_ISDIR)) continue;
            const bool removed = e->mask & (IN_DELETE | IN_MOVED_FROM);
            out.push_back({removed ? PidFileChange::Kind::removed : PidFileChange::Kind::written, target,
                           dir_ + "/" + name});
        }
    }
    return out;
}

Result<pid_t> PidFileDir::read_pid(const std::string& path) {
    // Non-blocking and regular files only: a FIFO named NAME.pid would block
    // the sidecar's main loop in open() (no more signals, no more pid files).
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd.valid()) return errno_error("open " + path, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errno_error("fstat " + path, errno);
    if (!S_ISREG(st.st_mode))
        return Error{EINVAL, path + " is not a regular file (a FIFO, a socket or a device)",
                     "a pid file is a regular file holding a PID; remove this one"};
    char buf[64];
    const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    if (n < 0) return errno_error("read " + path, errno);
    std::string text(buf, size_t(n));
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.erase(0, 1);
    const bool digits = !text.empty() && text.size() <= 10 &&
                        text.find_first_not_of("0123456789") == std::string::npos;
    const long long pid = digits ? std::atoll(text.c_str()) : 0;
    if (pid <= 0 || pid > INT_MAX)
        return Error{EINVAL, path + " does not hold a PID ('" + text.substr(0, 20) + "')",
                     "write the process id alone, in decimal (as QEMU's -pidfile does)"};
    return pid_t(pid);
}

}  // namespace dtrack::cli::sidecar
