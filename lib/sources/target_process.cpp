#include "dtrack/target_process.hpp"

#include <linux/kvm.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace dtrack {

namespace fs = std::filesystem;

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

Result<TargetProcess> inspect_process(pid_t pid) {
    if (pid <= 0) return Error{EINVAL, "pid " + std::to_string(pid) + " is not a process id", "give a PID > 0"};
    const fs::path proc = "/proc/" + std::to_string(pid);
    if (!process_alive(pid) || !fs::exists(proc))
        return Error{ESRCH, "no process " + std::to_string(pid), "check the PID (pidof, ps)"};
    TargetProcess t;
    t.pid = pid;
    std::ifstream(proc / "comm") >> t.comm;

    // Open fds: the VM and its vCPUs are anonymous inodes.
    std::error_code ec;
    fs::directory_iterator fds(proc / "fd", ec);
    if (ec)
        return Error{ec.value(), "cannot read the open files of process " + std::to_string(pid) + ": " + ec.message(),
                     "run as root or as the process's owner"};
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

}  // namespace dtrack
