#include "dtrack/target_process.hpp"

#include <linux/kvm.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace dtrack {

namespace fs = std::filesystem;

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

bool in_initial_pid_namespace() {
    // The initial PID namespace has a fixed inode number (PROC_PID_INIT_INO).
    constexpr ino_t initial_pid_namespace_inode = 0xEFFFFFFCU;
    struct stat st {};
    return ::stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == initial_pid_namespace_inode;
}

namespace {

// Tgid, NSpid and Threads from /proc/PID/status.
struct StatusIds {
    pid_t tgid = 0;
    std::vector<pid_t> nspid;
    int threads = 0;
};

StatusIds read_status_ids(const fs::path& proc) {
    StatusIds ids;
    std::ifstream status(proc / "status");
    for (std::string line; std::getline(status, line);) {
        std::istringstream in(line);
        std::string key;
        in >> key;
        if (key == "Tgid:") in >> ids.tgid;
        if (key == "Threads:") in >> ids.threads;
        if (key == "NSpid:")
            for (pid_t p; in >> p;) ids.nspid.push_back(p);
    }
    return ids;
}

// From /proc/PID/stat: the state letter, the parent, and whether the kernel
// runs it (PF_KTHREAD in the flags). The fields after the last ')' (the
// command name may hold any byte) are: state ppid pgrp session tty_nr tpgid flags.
struct StatFields {
    char state = '?';
    pid_t ppid = 0;
    bool kernel_thread = false;
};

StatFields read_stat(const fs::path& proc) {
    std::ifstream file(proc / "stat");
    const std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    StatFields f;
    const size_t name_end = stat.rfind(')');
    if (name_end == std::string::npos) return f;
    std::istringstream in(stat.substr(name_end + 1));
    long long pgrp = 0, session = 0, tty = 0, tpgid = 0;
    unsigned long long flags = 0;
    if (in >> f.state >> f.ppid >> pgrp >> session >> tty >> tpgid >> flags) {
        constexpr unsigned long long pf_kthread = 0x00200000;  // include/linux/sched.h
        f.kernel_thread = flags & pf_kthread;
    }
    return f;
}

// A kernel thread or a zombie has no user memory: say which, rather than
// find no pages to track. A process whose main thread exited is a zombie
// with threads: /proc/PID shows none of the memory they still use.
Status check_has_user_memory(pid_t pid, const fs::path& proc, int threads) {
    const StatFields stat = read_stat(proc);
    std::string comm;
    std::getline(std::ifstream(proc / "comm"), comm);
    const std::string who = "pid " + std::to_string(pid) + " (" + comm + ")";
    if (stat.kernel_thread)
        return Error{EINVAL, who + " is a kernel thread: it has no user memory to dirty",
                     "give the pid of a user process (a VMM: pidof qemu-system-x86_64)"};
    if ((stat.state == 'Z' || stat.state == 'X') && threads > 1)
        return Error{ESRCH,
                     who + "'s main thread has exited (a zombie) while " + std::to_string(threads - 1) +
                         " other threads run on: /proc/" + std::to_string(pid) + " shows none of their memory",
                     "dtrack measures a process through its main thread, so this one cannot be measured"};
    if (stat.state == 'Z' || stat.state == 'X')
        return Error{ESRCH,
                     who + " is a zombie: it has exited and its parent (pid " + std::to_string(stat.ppid) +
                         ") has not reaped it, so it has no memory left",
                     "give a running process; the zombie goes once its parent waits for it"};
    return Ok{};
}

}  // namespace

Result<TargetProcess> inspect_process(pid_t pid) {
    if (pid <= 0) return Error{EINVAL, "pid " + std::to_string(pid) + " is not a process id", "give a PID > 0"};
    const fs::path proc = "/proc/" + std::to_string(pid);
    if (!process_alive(pid) || !fs::exists(proc))
        return Error{ESRCH, "no process " + std::to_string(pid), "check the PID (pidof, ps)"};
    // /proc/TID exists for every thread too, and kill(TID, 0) works on it;
    // only the status file tells a thread from its process.
    const StatusIds ids = read_status_ids(proc);
    if (ids.tgid > 0 && ids.tgid != pid) {
        std::string comm;
        std::ifstream("/proc/" + std::to_string(ids.tgid) + "/comm") >> comm;
        return Error{EINVAL,
                     "pid " + std::to_string(pid) + " is a thread of process " + std::to_string(ids.tgid) + " (" +
                         comm + "), not a process: dirty pages belong to the process's memory",
                     "give the process id " + std::to_string(ids.tgid) + " instead"};
    }
    if (Status s = check_has_user_memory(pid, proc, ids.threads); !s) return s.error();
    TargetProcess t;
    t.pid = pid;
    t.namespace_pids = ids.nspid;
    std::ifstream(proc / "comm") >> t.comm;

    // Open fds: the VM and its vCPUs are anonymous inodes.
    std::error_code ec;
    fs::directory_iterator fds(proc / "fd", ec);
    if (ec)
        return Error{ec.value(), "cannot read the open files of process " + std::to_string(pid) + ": " + ec.message(),
                     "run as root or as the process's owner; with capabilities alone (a systemd unit, a container), "
                     "give CAP_DAC_READ_SEARCH beside CAP_SYS_PTRACE (/proc/PID/fd is mode 0500)"};
    for (const auto& fd : fds) {
        const std::string target = fs::read_symlink(fd.path(), ec).string();
        if (ec) continue;
        if (target == "anon_inode:kvm-vm") t.has_kvm_vm = true;
        if (target.rfind("anon_inode:kvm-vcpu", 0) == 0) ++t.vcpus;
    }

    // A vCPU's dirty ring is its fd mapped at page KVM_DIRTY_LOG_PAGE_OFFSET.
    std::ifstream maps(proc / "maps");
    const uint64_t ring_offset = uint64_t(KVM_DIRTY_LOG_PAGE_OFFSET) * uint64_t(::sysconf(_SC_PAGESIZE));
    for (std::string line; std::getline(maps, line);) {
        if (line.find("anon_inode:kvm-vcpu") == std::string::npos) continue;
        std::istringstream in(line);
        std::string range, perms, offset;
        in >> range >> perms >> offset;
        if (std::stoull(offset, nullptr, 16) == ring_offset) {
            t.has_dirty_ring = true;
            ++t.vcpus_with_ring;
        }
    }
    return t;
}

std::vector<ProcessThread> list_threads(pid_t pid) {
    std::vector<ProcessThread> threads;
    std::error_code ec;
    for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        ProcessThread t;
        try {
            t.tid = static_cast<pid_t>(std::stol(task.path().filename().string()));
        } catch (...) {
            continue;
        }
        std::ifstream comm(task.path() / "comm");
        if (!std::getline(comm, t.comm)) continue;  // it ended while we looked
        threads.push_back(std::move(t));
    }
    std::sort(threads.begin(), threads.end(), [](const auto& a, const auto& b) { return a.tid < b.tid; });
    return threads;
}

}  // namespace dtrack
