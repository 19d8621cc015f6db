// What a process is, seen from outside: does it run a KVM VM, with the dirty
// ring? Which threads does it have? Read from /proc (fds, mappings, tasks),
// without touching the process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dtrack/error.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

struct TargetProcess {
    pid_t pid = 0;
    std::string comm;  // its command name
    // Its PID in each PID namespace from ours down to its own (NSpid in
    // /proc/PID/status): one entry when it lives in ours, more when it runs
    // in a container below it (the last one is what it calls itself).
    std::vector<pid_t> namespace_pids;
    bool has_kvm_vm = false;      // an open anon_inode:kvm-vm
    uint32_t vcpus = 0;           // open anon_inode:kvm-vcpu fds
    bool has_dirty_ring = false;  // a vCPU's dirty ring is mapped (kvm-vcpu mapping at page 64)
    uint32_t vcpus_with_ring = 0;
};

// Fails with a clear Error when the process does not exist or cannot be
// inspected (no permission), when `pid` is a thread id rather than a
// process id (a vCPU thread from `top -H`): the error names the process, and
// when it has no user memory: a kernel thread, or a zombie (exited, not yet
// reaped by its parent).
Result<TargetProcess> inspect_process(pid_t pid);

// One thread of a process: its thread id and its name (QEMU names its vCPU
// threads "CPU 0/KVM"; a thread may rename itself at any time).
struct ProcessThread {
    pid_t tid = 0;
    std::string comm;
};

// The threads of process `pid` now (/proc/PID/task), by thread id; empty
// when the process is gone or may not be inspected.
std::vector<ProcessThread> list_threads(pid_t pid);

// True when this process runs in the kernel's initial PID namespace, where
// kernel tracepoints and BPF's bpf_get_current_pid_tgid() number processes.
bool in_initial_pid_namespace();

// True while the process exists.
bool process_alive(pid_t pid);

}  // namespace dtrack

DTRACK_PUBLIC_END
