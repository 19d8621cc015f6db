#include "dtrack/process_memory.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dtrack/unique_fd.hpp"

namespace dtrack {

namespace {

std::string proc_path(pid_t pid, const char* file) { return "/proc/" + std::to_string(pid) + "/" + file; }

// "7f12a000-7f12c000 rw-p 00000000 00:00 0    [heap]" -> Mapping
bool parse_maps_line(const std::string& line, Mapping& m) {
    std::istringstream in(line);
    std::string range, perms, offset, dev;
    if (!(in >> range >> perms >> offset >> dev >> m.inode)) return false;
    const size_t dash = range.find('-');
    if (dash == std::string::npos || perms.size() < 4) return false;
    m.start = std::stoull(range.substr(0, dash), nullptr, 16);
    m.end = std::stoull(range.substr(dash + 1), nullptr, 16);
    m.readable = perms[0] == 'r';
    m.writable = perms[1] == 'w';
    m.executable = perms[2] == 'x';
    m.shared = perms[3] == 's';
    m.offset = std::stoull(offset, nullptr, 16);
    std::getline(in >> std::ws, m.path);  // the rest of the line: a path may hold spaces
    return true;
}

// The yama LSM's ptrace_scope, or -1 when yama is not built in.
int yama_ptrace_scope() {
    std::ifstream f("/proc/sys/kernel/yama/ptrace_scope");
    int scope = -1;
    return (f >> scope) ? scope : -1;
}

// The target's real and effective uid from /proc/PID/status, or false.
bool target_uids(pid_t pid, uid_t& real, uid_t& effective) {
    std::ifstream f(proc_path(pid, "status"));
    for (std::string line; std::getline(f, line);) {
        if (line.rfind("Uid:", 0) != 0) continue;
        std::istringstream in(line.substr(4));
        return bool(in >> real >> effective);
    }
    return false;
}

// The whole of /proc/PID/`file`; errors say no process or which rule refused.
Result<std::string> read_proc_file(pid_t pid, const char* file) {
    if (pid <= 0) return Error{EINVAL, "pid " + std::to_string(pid) + " is not a process id", "give a PID > 0"};
    const std::string path = proc_path(pid, file);
    // open(2) rather than a stream: its errno tells "no process" from "no permission".
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        const int err = errno;
        if (err == EACCES || err == EPERM) return no_access_error(pid, "open " + path, err);
        if (err == ENOENT || err == ESRCH) return no_process_error(pid);
        return errno_error("open " + path, err);
    }
    std::string text;
    char buf[16384];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ESRCH) return no_process_error(pid);
            return errno_error("read " + path, errno);
        }
        text.append(buf, size_t(n));
    }
    return text;
}

}  // namespace

Result<std::vector<Mapping>> read_process_maps(pid_t pid) {
    auto text = read_proc_file(pid, "maps");
    if (!text) return text.error();
    std::vector<Mapping> out;
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
        Mapping m;
        if (parse_maps_line(line, m)) out.push_back(std::move(m));
    }
    return out;
}

Result<std::vector<AddressRange>> write_protected_ranges(pid_t pid) {
    auto text = read_proc_file(pid, "smaps");
    if (!text) return text.error();
    std::vector<AddressRange> out;
    std::istringstream lines(*text);
    Mapping vma;  // the mapping whose fields follow: its first line is as in maps
    for (std::string line; std::getline(lines, line);) {
        if (Mapping next; parse_maps_line(line, next)) {
            vma = next;
        } else if (line.rfind("VmFlags:", 0) == 0) {
            std::istringstream flags(line.substr(8));
            for (std::string flag; flags >> flag;)
                if (flag == "uw") out.push_back({vma.start, vma.end});
        }
    }
    return out;
}

uint64_t first_unmapped(const std::vector<Mapping>& maps, uint64_t start, uint64_t end) {
    uint64_t at = start;
    for (const Mapping& m : maps) {  // in address order
        if (at >= end) break;
        if (m.end <= at) continue;
        if (m.start > at) return at;  // a gap before this mapping
        at = m.end;
    }
    return at < end ? at : end;
}

Error no_process_error(pid_t pid) {
    return Error{ESRCH, "no process " + std::to_string(pid), "check the PID (pidof, ps)"};
}

Error process_exited_error(pid_t pid) {
    return Error{ESRCH, "process " + std::to_string(pid) + " exited", "nothing to track any more; end the run"};
}

Error process_replaced_error(pid_t pid) {
    return Error{ESTALE,
                 "process " + std::to_string(pid) +
                     " ran a new program (execve) after dtrack opened it: "
                     "the memory being tracked belonged to its old program",
                 "start dtrack after the program has started"};
}

Error no_access_error(pid_t pid, const std::string& call, int err) {
    const std::string target = "process " + std::to_string(pid);
    Error e{err, "no permission to read the memory of " + target + " (" + errno_error(call, err).what + ")", {}};
    const uid_t me = ::geteuid();
    uid_t real = 0, effective = 0;
    const bool known = target_uids(pid, real, effective);
    const int scope = yama_ptrace_scope();
    if (me == 0) {
        e.what += ": refused even to root";
        e.fix =
            "a security module (SELinux, AppArmor), a container or a user namespace forbids it; run dtrack "
            "where the process runs, with CAP_SYS_PTRACE there";
    } else if (known && (real != me || effective != me)) {
        e.what += ": it runs as uid " + std::to_string(effective) + ", you are uid " + std::to_string(me);
        e.fix = "run as root (CAP_SYS_PTRACE) or as the process's user";
    } else if (scope >= 1) {
        e.what += ": kernel.yama.ptrace_scope=" + std::to_string(scope) +
                  (scope == 1   ? " lets a process read only its descendants"
                   : scope == 2 ? " lets only CAP_SYS_PTRACE read other processes"
                                : " forbids it to everyone");
        e.fix = scope == 3 ? "ptrace_scope 3 cannot be lowered until reboot; use UffdSource inside the process"
                           : "run as root (CAP_SYS_PTRACE), or sysctl kernel.yama.ptrace_scope=0";
    } else {
        e.what +=
            ": same user, but the process is not dumpable (setuid, file capabilities, or "
            "prctl(PR_SET_DUMPABLE, 0))";
        e.fix = "run as root (CAP_SYS_PTRACE)";
    }
    return e;
}

}  // namespace dtrack
